//! DESIGN §2 flows 1 and 3 against the reference ERP: a booking reaches
//! the ERP as a read-only customer, an accepted quote and its interventions
//! assigned to the worker; a worker created in the ERP reaches the shop on a
//! manual sync, with its skills through the tariff mapping, and nothing
//! echoes back.

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::{
    auth::Role,
    testing::{self, assert_bad_field, with_token},
};
use relais_proto::{
    connector::{
        AdapterKind, ConflictPolicy, ConflictSide, ConnectionFields, CreateConnectionRequest,
        Direction, FamilySettings, ListBindingsRequest, ListConflictsRequest, ListRunsRequest,
        ResolveConflictRequest, RunStatus, SetTariffMappingRequest,
    },
    planning::{GetWorkerRequest, ListWorkersRequest, UpdateWorkerRequest},
};
use serde_json::json;
use tonic::Code;

use crate::stack::{Stack, fields, spawn, text};

/// An ERP tariff mapped to `service`.
async fn mapped_tariff(stack: &Stack, connection: &str, service: &str, name: &str) -> String {
    let tariff = stack
        .erp()
        .upsert(
            "tariff",
            None,
            &format!("tariff-{name}"),
            &fields(json!({ "name": name })),
        )
        .await
        .unwrap()
        .id;
    stack
        .connector
        .clone()
        .set_tariff_mapping(stack.admin(SetTariffMappingRequest {
            connection_id: connection.into(),
            service_id: service.into(),
            tariff_id: tariff.clone(),
        }))
        .await
        .unwrap();
    tariff
}

#[tokio::test]
async fn a_tariff_maps_to_a_service_of_the_tenant_only_so_erp_workers_get_its_skills() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    // Another tenant's service, and an id that is nobody's service.
    let other = uuid::Uuid::now_v7();
    let other_admin = testing::token_with(&relais_platform::auth::Claims {
        sub: "admin-2".into(),
        tenant: other,
        role: Role::Admin,
        customer_id: None,
        residences: vec![],
        connection: None,
        exp: chrono::Utc::now().timestamp() + 600,
    });
    let foreign = stack
        .catalogue
        .clone()
        .create_service(with_token(
            &other_admin,
            relais_proto::catalogue::CreateServiceRequest {
                idempotency_key: String::new(),
                fields: Some(relais_proto::catalogue::ServiceFields {
                    code: "AUTRE".into(),
                    name: "Autre".into(),
                    hourly_price: Some(relais_proto::types::Money {
                        amount_cents: 2500,
                        currency: "EUR".into(),
                    }),
                    vat_rate_bp: 1000,
                    active: true,
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap()
        .id;
    let random = uuid::Uuid::now_v7().to_string();
    for service in [&foreign, &random] {
        let err = stack
            .connector
            .clone()
            .set_tariff_mapping(stack.admin(SetTariffMappingRequest {
                connection_id: connection.clone(),
                service_id: service.clone(),
                tariff_id: "tariff-x".into(),
            }))
            .await
            .expect_err("a service of another tenant");
        assert_bad_field(&err, "service_id");
    }
    let mappings = stack
        .connector
        .clone()
        .list_tariff_mappings(
            stack.admin(relais_proto::connector::ListTariffMappingsRequest {
                connection_id: connection.clone(),
            }),
        )
        .await
        .unwrap()
        .into_inner();
    assert!(
        mappings.mappings.is_empty(),
        "a refused mapping was stored: {mappings:?}"
    );
    // The tenant's own service maps.
    let own = stack.service("MENAGE").await;
    mapped_tariff(&stack, &connection, &own, "Ménage").await;
}

#[tokio::test]
async fn a_booking_reaches_the_erp_as_a_read_only_customer_an_accepted_quote_and_interventions() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let service = stack.service("MENAGE").await;
    let tariff = mapped_tariff(&stack, &connection, &service, "Ménage").await;
    let awa = stack.shop_worker("Awa", &service).await;
    let paul = stack.customer("Durand").await;

    let order = stack.book(&paul, &service, &awa, 3).await;

    let customers = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await;
    let customer = &customers[0];
    assert_eq!(text(customer, "last_name"), "Durand");
    assert_eq!(customer.fields["read_only"], json!(true), "{customer:?}");
    let employees = stack
        .erp_eventually("employee", 1, |e| text(e, "shop_id") == awa)
        .await;
    assert_eq!(
        employees[0].fields["tariffs"],
        json!([tariff]),
        "Awa's skill as the tariff"
    );
    // Pending when placed, accepted once confirmed (paid).
    let quotes = stack
        .erp_eventually("quote", 1, |q| {
            text(q, "shop_id") == order.id && text(q, "status") == "accepted"
        })
        .await;
    let quote = &quotes[0];
    assert_eq!(text(quote, "status"), "accepted");
    assert_eq!(text(quote, "customer"), customer.id);
    assert_eq!(
        quote.fields["total_incl_vat_cents"],
        json!(order.total_incl_vat.as_ref().unwrap().amount_cents)
    );
    let services = stack
        .erp_eventually("service", 3, |s| text(s, "quote") == quote.id)
        .await;
    for s in &services {
        assert_eq!(text(s, "customer"), customer.id);
        assert_eq!(text(s, "employee"), employees[0].id, "assigned to Awa");
        assert_eq!(text(s, "tariff"), tariff);
        assert_eq!(text(s, "status"), "planned");
    }
    let mut starts: Vec<&str> = services.iter().map(|s| text(s, "start")).collect();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 3, "three weekly occurrences: {starts:?}");

    // Each shop record is bound to its ERP record (the binding is recorded
    // just after the ERP's write), and written once.
    let list_bindings = || async {
        stack
            .connector
            .clone()
            .list_bindings(stack.admin(ListBindingsRequest {
                connection_id: connection.clone(),
                entity: String::new(),
            }))
            .await
            .unwrap()
            .into_inner()
            .bindings
    };
    let bindings = testing::eventually(Duration::from_secs(10), || async {
        let all = list_bindings().await;
        (all.iter().filter(|b| b.entity == "intervention").count() >= 3).then_some(all)
    })
    .await
    .unwrap_or_default();
    let count = |e: &str| bindings.iter().filter(|b| b.entity == e).count();
    assert_eq!(
        (
            count("customer"),
            count("worker"),
            count("quote"),
            count("intervention")
        ),
        (1, 1, 1, 3)
    );
    assert_eq!(stack.erp_records("customer").await.len(), 1);
    assert_eq!(stack.erp_records("quote").await.len(), 1);
    assert_eq!(stack.erp_records("service").await.len(), 3);
}

#[tokio::test]
async fn a_worker_created_in_the_erp_appears_in_the_shop_after_a_manual_sync() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let service = stack.service("REPASSAGE").await;
    let tariff = mapped_tariff(&stack, &connection, &service, "Repassage").await;
    let erp = stack.erp();
    let lea = erp
        .upsert(
            "employee",
            None,
            "erp-lea",
            &fields(json!({
                "first_name": "Léa", "last_name": "Moreau", "email": "lea@example.org",
                "phone": "+33 6 12 34 56 78", "photo_url": "https://erp.example/lea.jpg",
                "tariffs": [tariff, "T-UNMAPPED"], "active": true,
            })),
        )
        .await
        .unwrap();

    let progress = stack.sync(&connection, "workers", false).await.unwrap();

    let last = progress.last().unwrap();
    assert!(last.finished, "{progress:?}");
    let run = last.run.clone().unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{run:?}");
    assert_eq!((run.total, run.applied, run.failed), (1, 1, 0));
    assert!(
        run.errors.iter().any(|e| e.contains("T-UNMAPPED")),
        "the unmapped tariff is reported: {:?}",
        run.errors
    );
    let workers = stack
        .planning
        .clone()
        .list_workers(stack.admin(ListWorkersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .workers;
    assert_eq!(workers.len(), 1);
    let worker = &workers[0];
    let f = worker.fields.clone().unwrap();
    assert_eq!(
        (f.first_name.as_str(), f.last_name.as_str()),
        ("Léa", "Moreau")
    );
    assert_eq!(f.phone, "+33 6 12 34 56 78");
    assert_eq!(f.photo_url, "https://erp.example/lea.jpg");
    assert_eq!(
        f.skill_service_ids,
        vec![service.clone()],
        "skills through the mapping"
    );
    assert_eq!(f.external_ref, lea.id);
    assert_eq!(worker.origin, "erp:test-erp");

    // Nothing echoes back: a worker created in the shop afterwards reaches
    // the ERP (so Léa's event was handled before it), and Léa is still one.
    let omar = stack.shop_worker("Omar", &service).await;
    stack
        .erp_eventually("employee", 1, |e| text(e, "shop_id") == omar)
        .await;
    assert_eq!(stack.erp_records("employee").await.len(), 2);
    assert_eq!(
        erp.get("employee", &lea.id).await.unwrap().version,
        lea.version,
        "Léa's record was not written back"
    );

    // A change in the ERP reaches the shop on the next, incremental run;
    // what did not change is skipped.
    erp.upsert(
        "employee",
        Some(&lea.id),
        "",
        &fields(json!({ "phone": "+33 6 00 00 00 01" })),
    )
    .await
    .unwrap();
    let run = stack.sync(&connection, "workers", false).await.unwrap();
    let run = run.last().unwrap().run.clone().unwrap();
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    let lea_now = stack
        .planning
        .clone()
        .get_worker(stack.admin(GetWorkerRequest {
            id: worker.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap();
    assert_eq!(lea_now.fields.unwrap().phone, "+33 6 00 00 00 01");

    let runs = stack
        .connector
        .clone()
        .list_runs(stack.admin(ListRunsRequest {
            connection_id: connection.clone(),
            page: None,
        }))
        .await
        .unwrap()
        .into_inner()
        .runs;
    assert_eq!(runs.len(), 2, "every run is recorded");
    assert!(
        runs.iter()
            .all(|r| r.trigger == "manual" && r.finished_at.is_some())
    );
}

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
