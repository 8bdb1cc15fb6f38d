//! A tenant's connection reaches only its own credentials and only the
//! addresses the deployment allows: another tenant's credentials or the
//! process's variables are never sent, whatever name it gives; stored
//! credentials are sealed and never read back; internal addresses are
//! refused.

use std::sync::{Arc, Mutex};

use relais_connector::{egress::EgressPolicy, secrets::Secrets};
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, assert_bad_field, with_token},
};
use relais_proto::connector::{
    AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
    FamilySettings, RunSyncRequest, UpdateConnectionRequest,
};
use sqlx::Connection;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::stack::{ERP_KEYS, spawn_with};

/// Tenant A's credentials kept by the deployment under the name ERP.
const A_KEYS: &str = "a-public:a-private-key";

/// A listener that keeps every byte sent to it (and answers nothing).
async fn capture() -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    keep.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (url, seen)
}

fn fields(name: &str, endpoint: &str, secret: &str, secret_ref: &str) -> ConnectionFields {
    ConnectionFields {
        name: name.into(),
        adapter: AdapterKind::ReferenceErp as i32,
        endpoint: endpoint.into(),
        secret: secret.into(),
        secret_ref: secret_ref.into(),
        families: vec![FamilySettings {
            family: "workers".into(),
            direction: Direction::Pull as i32,
            schedule: String::new(),
        }],
        order_statuses: vec![],
        conflict_policy: ConflictPolicy::ErpWins as i32,
        enabled: true,
    }
}

fn admin_of<T>(tenant: Uuid, msg: T) -> tonic::Request<T> {
    with_token(
        &testing::token_with(&Claims {
            sub: "admin".into(),
            tenant,
            role: Role::Admin,
            customer_id: None,
            residences: vec![],
            connection: None,
            exp: chrono::Utc::now().timestamp() + 600,
        }),
        msg,
    )
}

#[tokio::test]
async fn another_tenants_credentials_and_the_process_variables_are_never_sent() {
    let a = Uuid::now_v7();
    let stack =
        spawn_with(move |cfg| cfg.secrets = Secrets::default().with(a, "ERP", A_KEYS)).await;
    let b = stack.tenant;
    assert_ne!(a, b);
    let (listener, seen) = capture().await;
    let mut connector = stack.connector.clone();
    // Tenant B names A's credentials, and variables of the process.
    for (name, secret_ref) in [
        ("steal-a", "ERP"),
        ("steal-db", "DATABASE_URL"),
        ("steal-key", "RELAIS_SIGNING_KEY"),
        ("steal-path", "PATH"),
    ] {
        let created = connector
            .create_connection(admin_of(
                b,
                CreateConnectionRequest {
                    idempotency_key: String::new(),
                    fields: Some(fields(name, &listener, "", secret_ref)),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .connection
            .unwrap();
        let mut run = connector
            .run_sync(admin_of(
                b,
                RunSyncRequest {
                    connection_id: created.id.clone(),
                    family: "workers".into(),
                    full: false,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Ok(Some(m)) = run.message().await {
            last = m.run;
        }
        let errors = last.map(|r| r.errors.join(" ")).unwrap_or_default();
        assert!(
            errors.contains("not set for this tenant"),
            "{name}: {errors}"
        );
    }
    // Give a late write the time to arrive, then look at what came in.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(!seen.contains("a-private-key"), "A's secret was sent");
    assert!(!seen.contains("postgres://"), "the database URL was sent");
    assert!(!seen.contains("relais-test-secret"), "the JWT key was sent");
}

#[tokio::test]
async fn stored_credentials_are_sealed_and_never_read_back() {
    let stack = spawn_with(|_| {}).await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let got = stack
        .connector
        .clone()
        .list_connections(stack.admin(Default::default()))
        .await
        .unwrap()
        .into_inner()
        .connections
        .into_iter()
        .find(|c| c.id == connection)
        .unwrap();
    assert!(got.has_secret);
    let f = got.fields.unwrap();
    assert_eq!(f.secret, "", "the secret is write-only");
    // In the connector's own database, sealed: the private key is nowhere.
    let mut db = sqlx::PgConnection::connect(&stack.connector_database_url())
        .await
        .unwrap();
    let (key_id, sealed): (String, Vec<u8>) = sqlx::query_as(
        "select secret_key_id, secret_sealed from connector.connections where id = $1::uuid",
    )
    .bind(&connection)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(key_id, "dev");
    let private = ERP_KEYS.split_once(':').unwrap().1.as_bytes();
    assert!(!sealed.windows(private.len()).any(|w| w == private));
    // And yet the connection works with it: a sync reaches the ERP.
    let run = stack.run(&connection, "workers").await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    // An update without a secret keeps it; with a new one, replaces it.
    let mut same = f.clone();
    same.secret = String::new();
    let updated = stack
        .connector
        .clone()
        .update_connection(stack.admin(UpdateConnectionRequest {
            id: connection.clone(),
            expected_version: 0,
            fields: Some(same),
        }))
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap();
    assert!(updated.has_secret);
    let run = stack.run(&connection, "workers").await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_the_deployment_allows_them() {
    let stack = spawn_with(|cfg| cfg.egress = EgressPolicy::public_only()).await;
    let (listener, _) = capture().await;
    let port = listener.rsplit(':').next().unwrap().to_owned();
    for endpoint in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        listener.clone(),
        format!("http://localhost:{port}"),
        "http://10.0.0.7:8069".to_owned(),
        "http://[::ffff:127.0.0.1]:8800".to_owned(),
        "http://admin:pw@93.184.216.34/".to_owned(),
    ] {
        let refused = stack
            .connector
            .clone()
            .create_connection(stack.admin(CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(fields("internal", &endpoint, ERP_KEYS, "")),
            }))
            .await
            .expect_err(&endpoint);
        assert_bad_field(&refused, "fields.endpoint");
    }
    let listed = stack
        .connector
        .clone()
        .list_connections(stack.admin(Default::default()))
        .await
        .unwrap()
        .into_inner()
        .connections;
    assert!(listed.is_empty(), "nothing was created");
}

#[tokio::test]
async fn a_connection_needs_its_credentials_given_one_way() {
    let stack = spawn_with(|_| {}).await;
    for (secret, secret_ref, field) in [
        ("", "", "fields.secret"),
        ("no-colon", "", "fields.secret"),
        (ERP_KEYS, "ERP", "fields.secret_ref"),
        ("", "lower-case", "fields.secret_ref"),
    ] {
        let refused = stack
            .connector
            .clone()
            .create_connection(stack.admin(CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(fields("erp", &stack.erp_base, secret, secret_ref)),
            }))
            .await
            .expect_err(field);
        assert_bad_field(&refused, field);
    }
}
