//! What the flows share, written on the testkit: the stack and where
//! billing writes its mails, a connection to the reference ERP and its
//! runs, the ERP's records, and the shop's customers, services, workers,
//! products and orders as staff create them; mails and PDFs as their
//! reader sees them.
//!
//! Here: the stack, the ERP and the connection to it; what staff make in
//! the shop is in `shop.rs`, billing's invoices and mails in `billing.rs`.

use std::{ops::Deref, path::PathBuf, time::Duration};

use chrono::NaiveDate;
use relais_connector::{
    adapter::{ErpAdapter, ErpRecord},
    reference_erp::ReferenceErpClient,
};
use relais_platform::testing;
use relais_proto::{
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, Run, RunSyncRequest,
    },
    types::Money,
};
use relais_testkit::{ERP_KEYS, StackBuilder};
use serde_json::Value;

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

    /// The ERP as the connector reaches it.
    pub fn erp(&self) -> ReferenceErpClient {
        let (public, private) = ERP_KEYS.split_once(':').unwrap();
        ReferenceErpClient::new(&self.erp_base(), public, private, Duration::from_secs(5)).unwrap()
    }

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

    /// Every record of `object` in the ERP.
    pub async fn erp_records(&self, object: &str) -> Vec<ErpRecord> {
        let erp = self.erp();
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let changes = erp.changed_since(object, None, page, 500).await.unwrap();
            all.extend(changes.records);
            match changes.next {
                Some(n) => page = n,
                None => return all,
            }
        }
    }

    /// Waits until the ERP holds `n` records of `object` that `check` accepts.
    pub async fn erp_eventually(
        &self,
        object: &str,
        n: usize,
        check: impl Fn(&ErpRecord) -> bool,
    ) -> Vec<ErpRecord> {
        testing::eventually(Duration::from_secs(30), || async {
            let records = self.erp_records(object).await;
            let ok: Vec<ErpRecord> = records.into_iter().filter(&check).collect();
            (ok.len() == n).then_some(ok)
        })
        .await
        .unwrap_or_else(|| panic!("the ERP never held {n} such {object} records"))
    }
}

/// A text field of an ERP record ("" when absent).
pub fn text<'a>(r: &'a ErpRecord, field: &str) -> &'a str {
    r.fields
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A JSON object's fields, as the ERP adapter takes them.
pub fn fields(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
