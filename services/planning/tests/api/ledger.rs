//! The hour-pack ledger under concurrent bookings and changes: never
//! over-planned. (A pack bought, booked with, used up and given time back,
//! end to end: `tests/e2e`.)

use chrono::{Datelike, Days, Utc};
use relais_proto::{
    catalogue::CreateHourPackRequest,
    orders::{
        ChangeOrderStatusRequest, Order, OrderStatus, PaymentMode, PlaceBookingRequest,
        PlaceHourPackOrderRequest, Recurrence, Schedule,
    },
    planning::{GetPackBalanceRequest, InterventionStatus, PackBalance},
    types::Money,
};
use tonic::Code;
use uuid::Uuid;

use crate::{bookings::interventions, helpers::*};

fn monday_in(weeks: u64) -> chrono::NaiveDate {
    let d = Utc::now().date_naive() + Days::new(7 * weeks);
    d + Days::new(u64::from((7 - d.weekday().num_days_from_monday()) % 7))
}

async fn confirm(stack: &Stack, order: &str) {
    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: order.into(),
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .expect("confirmed");
}

fn pack_booking(
    customer: &str,
    service: &str,
    pack: &str,
    weeks: u64,
    count: i32,
    minutes: i32,
) -> PlaceBookingRequest {
    PlaceBookingRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        service_id: service.into(),
        schedule: Some(Schedule {
            time_zone: String::new(),
            first_date: monday_in(weeks).to_string(),
            start_time: "10:00".into(),
            duration_minutes: minutes,
            recurrence: Some(Recurrence {
                interval_weeks: 1,
                weekdays: vec![1],
                end_date: String::new(),
                count,
                interval_months: 0,
            }),
        }),
        payment_mode: PaymentMode::HourPack as i32,
        hour_pack_order_id: pack.into(),
        terms_accepted: true,
        ..Default::default()
    }
}

async fn balance(stack: &Stack, pack: &str) -> PackBalance {
    stack
        .planning
        .clone()
        .get_pack_balance(stack.admin(GetPackBalanceRequest {
            pack_order_id: pack.into(),
        }))
        .await
        .expect("balance")
        .into_inner()
        .balance
        .unwrap()
}

/// Places a booking paid with the pack without confirming it.
async fn placed_with_pack(
    stack: &Stack,
    customer: &str,
    service: &str,
    pack: &str,
    weeks: u64,
) -> Order {
    let req = PlaceBookingRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        service_id: service.into(),
        schedule: Some(Schedule {
            time_zone: String::new(),
            first_date: monday_in(weeks).to_string(),
            start_time: "10:00".into(),
            duration_minutes: 120,
            recurrence: None,
        }),
        payment_mode: PaymentMode::HourPack as i32,
        hour_pack_order_id: pack.into(),
        terms_accepted: true,
        ..Default::default()
    };
    stack
        .orders
        .clone()
        .place_booking(stack.admin(req))
        .await
        .expect("booked")
        .into_inner()
        .order
        .unwrap()
}

#[tokio::test]
async fn concurrent_bookings_and_changes_never_over_plan_a_pack() {
    use relais_proto::planning::{
        ChangeInterventionsRequest, ChangeScope, Reschedule, change_interventions_request::Change,
    };
    let stack = spawn().await;
    let cleaning = stack.service("MENAGE").await;
    stack.worker("Diallo", &[&cleaning]).await;
    stack.worker("Petit", &[&cleaning]).await;
    let paul = stack.customer("Durand").await;
    let pack_def = stack
        .catalogue
        .clone()
        .create_hour_pack(stack.admin(CreateHourPackRequest {
            idempotency_key: String::new(),
            name: "5 h".into(),
            duration_minutes: 300,
            price: Some(Money {
                amount_cents: 11_000,
                currency: "EUR".into(),
            }),
            eligible_service_ids: vec![cleaning.clone()],
            vat_rate_bp: None,
            active_on_creation: true,
        }))
        .await
        .unwrap()
        .into_inner()
        .hour_pack
        .unwrap()
        .id;
    let pack = stack
        .orders
        .clone()
        .place_hour_pack_order(stack.admin(PlaceHourPackOrderRequest {
            idempotency_key: String::new(),
            customer_id: paul.clone(),
            hour_pack_id: pack_def,
            terms_accepted: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .id;
    confirm(&stack, &pack).await;

    // Three 2-hour bookings on a 5-hour pack: the third is refused when
    // placed (the two before it count, though not planned yet); the two,
    // confirmed at once, are both planned on the pack.
    let mut orders = Vec::new();
    for week in 2..4 {
        orders.push(placed_with_pack(&stack, &paul, &cleaning, &pack, week).await);
    }
    let err = stack
        .orders
        .clone()
        .place_booking(stack.admin(pack_booking(&paul, &cleaning, &pack, 4, 1, 120)))
        .await
        .expect_err("a third does not fit");
    assert!(err.message().contains("has 1 h left"), "{}", err.message());
    futures::future::join_all(orders.iter().map(|o| confirm(&stack, &o.id))).await;
    let mut attached = 0;
    for o in &orders {
        let i = &interventions(&stack, &o.id, 1, InterventionStatus::Planned).await[0];
        if i.hour_pack_order_id == pack {
            attached += 1;
        }
    }
    assert_eq!(attached, 2);
    let b = balance(&stack, &pack).await;
    assert_eq!((b.planned, b.remaining), (240, 60));

    // Two concurrent changes each wanting 45 more minutes of the last 60:
    // one passes, the other is refused; the pack is never over-planned.
    let paid: Vec<_> = {
        let mut v = Vec::new();
        for o in &orders {
            let i = interventions(&stack, &o.id, 1, InterventionStatus::Planned).await;
            if i[0].hour_pack_order_id == pack {
                v.push(i[0].clone());
            }
        }
        v
    };
    // A reschedule of one needs its start: keep each one's.
    let with_start = |i: &relais_proto::planning::Intervention| {
        let mut planning = stack.planning.clone();
        let req = stack.admin(ChangeInterventionsRequest {
            intervention_id: i.id.clone(),
            scope: ChangeScope::One as i32,
            expected_version: 0,
            change: Some(Change::Reschedule(Reschedule {
                start: i.start,
                local_start_time: String::new(),
                duration_minutes: 165,
            })),
        });
        async move { planning.change_interventions(req).await }
    };
    let (a, b2) = tokio::join!(with_start(&paid[0]), with_start(&paid[1]));
    let outcomes = [a.is_ok(), b2.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b2:?}");
    let refused = a.err().or(b2.err()).unwrap();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("has 15 min left"),
        "{}",
        refused.message()
    );
    let b = balance(&stack, &pack).await;
    assert_eq!((b.planned, b.remaining), (285, 15));
}
