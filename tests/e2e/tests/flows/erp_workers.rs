//! docs/architecture.md §2 flow 3: a worker created in the ERP appears in the shop on a
//! manual sync, with her skills through the tariff mapping (a tariff maps
//! to a service of the tenant only), and nothing echoes back.

use relais_connector::adapter::ErpAdapter;
use relais_platform::{
    auth::Role,
    testing::{assert_bad_field, with_token},
};
use relais_proto::{
    catalogue::{CreateServiceRequest, ServiceFields},
    connector::{
        ConflictPolicy, ListRunsRequest, ListTariffMappingsRequest, RunStatus,
        SetTariffMappingRequest,
    },
    planning::{GetWorkerRequest, ListWorkersRequest},
};
use serde_json::json;

use crate::support::{Relais, eur, fields, spawn, text};

/// An ERP tariff `name`, mapped to `service` on the connection.
pub async fn mapped_tariff(stack: &Relais, connection: &str, service: &str, name: &str) -> String {
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
        .connector()
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
    let stack = spawn(relais_testkit::Stack::builder().connector().erp()).await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    // Another tenant's service, and an id that is nobody's service.
    let other_admin = relais_testkit::sign(&relais_platform::auth::Claims {
        sub: "admin-2".into(),
        tenant: uuid::Uuid::now_v7(),
        ..stack.claims(Role::Admin)
    });
    let foreign = stack
        .catalogue()
        .create_service(with_token(
            &other_admin,
            CreateServiceRequest {
                idempotency_key: String::new(),
                fields: Some(ServiceFields {
                    code: "AUTRE".into(),
                    name: "Autre".into(),
                    hourly_price: eur(2500),
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
            .connector()
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
        .connector()
        .list_tariff_mappings(stack.admin(ListTariffMappingsRequest {
            connection_id: connection.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        mappings.mappings.is_empty(),
        "a refused mapping was stored: {mappings:?}"
    );
    // The tenant's own service maps.
    let own = stack.service("MENAGE", "Ménage à domicile").await;
    mapped_tariff(&stack, &connection, &own, "Ménage").await;
}

#[tokio::test]
async fn a_worker_created_in_the_erp_appears_in_the_shop_after_a_manual_sync() {
    let stack = spawn(relais_testkit::Stack::builder().connector().erp()).await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let service = stack.service("REPASSAGE", "Repassage").await;
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

    let run = stack.run(&connection, "workers").await;

    assert_eq!(run.status(), RunStatus::Succeeded, "{run:?}");
    assert_eq!((run.total, run.applied, run.failed), (1, 1, 0));
    assert!(
        run.errors.iter().any(|e| e.contains("T-UNMAPPED")),
        "the unmapped tariff is reported: {:?}",
        run.errors
    );
    let workers = stack
        .planning()
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
    let omar = stack.shop_worker("Omar", "Diallo", &service).await;
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
    let run = stack.run(&connection, "workers").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    let lea_now = stack
        .planning()
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
        .connector()
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
