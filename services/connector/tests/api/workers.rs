//! An ERP worker always has weekly hours (so that bookings can be assigned
//! to them): the ERP record's availability when it carries some, else the
//! tenant's opening hours, and the worker says which.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc, Weekday};
use relais_connector::adapter::ErpAdapter;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, assert_bad_field, with_token},
};
use relais_proto::{
    connector::{ConflictPolicy, SetTariffMappingRequest},
    orders::{PaymentMode, PlaceBookingRequest, Schedule},
    planning::{
        AvailabilitySource, ListInterventionsRequest, UpdateWorkerRequest, WeeklySlot, Worker,
    },
};
use serde_json::json;
use uuid::Uuid;

use crate::stack::{Stack, fields, spawn};

fn slot(weekday: i32, start: &str, end: &str) -> WeeklySlot {
    WeeklySlot {
        weekday,
        start_time: start.into(),
        end_time: end.into(),
    }
}

fn mon_to_fri_8_to_19() -> Vec<WeeklySlot> {
    (1..=5).map(|d| slot(d, "08:00", "19:00")).collect()
}

/// The next `day` at least two days from now.
fn next(day: Weekday) -> NaiveDate {
    let mut d = (Utc::now() + chrono::Duration::days(2)).date_naive();
    while d.weekday() != day {
        d = d.succ_opt().unwrap();
    }
    d
}

async fn worker_by_ref(stack: &Stack, external_ref: &str) -> Worker {
    stack
        .planning
        .clone()
        .list_workers(stack.admin(relais_proto::planning::ListWorkersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .workers
        .into_iter()
        .find(|w| w.fields.as_ref().unwrap().external_ref == external_ref)
        .unwrap_or_else(|| panic!("no worker from employee {external_ref}"))
}

/// A customer's own booking of `service` on `day` at 10:00 for two hours,
/// any qualified worker.
fn booking(customer: &str, service: &str, day: NaiveDate) -> PlaceBookingRequest {
    PlaceBookingRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        service_id: service.into(),
        schedule: Some(Schedule {
            first_date: day.format("%Y-%m-%d").to_string(),
            start_time: "10:00".into(),
            duration_minutes: 120,
            ..Default::default()
        }),
        payment_mode: PaymentMode::Card as i32,
        terms_accepted: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn erp_workers_get_the_erps_availability_or_the_opening_hours_and_can_be_booked() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let service = stack.service("MENAGE").await;
    let erp = stack.erp();
    let tariff = erp
        .upsert(
            "tariff",
            None,
            "tariff-menage",
            &fields(json!({ "name": "Ménage" })),
        )
        .await
        .unwrap()
        .id;
    stack
        .connector
        .clone()
        .set_tariff_mapping(stack.admin(SetTariffMappingRequest {
            connection_id: connection.clone(),
            service_id: service.clone(),
            tariff_id: tariff.clone(),
        }))
        .await
        .unwrap();
    // Léa's record carries no hours; Inès's says Saturday mornings.
    let lea = erp
        .upsert(
            "employee",
            None,
            "erp-lea",
            &fields(json!({ "first_name": "Léa", "last_name": "Moreau",
                            "tariffs": [tariff], "active": true })),
        )
        .await
        .unwrap();
    let ines = erp
        .upsert(
            "employee",
            None,
            "erp-ines",
            &fields(json!({ "first_name": "Inès", "last_name": "Roux",
                            "tariffs": [tariff], "active": true,
                            "availability": [{ "weekday": 6, "start": "09:00", "end": "12:00" }] })),
        )
        .await
        .unwrap();

    let run = stack.run(&connection, "workers").await;
    assert_eq!((run.applied, run.failed), (2, 0), "{run:?}");

    let lea_worker = worker_by_ref(&stack, &lea.id).await;
    let f = lea_worker.fields.clone().unwrap();
    assert_eq!(f.availability, mon_to_fri_8_to_19(), "the opening hours");
    assert_eq!(f.availability_source(), AvailabilitySource::OpeningHours);
    let f = worker_by_ref(&stack, &ines.id).await.fields.unwrap();
    assert_eq!(f.availability, vec![slot(6, "09:00", "12:00")], "the ERP's");
    assert_eq!(f.availability_source(), AvailabilitySource::Erp);

    // A customer's booking on a weekday is accepted and assigned to Léa;
    // on a Sunday nobody works, and it is refused.
    let paul = stack.customer("Durand").await;
    let paul_token = testing::token_with(&Claims {
        sub: "paul".into(),
        tenant: stack.tenant,
        role: Role::Customer,
        customer_id: Some(paul.parse().unwrap()),
        residences: vec![],
        connection: None,
        exp: Utc::now().timestamp() + 600,
    });
    let mut orders = stack.orders.clone();
    let err = orders
        .place_booking(with_token(
            &paul_token,
            booking(&paul, &service, next(Weekday::Sun)),
        ))
        .await
        .expect_err("nobody works on Sundays");
    assert_bad_field(&err, "schedule");
    let order = orders
        .place_booking(with_token(
            &paul_token,
            booking(&paul, &service, next(Weekday::Tue)),
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    orders
        .change_order_status(stack.admin(relais_proto::orders::ChangeOrderStatusRequest {
            id: order.id.clone(),
            status: relais_proto::orders::OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    let assigned = testing::eventually(Duration::from_secs(15), || async {
        stack
            .planning
            .clone()
            .list_interventions(stack.admin(ListInterventionsRequest {
                order_id: order.id.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .interventions
            .pop()
            .map(|i| i.worker_id)
    })
    .await;
    assert_eq!(
        assigned.as_deref(),
        Some(lea_worker.id.as_str()),
        "assigned to Léa"
    );

    // Staff editing Léa's phone only leaves her hours' source as it was.
    let mut edited = lea_worker.fields.clone().unwrap();
    edited.phone = "+33 6 00 00 00 02".into();
    let lea_worker = stack
        .planning
        .clone()
        .update_worker(stack.admin(UpdateWorkerRequest {
            id: lea_worker.id.clone(),
            expected_version: lea_worker.version,
            fields: Some(edited),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap();
    assert_eq!(
        lea_worker.fields.unwrap().availability_source(),
        AvailabilitySource::OpeningHours
    );

    // Hours the ERP sends later replace the opening hours.
    erp.upsert(
        "employee",
        Some(&lea.id),
        "",
        &fields(json!({ "availability": [{ "weekday": 3, "start": "14:00", "end": "18:00" }] })),
    )
    .await
    .unwrap();
    let run = stack.run(&connection, "workers").await;
    assert_eq!(run.failed, 0, "{run:?}");
    // Taken by the pull, or already by the push of the shop's phone edit
    // if it ran after the ERP's (each reads both sides whole).
    let f = testing::eventually(Duration::from_secs(15), || async {
        let f = worker_by_ref(&stack, &lea.id).await.fields.unwrap();
        (f.availability_source() == AvailabilitySource::Erp).then_some(f)
    })
    .await
    .expect("the ERP's hours reach the shop");
    assert_eq!(f.availability, vec![slot(3, "14:00", "18:00")]);
}

#[tokio::test]
async fn hours_set_in_the_shop_for_an_erp_worker_stay_until_the_erp_sends_its_own() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let erp = stack.erp();
    let lea = erp
        .upsert(
            "employee",
            None,
            "erp-lea",
            &fields(json!({ "first_name": "Léa", "last_name": "Moreau", "active": true })),
        )
        .await
        .unwrap();
    stack.run(&connection, "workers").await;
    let worker = worker_by_ref(&stack, &lea.id).await;
    let mut f = worker.fields.clone().unwrap();
    f.availability = vec![slot(7, "10:00", "12:00")];
    let worker = stack
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
        .unwrap();
    assert_eq!(
        worker.fields.unwrap().availability_source(),
        AvailabilitySource::Shop
    );

    // An ERP edit without hours keeps the shop's.
    erp.upsert(
        "employee",
        Some(&lea.id),
        "",
        &fields(json!({ "phone": "+33 6 00 00 00 03" })),
    )
    .await
    .unwrap();
    let run = stack.run(&connection, "workers").await;
    assert_eq!(run.failed, 0, "{run:?}");
    let f = worker_by_ref(&stack, &lea.id).await.fields.unwrap();
    assert_eq!(f.phone, "+33 6 00 00 00 03");
    assert_eq!(f.availability, vec![slot(7, "10:00", "12:00")]);
    assert_eq!(f.availability_source(), AvailabilitySource::Shop);
}
