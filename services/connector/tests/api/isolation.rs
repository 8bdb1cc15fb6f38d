//! One slow ERP holds up no other connection: each connection's writes go
//! on their own, so a write hanging on one ERP delays only that ERP's.

use std::time::{Duration, Instant};

use relais_connector::{adapter::ErpAdapter, reference_erp::ReferenceErpClient};
use relais_platform::testing;
use relais_proto::connector::{
    AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
    FamilySettings,
};
use serde_json::json;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::stack::{ERP_KEYS, Stack, spawn_with, text};

/// A second reference ERP, stopped when dropped.
struct OtherErp {
    base: String,
    _stop: DropGuard,
}

impl OtherErp {
    async fn start() -> Self {
        let erp = relais_reference_erp::App::build(relais_reference_erp::Config {
            database_url: testing::fresh_database().await.unwrap(),
            db_password: testing::db_password(relais_reference_erp::SERVICE),
            addr: "127.0.0.1:0".parse().unwrap(),
            keys: relais_reference_erp::parse_keys(ERP_KEYS).unwrap(),
            token_ttl: Duration::from_secs(600),
            faults: false,
        })
        .await
        .unwrap();
        let base = format!("http://{}", erp.addr());
        let stop = CancellationToken::new();
        tokio::spawn(erp.run(stop.clone()));
        Self {
            base,
            _stop: stop.drop_guard(),
        }
    }

    /// A connection of the stack's tenant that pushes customers here.
    async fn connect(&self, stack: &Stack) {
        stack
            .connector
            .clone()
            .create_connection(stack.admin(CreateConnectionRequest {
                idempotency_key: "connect-other".into(),
                fields: Some(ConnectionFields {
                    name: "other-erp".into(),
                    adapter: AdapterKind::ReferenceErp as i32,
                    endpoint: self.base.clone(),
                    secret_ref: String::new(),
                    secret: ERP_KEYS.into(),
                    families: vec![FamilySettings {
                        family: "customers".into(),
                        direction: Direction::Push as i32,
                        schedule: String::new(),
                    }],
                    order_statuses: vec![],
                    conflict_policy: ConflictPolicy::ErpWins as i32,
                    enabled: true,
                }),
            }))
            .await
            .unwrap();
    }

    /// Whether this ERP holds the shop customer `id`.
    async fn holds_customer(&self, id: &str) -> bool {
        let (public, private) = ERP_KEYS.split_once(':').unwrap();
        let erp =
            ReferenceErpClient::new(&self.base, public, private, Duration::from_secs(5)).unwrap();
        let mut page = 1;
        loop {
            let changes = erp
                .changed_since("customer", None, page, 500)
                .await
                .unwrap();
            if changes.records.iter().any(|r| text(r, "shop_id") == id) {
                return true;
            }
            match changes.next {
                Some(n) => page = n,
                None => return false,
            }
        }
    }
}

/// How long each call to the slow ERP takes.
const SLOW: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_slow_erp_does_not_delay_another_connections_writes() {
    let stack = spawn_with(|cfg| {
        // Writes to the slow ERP hang on it instead of failing fast.
        cfg.push.erp_timeout = SLOW * 2;
    })
    .await;
    let other = OtherErp::start().await;
    stack.connect(ConflictPolicy::ErpWins).await;
    other.connect(&stack).await;
    // Each of the slow ERP's writes (token, lookup by reference, creation)
    // now hangs for three times SLOW or more.
    stack
        .faults(json!({ "delay_ms": SLOW.as_millis() as u64 }))
        .await;
    for i in 0..40 {
        stack.customer(&format!("Waiting{i}")).await;
    }

    let started = Instant::now();
    let pressed = stack.customer("Pressed").await;
    // Sooner than a single call to the slow ERP: nothing waited for one.
    // (A worker that waits for the slow writes takes a minute or more.)
    let arrived = testing::eventually(SLOW / 2, || async {
        other.holds_customer(&pressed).await.then_some(())
    })
    .await;
    assert!(
        arrived.is_some(),
        "the other ERP did not get the customer within {:?} ({:?} after it was created): \
         the slow ERP's writes held it up",
        SLOW / 2,
        started.elapsed()
    );
}
