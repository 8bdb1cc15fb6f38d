//! Each service has its own database password and NATS user (docs/security.md):
//! one service's credentials open nothing of another's, and a client
//! without credentials is refused.

use std::{str::FromStr, time::Duration};

use async_nats::jetstream;
use relais_platform::{
    db,
    nats::{self, NATS_USERS, Namespace},
    testing::{self, NatsServer},
};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use uuid::Uuid;

use crate::helpers::MIGRATIONS;

/// The SQLSTATE of a failed connection or query, if Postgres sent one.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

#[tokio::test]
async fn one_services_database_password_opens_neither_another_role_nor_its_schema() {
    let cfg = testing::config(&testing::nats_url()).await.unwrap();
    // Both services provisioned in one database, as in a deployment.
    let orders = db::connect(&cfg, "orders", &MIGRATIONS).await.unwrap();
    let billing = db::connect(&cfg, "billing", &MIGRATIONS).await.unwrap();
    sqlx::query("insert into aggregates (id) values ('invoice-1')")
        .execute(&billing)
        .await
        .unwrap();
    let orders_password = cfg.db_password_for("orders").unwrap();
    assert_ne!(orders_password, cfg.db_password_for("billing").unwrap());

    let url = PgConnectOptions::from_str(&cfg.database_url).unwrap();
    // Orders' password is not billing's: the login is refused.
    let as_billing = PgConnection::connect_with(
        &url.clone()
            .username(&db::role_name("billing"))
            .password(&orders_password),
    )
    .await
    .expect_err("orders' password must not open billing's role");
    assert_eq!(
        sqlstate(&as_billing).as_deref(),
        Some("28P01"),
        "{as_billing}"
    );

    // Logged in as itself, orders cannot read billing's schema.
    let mut conn = PgConnection::connect_with(
        &url.username(&db::role_name("orders"))
            .password(&orders_password),
    )
    .await
    .unwrap();
    let read = sqlx::query("select id from billing.aggregates")
        .fetch_all(&mut conn)
        .await
        .expect_err("orders must not read billing's schema");
    assert_eq!(sqlstate(&read).as_deref(), Some("42501"), "{read}");
    orders.close().await;
    billing.close().await;
}

#[tokio::test]
async fn a_client_without_credentials_or_with_another_users_password_is_refused() {
    let server = NatsServer::start().unwrap();
    // No retry: a refusal must come back as an error, not a wait.
    let anonymous = async_nats::ConnectOptions::new()
        .connect(server.url())
        .await
        .expect_err("anonymous clients are refused");
    assert!(
        matches!(
            anonymous.kind(),
            async_nats::ConnectErrorKind::AuthorizationViolation
                | async_nats::ConnectErrorKind::Authentication
        ),
        "{anonymous:?}"
    );
    let mut stolen = testing::nats_auth_of("billing");
    stolen.user = "orders".into();
    let err = nats::connect_as(&server.url(), "orders", Some(&stolen))
        .await
        .expect_err("billing's password does not open the orders user");
    assert!(format!("{err:#}").contains("as orders"), "{err:#}");
    nats::connect_as(
        &server.url(),
        "orders",
        Some(&testing::nats_auth_of("orders")),
    )
    .await
    .expect("orders' own password does");
}

#[tokio::test]
async fn a_service_publishes_its_own_events_and_no_one_elses() {
    let server = NatsServer::start().unwrap();
    let ns = Namespace::new(testing::namespace());
    let tenant = Uuid::now_v7();
    // The permission violation arrives as an asynchronous server error.
    let (errors_tx, mut errors) = tokio::sync::mpsc::unbounded_channel::<String>();
    let orders_auth = testing::nats_auth_of("orders");
    let orders = async_nats::ConnectOptions::new()
        .user_and_password(orders_auth.user.clone(), orders_auth.password.clone())
        .event_callback(move |event| {
            let errors_tx = errors_tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = errors_tx.send(e.to_string());
                }
            }
        })
        .connect(server.url())
        .await
        .unwrap();
    let orders_js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(orders.clone());
    let harness = jetstream::new(testing::nats_client_on(&server.url()).await);
    // Billing's stream exists (billing made it at its start).
    let billing_js = jetstream::new(
        nats::connect_as(
            &server.url(),
            "billing",
            Some(&testing::nats_auth_of("billing")),
        )
        .await
        .unwrap(),
    );
    ns.ensure_stream(&billing_js, "billing").await.unwrap();

    // Its own subjects: stream created, publish acknowledged.
    ns.ensure_stream(&orders_js, "orders").await.unwrap();
    orders_js
        .publish(ns.subject("orders", tenant, "order", "placed"), "ok".into())
        .await
        .unwrap()
        .await
        .expect("orders publishes its own events");

    // A forged billing event: the server drops it and says why.
    let forged = orders_js
        .publish(
            ns.subject("billing", tenant, "invoice", "validated"),
            "forged".into(),
        )
        .await
        .unwrap()
        .await;
    assert!(forged.is_err(), "no stream acknowledged the forged event");
    let violation = tokio::time::timeout(Duration::from_secs(5), errors.recv())
        .await
        .expect("a server error")
        .unwrap();
    assert!(
        violation.contains("Permissions Violation for Publish")
            && violation.contains(".billing.v1."),
        "{violation}"
    );
    let billing_stream = harness.get_stream(ns.stream("billing")).await.unwrap();
    assert_eq!(
        billing_stream.get_info().await.unwrap().state.messages,
        0,
        "billing's stream holds nothing orders sent"
    );
    // Nor may it delete billing's stream (or any stream).
    assert!(
        orders_js.delete_stream(ns.stream("billing")).await.is_err(),
        "orders may not delete streams"
    );
    assert!(harness.get_stream(ns.stream("billing")).await.is_ok());
}

#[test]
fn the_nats_users_agree_everywhere_they_are_listed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let users = read("k8s/base/shared/nats/users.conf");
    let dev = read("k8s/base/shared/nats/dev.conf");
    let auth = read("k8s/base/shared/nats/auth.conf");
    let stack = read("scripts/stack.sh");
    let stack_list = stack
        .lines()
        .find_map(|l| l.strip_prefix("NATS_USERS=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("NATS_USERS in scripts/stack.sh");
    assert_eq!(stack_list.split(' ').collect::<Vec<_>>(), NATS_USERS);
    for user in NATS_USERS {
        let var = format!("$RELAIS_NATS_PASSWORD_{}", user.to_uppercase());
        if *user == testing::HARNESS_USER {
            // The harness exists in the local stack and tests only.
            assert!(dev.contains(&var) && !auth.contains(&var) && !users.contains(&var));
            continue;
        }
        assert!(users.contains(&format!("user: {user}\n")), "{user}");
        assert!(users.contains(&var), "{user}");
        let listed = format!("$RELAIS_USER_{}", user.to_uppercase());
        assert!(auth.contains(&listed), "{user} in auth.conf");
        assert!(dev.contains(&listed), "{user} in dev.conf");
    }
}
