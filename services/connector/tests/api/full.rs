//! Full runs (`relais connector sync <family> --full`): everything a family
//! pulls is read again from the ERP, whatever its cursor says, also for a
//! family that pushes too and has no batch transfer (planning, orders).

use relais_connector::adapter::ErpAdapter;
use relais_proto::{
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, OrderStatusRule, RunStatus, SendAs,
    },
    orders::{GetOrderRequest, OrderStatus},
    planning::ListInterventionsRequest,
};
use serde_json::json;
use sqlx::Connection as _;

use crate::stack::{Stack, fields, spawn, text};

/// Customers, workers, planning and orders both ways; paid orders sent.
async fn connect_both_ways(stack: &Stack) -> String {
    let family = |f: &str, d: Direction| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    };
    let rule = |status: &str, send_as: SendAs| OrderStatusRule {
        status: status.into(),
        send_as: send_as as i32,
    };
    stack
        .connector
        .clone()
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(ConnectionFields {
                name: "both-ways".into(),
                adapter: AdapterKind::ReferenceErp as i32,
                endpoint: stack.erp_base.clone(),
                secret_ref: String::new(),
                secret: crate::stack::ERP_KEYS.into(),
                families: vec![
                    family("customers", Direction::Both),
                    family("workers", Direction::Both),
                    family("bookings", Direction::Push),
                    family("planning", Direction::Both),
                    family("orders", Direction::Both),
                ],
                order_statuses: vec![
                    rule("validated", SendAs::NotSent),
                    rule("paid", SendAs::Order),
                ],
                conflict_policy: ConflictPolicy::ErpWins as i32,
                enabled: true,
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id
}

#[tokio::test]
async fn a_full_run_reads_again_everything_a_two_way_family_pulls() {
    let stack = spawn().await;
    let connection = connect_both_ways(&stack).await;
    let service = stack.service("MENAGE").await;
    let awa = stack.shop_worker("Awa", &service).await;
    let paul = stack.customer("Durand").await;
    let booking = stack.book(&paul, &service, &awa, 2).await;
    let services = stack
        .erp_eventually("service", 2, |s| text(s, "status") == "planned")
        .await;
    stack.bound(&connection, "intervention", &services).await;
    let gloves = crate::orders::product(&stack).await;
    let order = stack.paid_product_order(&paul, &gloves).await;
    let erp_order = stack
        .erp_eventually("order", 1, |o| text(o, "shop_id") == order.id)
        .await;
    stack.bound(&connection, "order", &erp_order).await;

    // Changed in the ERP, but behind the cursors (a change an ERP restored
    // from a backup, say): incremental runs do not see them.
    let erp = stack.erp();
    let first = &services[0];
    let start = chrono::DateTime::parse_from_rfc3339(text(first, "start")).unwrap()
        + chrono::Duration::hours(1);
    let end = chrono::DateTime::parse_from_rfc3339(text(first, "end")).unwrap()
        + chrono::Duration::hours(1);
    let start = start.with_timezone(&chrono::Utc).to_rfc3339();
    erp.upsert(
        "service",
        Some(&first.id),
        "",
        &fields(json!({ "start": start, "end": end.with_timezone(&chrono::Utc).to_rfc3339() })),
    )
    .await
    .unwrap();
    erp.upsert(
        "order",
        Some(&erp_order[0].id),
        "",
        &fields(json!({ "status": "preparing", "picking_list": "PL-0031" })),
    )
    .await
    .unwrap();
    let mut db = sqlx::PgConnection::connect(&stack.connector_database_url())
        .await
        .unwrap();
    for family in ["planning", "orders"] {
        sqlx::query(
            "insert into connector.cursors (connection_id, family, changed_up_to)
             values ($1::uuid, $2, now() + interval '1 day')
             on conflict (connection_id, family) do update set changed_up_to = excluded.changed_up_to",
        )
        .bind(&connection)
        .bind(family)
        .execute(&mut db)
        .await
        .unwrap();
        let run = stack.run(&connection, family).await;
        assert_eq!(
            (run.status(), run.total),
            (RunStatus::Succeeded, 0),
            "{run:?}"
        );
    }

    let full = |family: &'static str| {
        let stack = &stack;
        let connection = connection.clone();
        async move {
            let progress = stack
                .sync(&connection, family, true)
                .await
                .unwrap_or_else(|e| panic!("a full {family} run: {e:?}"));
            progress.last().unwrap().run.clone().unwrap()
        }
    };
    let planning = full("planning").await;
    assert_eq!(planning.status(), RunStatus::Succeeded, "{planning:?}");
    assert_eq!(
        (planning.total, planning.applied),
        (stack.erp_records("service").await.len() as i64, 1),
        "every intervention read again, the moved one applied: {planning:?}"
    );
    let interventions = stack
        .planning
        .clone()
        .list_interventions(stack.admin(ListInterventionsRequest {
            order_id: booking.id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .interventions;
    let moved = interventions
        .iter()
        .find(|i| i.id == text(first, "shop_id"))
        .unwrap();
    let moved_start =
        chrono::DateTime::from_timestamp(moved.start.as_ref().unwrap().seconds, 0).unwrap();
    assert_eq!(moved_start.to_rfc3339(), start, "rescheduled as in the ERP");

    let orders = full("orders").await;
    assert_eq!(orders.status(), RunStatus::Succeeded, "{orders:?}");
    assert_eq!(
        (orders.total, orders.applied),
        (stack.erp_records("order").await.len() as i64, 1),
        "{orders:?}"
    );
    let now = stack
        .orders
        .clone()
        .get_order(stack.admin(GetOrderRequest {
            id: order.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(now.status(), OrderStatus::Preparing);
}
