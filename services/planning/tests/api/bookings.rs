//! From orders to planning: a confirmed booking becomes interventions
//! assigned without double booking; redelivery plans nothing twice; a
//! cancelled booking cancels what is still to come.

use std::time::Duration;

use chrono::{Datelike, Days, TimeZone, Utc};
use prost::Message;
use relais_platform::testing;
use relais_proto::{
    events::{InterventionChanged, OrderStatusChanged},
    orders::{
        ChangeOrderStatusRequest, Order, OrderStatus, PaymentMode, PlaceBookingRequest, Recurrence,
        Schedule,
    },
    planning::{Intervention, InterventionStatus, ListInterventionsRequest},
};
use uuid::Uuid;

use crate::helpers::*;

/// The Monday at least `weeks` weeks from today.
fn monday_in(weeks: u64) -> chrono::NaiveDate {
    let d = Utc::now().date_naive() + Days::new(7 * weeks);
    d + Days::new(u64::from((7 - d.weekday().num_days_from_monday()) % 7))
}

pub async fn book_and_confirm(stack: &Stack, customer: &str, service: &str, worker: &str) -> Order {
    book_at(stack, customer, service, worker, "09:00").await
}

/// Three Mondays from the Monday in two weeks, 2 h at `start` Paris time.
pub async fn book_at(
    stack: &Stack,
    customer: &str,
    service: &str,
    worker: &str,
    start: &str,
) -> Order {
    let req = PlaceBookingRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        service_id: service.into(),
        schedule: Some(Schedule {
            time_zone: String::new(),
            first_date: monday_in(2).to_string(),
            start_time: start.into(),
            duration_minutes: 120,
            recurrence: Some(Recurrence {
                interval_weeks: 1,
                weekdays: vec![1],
                end_date: String::new(),
                count: 3,
                interval_months: 0,
            }),
        }),
        worker_id: worker.into(),
        payment_mode: PaymentMode::Invoice as i32,
        terms_accepted: true,
        // The office's booking: occurrences the worker cannot take are
        // placed anyway (orders would refuse them otherwise), for planning
        // to leave unassigned with the reason.
        allow_unassigned: true,
        ..Default::default()
    };
    let mut orders = stack.orders.clone();
    let order = orders
        .place_booking(stack.admin(req))
        .await
        .expect("booked")
        .into_inner()
        .order
        .unwrap();
    orders
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: order.id.clone(),
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .expect("confirmed")
        .into_inner()
        .order
        .unwrap()
}

/// The order's interventions once there are `n` with `status`.
pub async fn interventions(
    stack: &Stack,
    order: &str,
    n: usize,
    status: InterventionStatus,
) -> Vec<Intervention> {
    let list = || async {
        stack
            .planning
            .clone()
            .list_interventions(stack.admin(ListInterventionsRequest {
                order_id: order.into(),
                ..Default::default()
            }))
            .await
            .ok()
            .map(|r| r.into_inner().interventions)
    };
    let got = testing::eventually(Duration::from_secs(15), || async {
        list()
            .await
            .filter(|l| l.iter().filter(|i| i.status == status as i32).count() == n)
    })
    .await;
    match got {
        Some(l) => l,
        None => panic!(
            "order {order}: expected {n} {status:?}, got {:?}",
            list().await
        ),
    }
}

#[tokio::test]
async fn confirmed_bookings_become_interventions_without_double_booking() {
    let stack = spawn().await;
    let cleaning = stack.service("MENAGE").await;
    let awa = stack.worker("Diallo", &[&cleaning]).await;
    let marc = stack.worker("Petit", &[&cleaning]).await;
    let paul = stack.customer("Durand").await;
    let jeanne = stack.customer("Martin").await;

    // Paul chose Awa: three Mondays at 9:00 Paris time, with her.
    let first = book_and_confirm(&stack, &paul, &cleaning, &awa).await;
    let planned = interventions(&stack, &first.id, 3, InterventionStatus::Planned).await;
    for (n, i) in planned.iter().enumerate() {
        assert_eq!(i.occurrence, n as i32 + 1);
        assert_eq!(i.worker_id, awa);
        assert_eq!(i.customer_id, paul);
        let start = chrono_tz::Europe::Paris
            .timestamp_opt(i.start.unwrap().seconds, 0)
            .unwrap();
        assert_eq!(start.format("%A %H:%M").to_string(), "Monday 09:00");
        assert_eq!(i.end.unwrap().seconds - i.start.unwrap().seconds, 7200);
        assert_eq!(i.address.as_ref().unwrap().city, "Lyon");
    }

    // Jeanne wants anyone at the same times: Awa is booked, Marc gets them.
    let second = book_and_confirm(&stack, &jeanne, &cleaning, "").await;
    let planned = interventions(&stack, &second.id, 3, InterventionStatus::Planned).await;
    assert!(planned.iter().all(|i| i.worker_id == marc), "{planned:?}");

    // Someone insists on Awa at the same times: planned, but unassigned,
    // with the reason; Awa is never booked twice.
    let third = book_and_confirm(&stack, &jeanne, &cleaning, &awa).await;
    let planned = interventions(&stack, &third.id, 3, InterventionStatus::Planned).await;
    for i in &planned {
        assert_eq!(i.worker_id, "");
        assert_eq!(
            i.unassigned_reason,
            "the chosen worker is already booked at that time"
        );
    }

    // The confirmation delivered again under another event id (a replay
    // from the ERP side, say) plans nothing twice.
    let confirmed = testing::read_stream(
        &async_nats::jetstream::new(testing::nats_client().await),
        &stack.ns.stream("orders"),
        1,
        Duration::from_secs(5),
    )
    .await
    .unwrap()
    .into_iter()
    .find(|m| {
        m.subject.ends_with(".order.confirmed")
            && OrderStatusChanged::decode(m.payload.as_ref())
                .unwrap()
                .order
                .is_some_and(|o| o.id == first.id)
    })
    .unwrap();
    stack
        .publish(
            confirmed.subject.to_string(),
            Uuid::now_v7(),
            confirmed.payload.to_vec(),
        )
        .await;

    // Cancelling Paul's booking cancels his interventions still to come.
    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: first.id.clone(),
            status: OrderStatus::Cancelled as i32,
            reason: "moving out".into(),
            ..Default::default()
        }))
        .await
        .expect("cancelled");
    let cancelled = interventions(&stack, &first.id, 3, InterventionStatus::Cancelled).await;
    assert_eq!(cancelled.len(), 3, "still three: the replay added none");

    // A subscriber saw 9 planned and 3 cancelled, each once.
    let events = stack.events(12).await;
    let count = |name: &str| events.iter().filter(|(n, _)| n == name).count();
    assert_eq!(count("intervention.planned"), 9);
    assert_eq!(count("intervention.cancelled"), 3);
    let (_, payload) = events
        .iter()
        .find(|(n, _)| n == "intervention.cancelled")
        .unwrap();
    let e = InterventionChanged::decode(payload.as_ref()).unwrap();
    assert_eq!(e.intervention.unwrap().order_id, first.id);
    assert_eq!(e.meta.unwrap().actor, format!("order:{}", first.id));

    // Paul reads his own interventions; not Jeanne's.
    let me = stack.token(
        relais_platform::auth::Role::Customer,
        "paul",
        Some(Uuid::parse_str(&paul).unwrap()),
    );
    let mine = stack
        .planning
        .clone()
        .list_interventions(with_token(&me, ListInterventionsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .interventions;
    assert_eq!(mine.len(), 3);
    let err = stack
        .planning
        .clone()
        .list_interventions(with_token(
            &me,
            ListInterventionsRequest {
                customer_id: jeanne.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("someone else's");
    assert_eq!(err.code(), tonic::Code::NotFound);
}
