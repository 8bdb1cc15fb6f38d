//! What the flows share, written on the testkit: the stack and where
//! billing writes its mails, a connection to the reference ERP and its
//! runs, the ERP's records, and the shop's customers, services, workers,
//! products and orders as staff create them; mails and PDFs as their
//! reader sees them.
//!
//! Here: the stack, the ERP and the connection to it; what staff make in
//! the shop is in `shop.rs`, billing's invoices and mails in `billing.rs`.

use std::{ops::Deref, path::PathBuf};

use chrono::NaiveDate;
use relais_proto::{
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, Run, RunSyncRequest,
    },
    types::Money,
};
use relais_testkit::{ERP_KEYS, StackBuilder};

mod billing;
mod shop;

pub use billing::pdf_text_of;

/// A started stack (its parts as the flow's builder asked for them).
pub struct Relais {
    kit: relais_testkit::Stack,
    /// Where billing writes the mails it sends (stacks with billing).
    mail_dir: Option<PathBuf>,
}

impl Deref for Relais {
    type Target = relais_testkit::Stack;
    fn deref(&self) -> &relais_testkit::Stack {
        &self.kit
    }
}

/// Starts the parts `builder` asks for.
pub async fn spawn(builder: StackBuilder) -> Relais {
    Relais {
        kit: builder.spawn().await.unwrap(),
        mail_dir: None,
    }
}

/// Starts the parts `builder` asks for and billing, whose mails are read
/// back from its folder.
pub async fn spawn_with_billing(builder: StackBuilder) -> Relais {
    let (tx, rx) = std::sync::mpsc::channel();
    let kit = builder
        .with_billing(move |cfg| {
            let _ = tx.send(cfg.platform.mail.dir.clone());
        })
        .spawn()
        .await
        .unwrap();
    Relais {
        kit,
        mail_dir: Some(rx.recv().unwrap()),
    }
}

pub fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

/// Tomorrow, in Paris.
pub fn tomorrow() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::days(1))
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
}

pub fn family(name: &str, direction: Direction) -> FamilySettings {
    FamilySettings {
        family: name.into(),
        direction: direction as i32,
        schedule: String::new(),
    }
}

impl Relais {
    // The ERP.

    /// A connection named `name` to the stack's ERP with `families`.
    pub async fn connection(&self, name: &str, fields: ConnectionFields) -> String {
        let fields = ConnectionFields {
            name: name.into(),
            adapter: AdapterKind::ReferenceErp as i32,
            endpoint: self.erp_base(),
            secret: ERP_KEYS.into(),
            enabled: true,
            ..fields
        };
        self.connector()
            .create_connection(self.admin(CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(fields),
            }))
            .await
            .unwrap()
            .into_inner()
            .connection
            .unwrap()
            .id
    }

    /// The connection "test-erp": customers, workers and planning both
    /// ways, bookings pushed; the catalogue, invoices and certificates
    /// pulled.
    pub async fn connect(&self, policy: ConflictPolicy) -> String {
        self.connection(
            "test-erp",
            ConnectionFields {
                families: vec![
                    family("customers", Direction::Both),
                    family("workers", Direction::Both),
                    family("bookings", Direction::Push),
                    family("catalogue", Direction::Pull),
                    family("invoices", Direction::Pull),
                    family("certificates", Direction::Pull),
                    family("planning", Direction::Both),
                ],
                conflict_policy: policy as i32,
                ..Default::default()
            },
        )
        .await
    }

    /// Runs a family now, as staff do from the back office: the run, once
    /// the last progress message says it finished.
    pub async fn run(&self, connection: &str, family: &str) -> Run {
        let mut stream = self
            .connector()
            .run_sync(self.admin(RunSyncRequest {
                connection_id: connection.into(),
                family: family.into(),
                full: false,
            }))
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Some(m) = stream.message().await.unwrap() {
            last = Some(m);
        }
        let last = last.expect("progress messages");
        assert!(last.finished, "{last:?}");
        last.run.unwrap()
    }
}

pub use relais_testkit::erp::{fields, text};
