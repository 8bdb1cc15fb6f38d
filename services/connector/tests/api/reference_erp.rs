//! The reference ERP's adapter against the real reference ERP over HTTP:
//! idempotent writes, renewed tokens, incremental reads, and each fault
//! classified so the flows know whether to retry.

use std::time::Duration;

use crate::stack::fields;
use relais_connector::{
    adapter::{ErpAdapter, ErpError},
    reference_erp::ReferenceErpClient,
};
use relais_platform::testing;
use relais_reference_erp::{App, Config, parse_keys};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Erp {
    base: String,
    shutdown: CancellationToken,
}

impl Drop for Erp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn spawn(token_ttl: Duration) -> Erp {
    testing::init_logging();
    let app = App::build(Config {
        database_url: testing::fresh_database().await.unwrap(),
        db_password: testing::db_password(relais_reference_erp::SERVICE),
        addr: "127.0.0.1:0".parse().unwrap(),
        keys: parse_keys("conn-pub:conn-secret").unwrap(),
        token_ttl,
        // These tests inject faults.
        faults: true,
    })
    .await
    .unwrap();
    let base = format!("http://{}", app.addr());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    Erp { base, shutdown }
}

impl Erp {
    fn client(&self) -> ReferenceErpClient {
        ReferenceErpClient::new(
            &self.base,
            "conn-pub",
            "conn-secret",
            Duration::from_secs(1),
        )
        .unwrap()
    }

    async fn faults(&self, faults: Value) {
        relais_platform::http::client(Duration::from_secs(5))
            .unwrap()
            .post(format!("{}/_faults", self.base))
            .json(&faults)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn records_are_written_once_read_back_and_listed_as_they_change() {
    let erp = spawn(Duration::from_secs(600)).await;
    let client = erp.client();
    let paul = fields(json!({ "first_name": "Paul", "last_name": "Durand", "read_only": true }));
    let created = client
        .upsert("customer", None, "relais:customer:1", &paul)
        .await
        .unwrap();
    assert_eq!(created.fields["last_name"], "Durand");
    // The same reference again (a retry): the same record, unchanged.
    let again = client
        .upsert("customer", None, "relais:customer:1", &paul)
        .await
        .unwrap();
    assert_eq!((again.id.as_str(), again.version), (created.id.as_str(), 1));

    let since = created.updated_at;
    let jeanne = fields(json!({ "first_name": "Jeanne", "last_name": "Martin" }));
    client
        .upsert("customer", None, "relais:customer:2", &jeanne)
        .await
        .unwrap();
    let updated = client
        .upsert(
            "customer",
            Some(&created.id),
            "",
            &fields(json!({ "phone": "06 12 34 56 78" })),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    let read = client.get("customer", &created.id).await.unwrap();
    assert_eq!(read.version, 2);
    assert_eq!(read.fields["first_name"], "Paul", "an update merges");
    assert_eq!(read.fields["phone"], "06 12 34 56 78");

    let changes = client
        .changed_since("customer", Some(since), 1, 1)
        .await
        .unwrap();
    assert_eq!(changes.total, 2);
    assert_eq!(changes.records[0].fields["first_name"], "Jeanne");
    assert_eq!(changes.next, Some(2));
    let rest = client
        .changed_since("customer", Some(since), 2, 1)
        .await
        .unwrap();
    assert_eq!(rest.records[0].id, created.id);
    assert_eq!(rest.next, None);

    client.remove("customer", &created.id).await.unwrap();
    let gone = client.get("customer", &created.id).await.unwrap_err();
    assert!(matches!(gone, ErpError::NotFound(_)), "{gone}");
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_bad_keys_are_refused() {
    let erp = spawn(Duration::from_secs(1)).await;
    let client = erp.client();
    client
        .upsert(
            "employee",
            None,
            "w-1",
            &fields(json!({ "last_name": "Diallo" })),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let page = client.changed_since("employee", None, 1, 10).await.unwrap();
    assert_eq!(page.records.len(), 1);

    let wrong =
        ReferenceErpClient::new(&erp.base, "conn-pub", "guess", Duration::from_secs(1)).unwrap();
    let err = wrong.get("employee", "E000001").await.unwrap_err();
    assert!(
        matches!(err, ErpError::Refused(_)) && !err.retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn faults_are_retryable_and_a_retry_after_a_lost_answer_writes_nothing_twice() {
    let erp = spawn(Duration::from_secs(600)).await;
    let client = erp.client();
    let awa = fields(json!({ "first_name": "Awa", "last_name": "Diallo" }));
    // Get a token while the ERP is up.
    client.changed_since("employee", None, 1, 10).await.unwrap();

    erp.faults(json!({ "down": true })).await;
    let err = client
        .upsert("employee", None, "w-7", &awa)
        .await
        .unwrap_err();
    assert!(err.retryable(), "{err}");

    erp.faults(json!({ "error_rate": 1.0 })).await;
    let err = client
        .upsert("employee", None, "w-7", &awa)
        .await
        .unwrap_err();
    assert!(err.retryable(), "{err}");

    // The ERP commits, the answer comes after the client's 1 s timeout.
    erp.faults(json!({ "lost_answer_rate": 1.0, "lost_answer_ms": 1500 }))
        .await;
    let err = client
        .upsert("employee", None, "w-7", &awa)
        .await
        .unwrap_err();
    assert!(err.retryable(), "{err}");
    erp.faults(json!({})).await;
    let retried = client.upsert("employee", None, "w-7", &awa).await.unwrap();
    assert_eq!(retried.version, 1);

    // Pages that deliver records twice still give each once.
    client
        .upsert(
            "employee",
            None,
            "w-8",
            &fields(json!({ "last_name": "Petit" })),
        )
        .await
        .unwrap();
    erp.faults(json!({ "duplicate_rate": 1.0 })).await;
    let page = client.changed_since("employee", None, 1, 10).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(page.total, 2);
}
