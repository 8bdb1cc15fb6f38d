//! Workers: skills, weekly availability, absences; who may manage them.

use prost::Message;
use relais_platform::auth::Role;
use relais_proto::{
    events::WorkerChanged,
    planning::{
        AddAbsenceRequest, CreateWorkerRequest, FindAvailableWorkersRequest, GetWorkerRequest,
        ListWorkersRequest, UpdateWorkerRequest, WeeklySlot,
    },
};
use tonic::Code;

use crate::helpers::*;

fn ts(s: &str) -> Option<prost_types::Timestamp> {
    let t: chrono::DateTime<chrono::Utc> = s.parse().unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

#[tokio::test]
async fn workers_are_created_with_skills_and_a_week_and_refused_with_the_field() {
    let stack = spawn().await;
    let cleaning = stack.service("MENAGE").await;
    let mut planning = stack.planning.clone();
    let created = planning
        .create_worker(stack.admin(CreateWorkerRequest {
            idempotency_key: "w-1".into(),
            fields: Some(week_worker("Diallo", &[&cleaning])),
        }))
        .await
        .expect("created")
        .into_inner()
        .worker
        .unwrap();
    let fields = created.fields.clone().unwrap();
    assert_eq!(fields.skill_service_ids, vec![cleaning.clone()]);
    assert_eq!(fields.availability.len(), 5);
    assert_eq!(fields.time_zone, "Europe/Paris");
    assert_eq!(created.origin, "shop");

    let mut bad = week_worker("", &["not-an-id"]);
    bad.availability.push(WeeklySlot {
        weekday: 8,
        start_time: "10:00".into(),
        end_time: "09:00".into(),
    });
    bad.availability.push(WeeklySlot {
        weekday: 1,
        start_time: "12:00".into(),
        end_time: "20:00".into(),
    });
    bad.time_zone = "Lyon".into();
    bad.photo_url = "javascript:alert(1)".into();
    let err = planning
        .create_worker(stack.admin(CreateWorkerRequest {
            idempotency_key: String::new(),
            fields: Some(bad),
        }))
        .await
        .expect_err("bad worker");
    for field in [
        "fields.last_name",
        "fields.skill_service_ids[0]",
        "fields.availability[5].weekday",
        "fields.availability[6]",
        "fields.time_zone",
        "fields.photo_url",
    ] {
        assert_bad_field(&err, field);
    }

    // A customer cannot manage workers; a stale version is refused.
    let customer = stack.token(Role::Customer, "c", Some(uuid::Uuid::now_v7()));
    let err = planning
        .create_worker(with_token(
            &customer,
            CreateWorkerRequest {
                idempotency_key: String::new(),
                fields: Some(week_worker("X", &[])),
            },
        ))
        .await
        .expect_err("customer");
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut update = UpdateWorkerRequest {
        id: created.id.clone(),
        expected_version: 1,
        fields: Some(week_worker("Diallo", &[])),
    };
    let updated = planning
        .update_worker(with_token(
            &stack.token(Role::Connector, "erp", None),
            update.clone(),
        ))
        .await
        .expect("updated")
        .into_inner()
        .worker
        .unwrap();
    assert_eq!(updated.origin, "erp:conn-1");
    assert!(updated.fields.unwrap().skill_service_ids.is_empty());
    update.expected_version = 1;
    let err = planning
        .update_worker(stack.admin(update))
        .await
        .expect_err("stale");
    assert_eq!(err.code(), Code::FailedPrecondition);

    let read = planning
        .get_worker(stack.admin(GetWorkerRequest {
            id: created.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap();
    assert_eq!(read.version, 2);

    // Subscribers (the connector) see both changes with their origin.
    let events = stack.events(2).await;
    let origins: Vec<(String, String)> = events
        .iter()
        .map(|(name, p)| {
            let e = WorkerChanged::decode(p.as_ref()).unwrap();
            (name.clone(), e.meta.unwrap().origin)
        })
        .collect();
    assert_eq!(
        origins,
        [
            ("worker.created".to_owned(), "shop".to_owned()),
            ("worker.updated".to_owned(), "erp:conn-1".to_owned())
        ]
    );
}

#[tokio::test]
async fn skills_are_services_of_the_callers_tenant() {
    let stack = spawn().await;
    // Tenant A (the stack's) has a service; tenant B has its own.
    let a_service = stack.service("MENAGE").await;
    let b = uuid::Uuid::now_v7();
    let b_service = stack.service_of(b, "REPASSAGE").await;
    let random = uuid::Uuid::now_v7().to_string();
    let mut planning = stack.planning.clone();

    // B's admin may not give a worker A's service, nor an id that is no
    // service anywhere: refused on the field, and nothing is created.
    for skill in [&a_service, &random] {
        let err = planning
            .create_worker(stack.admin_of(
                b,
                CreateWorkerRequest {
                    idempotency_key: format!("w-{skill}"),
                    fields: Some(week_worker("Diallo", &[skill])),
                },
            ))
            .await
            .expect_err("a skill of another tenant");
        assert_bad_field(&err, "fields.skill_service_ids[0]");
        assert!(
            err.message().contains("is not a service of the tenant"),
            "{err:?}"
        );
    }
    // Every bad skill is named at once; the good one is not.
    let err = planning
        .create_worker(stack.admin_of(
            b,
            CreateWorkerRequest {
                idempotency_key: String::new(),
                fields: Some(week_worker("Diallo", &[&b_service, &a_service, &random])),
            },
        ))
        .await
        .expect_err("mixed skills");
    assert_bad_field(&err, "fields.skill_service_ids[1]");
    assert_bad_field(&err, "fields.skill_service_ids[2]");
    assert!(!err.message().contains("skill_service_ids[0]"), "{err:?}");
    let none = planning
        .list_workers(stack.admin_of(b, ListWorkersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .workers;
    assert!(none.is_empty(), "refused workers were stored: {none:?}");

    // With B's own service, it works; then an update that adds A's service
    // or a random id is refused and changes nothing.
    let worker = planning
        .create_worker(stack.admin_of(
            b,
            CreateWorkerRequest {
                idempotency_key: String::new(),
                fields: Some(week_worker("Diallo", &[&b_service])),
            },
        ))
        .await
        .expect("B's own service")
        .into_inner()
        .worker
        .unwrap();
    assert_eq!(
        worker.fields.unwrap().skill_service_ids,
        vec![b_service.clone()]
    );
    for skill in [&a_service, &random] {
        let err = planning
            .update_worker(stack.admin_of(
                b,
                UpdateWorkerRequest {
                    id: worker.id.clone(),
                    expected_version: worker.version,
                    fields: Some(week_worker("Diallo", &[skill, &b_service])),
                },
            ))
            .await
            .expect_err("update with another tenant's skill");
        assert_bad_field(&err, "fields.skill_service_ids[0]");
    }
    let read = planning
        .get_worker(stack.admin_of(
            b,
            GetWorkerRequest {
                id: worker.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap();
    assert_eq!(read.version, worker.version);
    assert_eq!(
        read.fields.unwrap().skill_service_ids,
        vec![b_service.clone()]
    );
    // A's service finds none of B's workers, in B's tenant or in A's.
    for tenant in [b, stack.tenant] {
        let found = planning
            .list_workers(stack.admin_of(
                tenant,
                ListWorkersRequest {
                    skill_service_id: a_service.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .workers;
        assert!(found.is_empty(), "{found:?}");
    }
    // The connector applies ERP workers through the same check: planning
    // asks the catalogue for the connector's tenant.
    let err = planning
        .update_worker(with_token(
            &stack.token_of(b, Role::Connector, "erp"),
            UpdateWorkerRequest {
                id: worker.id.clone(),
                expected_version: worker.version,
                fields: Some(week_worker("Diallo", &[&a_service])),
            },
        ))
        .await
        .expect_err("the connector with another tenant's skill");
    assert_bad_field(&err, "fields.skill_service_ids[0]");
    let erp = planning
        .update_worker(with_token(
            &stack.token_of(b, Role::Connector, "erp"),
            UpdateWorkerRequest {
                id: worker.id.clone(),
                expected_version: worker.version,
                fields: Some(week_worker("Diallo", &[&b_service])),
            },
        ))
        .await
        .expect("the connector with the tenant's own skill")
        .into_inner()
        .worker
        .unwrap();
    assert_eq!(erp.origin, "erp:conn-1");
}

#[tokio::test]
async fn available_workers_have_the_skill_the_hours_and_no_absence() {
    let stack = spawn().await;
    let cleaning = stack.service("MENAGE").await;
    let ironing = stack.service("REPASSAGE").await;
    let awa = stack.worker("Diallo", &[&cleaning]).await;
    let marc = stack.worker("Petit", &[&cleaning, &ironing]).await;
    let _other = stack.worker("Sans", &[&ironing]).await;
    let mut planning = stack.planning.clone();
    let find = |service: &str, start: &str, end: &str| FindAvailableWorkersRequest {
        service_id: service.into(),
        start: ts(start),
        end: ts(end),
    };
    let names = |r: relais_proto::planning::FindAvailableWorkersResponse| {
        let mut ids: Vec<String> = r.workers.into_iter().map(|w| w.id).collect();
        ids.sort();
        ids
    };
    // Monday 6 December 2027, 10:00-12:00 Paris (UTC+1).
    let both = names(
        planning
            .find_available_workers(stack.admin(find(
                &cleaning,
                "2027-12-06T09:00:00Z",
                "2027-12-06T11:00:00Z",
            )))
            .await
            .unwrap()
            .into_inner(),
    );
    let mut expected = vec![awa.clone(), marc.clone()];
    expected.sort();
    assert_eq!(both, expected);
    // Awa is away that day.
    planning
        .add_absence(stack.admin(AddAbsenceRequest {
            worker_id: awa.clone(),
            start: ts("2027-12-06T00:00:00Z"),
            end: ts("2027-12-07T00:00:00Z"),
            reason: "congé".into(),
        }))
        .await
        .expect("absence");
    let left = names(
        planning
            .find_available_workers(stack.admin(find(
                &cleaning,
                "2027-12-06T09:00:00Z",
                "2027-12-06T11:00:00Z",
            )))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(left, vec![marc.clone()]);
    // Sunday: nobody works; 17:00-19:00 runs past 18:00.
    let sunday = planning
        .find_available_workers(stack.admin(find(
            &cleaning,
            "2027-12-05T09:00:00Z",
            "2027-12-05T11:00:00Z",
        )))
        .await
        .unwrap()
        .into_inner();
    assert!(sunday.workers.is_empty());
    let late = planning
        .find_available_workers(stack.admin(find(
            &cleaning,
            "2027-12-07T16:00:00Z",
            "2027-12-07T18:00:00Z",
        )))
        .await
        .unwrap()
        .into_inner();
    assert!(late.workers.is_empty());
    // An end before the start is refused.
    let err = planning
        .find_available_workers(stack.admin(find(
            &cleaning,
            "2027-12-06T11:00:00Z",
            "2027-12-06T09:00:00Z",
        )))
        .await
        .expect_err("backwards");
    assert_bad_field(&err, "end");
    let skilled = planning
        .list_workers(stack.admin(ListWorkersRequest {
            skill_service_id: ironing.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .workers;
    assert_eq!(skilled.len(), 2);
}
