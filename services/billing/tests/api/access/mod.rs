//! The role × operation table of `docs/access.md`, checked against the
//! real services: the table must name every RPC of every service, and each
//! billing and planning row, and orders' saved-card rows (whose customer
//! is A, as here), is called with each of its seven callers, the outcome
//! compared with the cell. Then a staff member removed from a
//! residence loses access in billing and planning as soon as the event
//! arrives.
//!
//! Here: the table as parsed from docs/access.md and the tests; the
//! records each caller is tried on are built in `fixture.rs`, each RPC is
//! called in `probe.rs`, with the requests of `requests.rs`.

use std::{collections::BTreeSet, fmt, time::Duration};

use prost::Message;
use relais_platform::testing::{self};
use relais_proto::orders::RemoveResidenceStaffRequest;
use tonic::{Code, Status};

mod fixture;
mod probe;
mod requests;

use fixture::Fixture;

const TABLE: &str = include_str!("../../../../../docs/access.md");

/// The callers, in the table's column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Customer,
    OtherCustomer,
    StaffR1,
    StaffR2,
    Admin,
    Connector,
    Service,
}

const CALLERS: [Who; 7] = [
    Who::Customer,
    Who::OtherCustomer,
    Who::StaffR1,
    Who::StaffR2,
    Who::Admin,
    Who::Connector,
    Who::Service,
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Filtered,
    NotFound,
    Denied,
    Public,
    Other(String),
}

impl Outcome {
    fn parse(cell: &str) -> Self {
        match cell {
            "allowed" => Self::Allowed,
            "filtered" => Self::Filtered,
            "not found" => Self::NotFound,
            "denied" => Self::Denied,
            "public" => Self::Public,
            other => panic!("docs/access.md: unknown cell {other:?}"),
        }
    }

    /// An error: the access errors, or the domain's refusal of a write
    /// probed on a record in a state it refuses (past access).
    fn of(status: &Status) -> Self {
        match status.code() {
            Code::NotFound => Self::NotFound,
            Code::PermissionDenied => Self::Denied,
            Code::FailedPrecondition => Self::Allowed,
            c => Self::Other(format!("{c:?}: {}", status.message())),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Allowed => f.write_str("allowed"),
            Self::Filtered => f.write_str("filtered"),
            Self::NotFound => f.write_str("not found"),
            Self::Denied => f.write_str("denied"),
            Self::Public => f.write_str("public"),
            Self::Other(s) => write!(f, "{s}"),
        }
    }
}

struct Row {
    service: String,
    rpc: String,
    cells: Vec<Outcome>,
}

/// The table's rows (every line starting with `|` after the header).
fn rows() -> Vec<Row> {
    let mut lines = TABLE.lines().filter(|l| l.starts_with('|')).map(|l| {
        l.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect::<Vec<_>>()
    });
    let header = lines.next().expect("docs/access.md has a table");
    assert_eq!(
        header,
        [
            "service",
            "rpc",
            "customer",
            "other customer",
            "staff R1",
            "staff R2",
            "admin",
            "connector",
            "service"
        ],
        "docs/access.md: the table's columns"
    );
    lines
        .filter(|cells| !cells[0].starts_with("---"))
        .map(|cells| {
            assert_eq!(cells.len(), 9, "docs/access.md: row {cells:?}");
            Row {
                service: cells[0].clone(),
                rpc: cells[1].clone(),
                cells: cells[2..].iter().map(|c| Outcome::parse(c)).collect(),
            }
        })
        .collect()
}

/// (service, rpc) of every RPC the services serve.
fn served() -> BTreeSet<(String, String)> {
    let set = prost_types::FileDescriptorSet::decode(relais_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut out = BTreeSet::new();
    for file in set.file {
        let package = file.package().to_owned();
        for service in &file.service {
            let name = package
                .strip_prefix("relais.")
                .and_then(|p| p.strip_suffix(".v1"))
                .unwrap_or(&package)
                .to_owned();
            for m in &service.method {
                out.insert((name.clone(), m.name().to_owned()));
            }
        }
    }
    out
}

#[test]
fn the_table_names_every_rpc_once() {
    let rows = rows();
    let named: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.service.clone(), r.rpc.clone()))
        .collect();
    let unique: BTreeSet<_> = named.iter().cloned().collect();
    assert_eq!(unique.len(), named.len(), "a row twice in docs/access.md");
    let served = served();
    let missing: Vec<_> = served.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&served).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/access.md: missing rows {missing:?}, rows of no RPC {unknown:?}"
    );
}

#[tokio::test]
async fn access_table() {
    let f = Fixture::build().await;
    let started = std::time::Instant::now();
    let mut wrong = vec![];
    let mut calls = 0;
    for row in rows().into_iter().filter(|r| {
        r.service == "billing"
            || r.service == "planning"
            || (r.service == "orders" && r.rpc.ends_with("CustomerPaymentMethod"))
    }) {
        for (who, expected) in CALLERS.iter().zip(&row.cells) {
            calls += 1;
            let got = f.probe(&row.service, &row.rpc, *who, calls).await;
            if &got != expected {
                wrong.push(format!(
                    "{} {} as {who:?}: expected {expected}, got {got}",
                    row.service, row.rpc
                ));
            }
        }
    }
    eprintln!("{calls} calls in {:?}", started.elapsed());
    assert!(
        wrong.is_empty(),
        "{} of {calls} calls differ from docs/access.md:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Removed from R1, staff-r1 loses A's records in billing and planning
    // as soon as the event arrives, with the same token.
    let removed = std::time::Instant::now();
    f.stack
        .orders
        .clone()
        .remove_residence_staff(f.stack.admin(RemoveResidenceStaffRequest {
            residence_id: f.r1.clone(),
            staff_subject: "staff-r1".into(),
        }))
        .await
        .unwrap();
    let gone = testing::eventually(Duration::from_secs(10), || async {
        let invoice = f.probe("billing", "GetInvoice", Who::StaffR1, 0).await;
        let interventions = f
            .probe("planning", "ListInterventions", Who::StaffR1, 0)
            .await;
        (invoice == Outcome::NotFound && interventions == Outcome::Filtered).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "a removed member still sees the residence's records"
    );
    eprintln!(
        "revoked in billing and planning after {:?}",
        removed.elapsed()
    );
}
