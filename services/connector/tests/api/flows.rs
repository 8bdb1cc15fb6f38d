//! Workers changed on both sides: a conflict, settled by the connection's
//! policy or by staff; bad connection and sync requests are refused with
//! the field. (docs/architecture.md §2 flows 1 and 3 end to end: `tests/e2e`.)

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::{
    auth::Role,
    testing::{self, assert_bad_field, with_token},
};
use relais_proto::{
    connector::{
        AdapterKind, ConflictPolicy, ConflictSide, ConnectionFields, CreateConnectionRequest,
        Direction, FamilySettings, ListConflictsRequest, ListRunsRequest, ResolveConflictRequest,
    },
    planning::{GetWorkerRequest, ListWorkersRequest, UpdateWorkerRequest},
};
use serde_json::json;
use tonic::Code;

use crate::stack::{Stack, fields, spawn, text};

/// A worker pulled from the ERP, then changed on both sides before the
/// next sync: the ERP gives her `erp_email`, the shop another email (the
/// same field: a conflict) and a new phone (the shop's alone: merged).
async fn changed_on_both_sides(
    stack: &Stack,
    connection: &str,
    erp_email: &str,
) -> relais_proto::planning::Worker {
    let erp = stack.erp();
    let employee = erp
        .upsert(
            "employee",
            None,
            &format!("erp-{erp_email}"),
            &fields(json!({ "first_name": "Nina", "last_name": "Petit", "active": true })),
        )
        .await
        .unwrap();
    stack.sync(connection, "workers", false).await.unwrap();
    let worker = stack
        .planning
        .clone()
        .list_workers(stack.admin(ListWorkersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .workers
        .pop()
        .unwrap();
    erp.upsert(
        "employee",
        Some(&employee.id),
        "",
        &fields(json!({ "email": erp_email })),
    )
    .await
    .unwrap();
    let mut f = worker.fields.clone().unwrap();
    f.phone = "+33 7 00 00 00 00".into();
    f.email = "nina@shop.example".into();
    stack
        .planning
        .clone()
        .update_worker(stack.admin(UpdateWorkerRequest {
            id: worker.id.clone(),
            expected_version: worker.version,
            fields: Some(f),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap()
}

#[tokio::test]
async fn a_worker_changed_on_both_sides_is_a_conflict_settled_by_the_policy() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let worker = changed_on_both_sides(&stack, &connection, "nina@erp.example").await;
    stack.sync(&connection, "workers", false).await.unwrap();

    let conflicts = testing::eventually(Duration::from_secs(10), || async {
        let c = stack
            .connector
            .clone()
            .list_conflicts(stack.admin(ListConflictsRequest {
                connection_id: connection.clone(),
                open_only: false,
                ..Default::default()
            }))
            .await
            .ok()?
            .into_inner()
            .conflicts;
        (!c.is_empty()).then_some(c)
    })
    .await
    .expect("the conflict is listed");
    assert_eq!(conflicts[0].entity, "worker");
    assert_eq!(conflicts[0].internal_id, worker.id);
    assert_eq!(conflicts[0].winner, "erp");
    let now = stack
        .planning
        .clone()
        .get_worker(stack.admin(GetWorkerRequest {
            id: worker.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap()
        .fields
        .unwrap();
    assert_eq!(now.email, "nina@erp.example", "the ERP's version won");
}

async fn settle(
    stack: &Stack,
    conflict: &str,
    winner: ConflictSide,
) -> Result<relais_proto::connector::Conflict, tonic::Status> {
    stack
        .connector
        .clone()
        .resolve_conflict(stack.admin(ResolveConflictRequest {
            id: conflict.into(),
            winner: winner as i32,
        }))
        .await
        .map(|r| r.into_inner().conflict.unwrap())
}

#[tokio::test]
async fn staff_settle_a_manual_conflict_for_the_shop_and_the_erp_takes_the_shops_version() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::Manual).await;
    let worker = changed_on_both_sides(&stack, &connection, "nina@erp.example").await;
    let conflict = stack.open_conflict(&connection).await;
    assert_eq!(
        (conflict.entity.as_str(), conflict.winner.as_str()),
        ("worker", "")
    );
    let employee = stack
        .erp_records("employee")
        .await
        .into_iter()
        .find(|e| e.id == conflict.external_id)
        .unwrap();
    assert_eq!(
        text(&employee, "email"),
        "nina@erp.example",
        "nothing written yet"
    );

    let settled = settle(&stack, &conflict.id, ConflictSide::Shop)
        .await
        .unwrap();
    assert_eq!(settled.winner, "shop");
    assert_eq!(settled.resolved_by, "tester");
    assert!(settled.resolved_at.is_some());
    let written = stack
        .erp_eventually("employee", 1, |e| {
            e.id == conflict.external_id && text(e, "phone") == "+33 7 00 00 00 00"
        })
        .await;
    assert_eq!(
        text(&written[0], "email"),
        worker.fields.unwrap().email,
        "the shop's version, whole, over the ERP's"
    );
    let again = settle(&stack, &conflict.id, ConflictSide::Erp)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    let open = stack.conflicts(&connection, true).await;
    assert!(open.is_empty(), "{open:?}");
}

#[tokio::test]
async fn staff_settle_a_manual_conflict_for_the_erp_and_the_shop_takes_the_erps_version() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::Manual).await;
    let worker = changed_on_both_sides(&stack, &connection, "nina@erp.example").await;
    let conflict = stack.open_conflict(&connection).await;
    let bad = stack
        .connector
        .clone()
        .resolve_conflict(stack.admin(ResolveConflictRequest {
            id: conflict.id.clone(),
            winner: ConflictSide::Unspecified as i32,
        }))
        .await
        .unwrap_err();
    assert_bad_field(&bad, "winner");
    let staff = stack
        .connector
        .clone()
        .resolve_conflict(with_token(
            &stack.token(Role::Staff),
            ResolveConflictRequest {
                id: conflict.id.clone(),
                winner: ConflictSide::Erp as i32,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(staff.code(), Code::PermissionDenied);
    // Nor do residence staff read the sync's records: they hold customers
    // of every residence.
    let staff_reads = stack
        .connector
        .clone()
        .list_conflicts(with_token(
            &stack.token(Role::Staff),
            relais_proto::connector::ListConflictsRequest {
                connection_id: conflict.connection_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(staff_reads.code(), Code::PermissionDenied);

    let settled = settle(&stack, &conflict.id, ConflictSide::Erp)
        .await
        .unwrap();
    assert_eq!(settled.winner, "erp");
    let now = stack
        .planning
        .clone()
        .get_worker(stack.admin(GetWorkerRequest {
            id: worker.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap()
        .fields
        .unwrap();
    assert_eq!(now.email, "nina@erp.example", "the ERP's version won");
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_field_and_change_nothing() {
    let stack = spawn().await;
    let mut connector = stack.connector.clone();
    let bad = connector
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(ConnectionFields {
                name: "with space".into(),
                adapter: AdapterKind::ReferenceErp as i32,
                endpoint: "ftp://erp".into(),
                secret_ref: "public:private".into(),
                secret: String::new(),
                families: vec![
                    FamilySettings {
                        family: "catalogue".into(),
                        direction: Direction::Push as i32,
                        schedule: String::new(),
                    },
                    FamilySettings {
                        family: "workers".into(),
                        direction: Direction::Pull as i32,
                        schedule: "61 * * * *".into(),
                    },
                    FamilySettings {
                        family: "weather".into(),
                        direction: Direction::Pull as i32,
                        schedule: String::new(),
                    },
                ],
                order_statuses: vec![],
                conflict_policy: 0,
                enabled: true,
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    for field in [
        "fields.name",
        "fields.endpoint",
        "fields.secret_ref",
        "fields.families[0].direction",
        "fields.families[1].schedule",
        "fields.families[2].family",
    ] {
        assert_bad_field(&bad, field);
    }
    let listed = connector
        .list_connections(stack.admin(Default::default()))
        .await
        .unwrap()
        .into_inner()
        .connections;
    assert!(listed.is_empty(), "nothing was created");

    let connection = stack.connect(ConflictPolicy::Manual).await;
    let again = connector
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            // Listed connections never carry their credentials.
            fields: listed_fields(&stack, &connection).await.map(|mut f| {
                f.secret = crate::stack::ERP_KEYS.into();
                f
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
    let not_pulled = stack
        .sync(&connection, "bookings", false)
        .await
        .unwrap_err();
    assert_eq!(
        not_pulled.code(),
        Code::FailedPrecondition,
        "{not_pulled:?}"
    );
    let unknown = stack
        .sync(&uuid::Uuid::now_v7().to_string(), "workers", false)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let staff = connector
        .run_sync(with_token(
            &stack.token(Role::Staff),
            relais_proto::connector::RunSyncRequest {
                connection_id: connection.clone(),
                family: "workers".into(),
                full: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(staff.code(), Code::PermissionDenied);
    let runs = connector
        .list_runs(stack.admin(ListRunsRequest {
            connection_id: connection,
            page: None,
        }))
        .await
        .unwrap()
        .into_inner()
        .runs;
    assert!(runs.is_empty(), "refused runs are not recorded: {runs:?}");
}

async fn listed_fields(stack: &Stack, id: &str) -> Option<ConnectionFields> {
    stack
        .connector
        .clone()
        .list_connections(stack.admin(Default::default()))
        .await
        .unwrap()
        .into_inner()
        .connections
        .into_iter()
        .find(|c| c.id == id)
        .and_then(|c| c.fields)
}

#[tokio::test]
async fn on_a_family_the_shop_never_sends_back_the_erps_version_wins_whatever_the_policy() {
    let stack = spawn().await;
    let connection = stack
        .connector
        .clone()
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(ConnectionFields {
                name: "pull-only".into(),
                adapter: AdapterKind::ReferenceErp as i32,
                endpoint: stack.erp_base.clone(),
                secret_ref: String::new(),
                secret: crate::stack::ERP_KEYS.into(),
                families: vec![FamilySettings {
                    family: "workers".into(),
                    direction: Direction::Pull as i32,
                    schedule: String::new(),
                }],
                order_statuses: vec![],
                conflict_policy: ConflictPolicy::ShopWins as i32,
                enabled: true,
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id;
    let worker = changed_on_both_sides(&stack, &connection, "ines@erp.example").await;
    stack.sync(&connection, "workers", false).await.unwrap();

    let conflicts = stack.conflicts(&connection, false).await;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        conflicts[0].winner, "erp",
        "the shop never sends workers back here"
    );
    let now = stack
        .planning
        .clone()
        .get_worker(stack.admin(GetWorkerRequest {
            id: worker.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap()
        .fields
        .unwrap();
    assert_eq!(now.email, "ines@erp.example", "both sides in step again");
}
