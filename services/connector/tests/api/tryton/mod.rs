//! The connector against a real Tryton 8.2 (trytond from PyPI, installed by
//! `scripts/tryton.sh up`, which `make test` runs): each test serves its
//! own copy of the prepared database on a loopback port. Parties ↔
//! customers, categories and products → the catalogue, paid product orders
//! → confirmed sales with their discounts, and their shipment back.
//!
//! Here, the harness: a trytond per test, Tryton's own calls, the
//! connection to it; the tests are in `both_ways.rs` (what flows each way)
//! and `outages.rs` (retries and Tryton down).

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use relais_connector::{
    adapter::{ErpAdapter, ErpRecord},
    tryton::TrytonClient,
};
use relais_platform::testing;
use relais_proto::connector::{
    AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
    FamilySettings, OrderStatusRule, SendAs,
};
use serde_json::{Value, json};

use crate::stack::Stack;

mod both_ways;
mod outages;

/// A trytond serving a fresh copy of the template database.
struct Tryton {
    bin: String,
    conf: PathBuf,
    child: Option<Child>,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Drop for Tryton {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Tryton {
    /// None (the test then says why and passes) when Tryton is not
    /// installed here: `scripts/tryton.sh up` installs it.
    async fn start() -> Option<Tryton> {
        let (Ok(bin), Ok(template)) = (
            std::env::var("RELAIS_TRYTOND"),
            std::env::var("RELAIS_TRYTON_TEMPLATE"),
        ) else {
            eprintln!(
                "SKIPPED: Tryton is not installed (RELAIS_TRYTOND / RELAIS_TRYTON_TEMPLATE unset); \
                 run scripts/tryton.sh up and source .local/tryton/env"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&template, dir.path().join("relais.sqlite")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf: PathBuf = dir.path().join("trytond.conf");
        std::fs::write(
            &conf,
            format!(
                "[database]\nuri = sqlite://\npath = {}\n[web]\nlisten = 127.0.0.1:{port}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut tryton = Tryton {
            bin,
            conf,
            child: None,
            endpoint: format!("http://127.0.0.1:{port}/relais"),
            dir,
        };
        tryton.serve().await;
        Some(tryton)
    }

    /// Starts trytond on the database, and waits until it answers.
    async fn serve(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("trytond.log"))
            .unwrap();
        self.child = Some(
            Command::new(&self.bin)
                .args(["-c", self.conf.to_str().unwrap(), "-d", "relais"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let client = self.client();
        let up = testing::eventually(Duration::from_secs(60), || async {
            client
                .call("res.user", "search_count", vec![json!([])])
                .await
                .ok()
        })
        .await;
        assert!(up.is_some(), "trytond did not answer within 60 s");
    }

    /// Tryton goes down: calls are refused until `serve` again.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn client(&self) -> TrytonClient {
        TrytonClient::new(&self.endpoint, "admin", "admin", Duration::from_secs(10)).unwrap()
    }
}

fn decimal(s: &str) -> Value {
    json!({"__class__": "Decimal", "decimal": s})
}

async fn one_id(erp: &TrytonClient, model: &str, domain: Value) -> i64 {
    let found = erp
        .call(model, "search", vec![domain.clone()])
        .await
        .unwrap();
    let ids = found.as_array().unwrap();
    assert_eq!(ids.len(), 1, "{model} {domain}: {ids:?}");
    ids[0].as_i64().unwrap()
}

async fn create(erp: &TrytonClient, model: &str, values: Value) -> i64 {
    erp.call(model, "create", vec![json!([values])])
        .await
        .unwrap()[0]
        .as_i64()
        .unwrap()
}

async fn read(erp: &TrytonClient, model: &str, id: i64, fields: &[&str]) -> Value {
    erp.call(model, "read", vec![json!([id]), json!(fields)])
        .await
        .unwrap()[0]
        .clone()
}

async fn connect(stack: &Stack, tryton: &Tryton) -> String {
    connect_with(stack, tryton, vec![("paid", SendAs::Order)]).await
}

async fn connect_with(stack: &Stack, tryton: &Tryton, rules: Vec<(&str, SendAs)>) -> String {
    let family = |f: &str, d: Direction| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    };
    stack
        .connector
        .clone()
        .create_connection(
            stack.admin(CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(ConnectionFields {
                    name: "tryton".into(),
                    adapter: AdapterKind::Tryton as i32,
                    endpoint: tryton.endpoint.clone(),
                    secret_ref: String::new(),
                    secret: "admin:admin".into(),
                    families: vec![
                        family("customers", Direction::Both),
                        family("catalogue", Direction::Pull),
                        family("orders", Direction::Both),
                    ],
                    order_statuses: rules
                        .into_iter()
                        .map(|(status, send_as)| OrderStatusRule {
                            status: status.into(),
                            send_as: send_as as i32,
                        })
                        .collect(),
                    conflict_policy: ConflictPolicy::ErpWins as i32,
                    enabled: true,
                }),
            }),
        )
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id
}

async fn sales(erp: &TrytonClient) -> Vec<ErpRecord> {
    erp.changed_since("order", None, 1, 100)
        .await
        .unwrap()
        .records
}
