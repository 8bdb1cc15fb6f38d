//! Seed 002: a customer buys an hour pack and pays it at order (billing
//! invoices it), then books with it: the pack's ledger counts the time
//! planned, refuses what it cannot hold, takes back a cancelled booking's
//! time; the customer reads their own pack only; subscribers see it opened,
//! exhausted and reopened.

use std::time::Duration;

use chrono::{Datelike, Days, Utc};
use prost::Message;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    catalogue::CreateHourPackRequest,
    events::PackChanged,
    orders::{
        Order, PaymentMode, PlaceBookingRequest, PlaceHourPackOrderRequest, Recurrence, Schedule,
    },
    planning::{
        GetPackBalanceRequest, Intervention, InterventionStatus, ListInterventionsRequest,
        ListPackBalancesRequest, PackBalance, PackStatus,
    },
};
use tonic::Code;
use uuid::Uuid;

use crate::support::{Relais, eur, spawn_with_billing};

fn monday_in(weeks: u64) -> chrono::NaiveDate {
    let d = Utc::now().date_naive() + Days::new(7 * weeks);
    d + Days::new(u64::from((7 - d.weekday().num_days_from_monday()) % 7))
}

/// A booking paid with the pack: `count` Mondays at 10:00 from `weeks`
/// from now, `minutes` long.
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
            first_date: monday_in(weeks).to_string(),
            start_time: "10:00".into(),
            duration_minutes: minutes,
            recurrence: Some(Recurrence {
                interval_weeks: 1,
                weekdays: vec![1],
                count,
                ..Default::default()
            }),
            ..Default::default()
        }),
        payment_mode: PaymentMode::HourPack as i32,
        hour_pack_order_id: pack.into(),
        terms_accepted: true,
        ..Default::default()
    }
}

/// The order's interventions once `n` of them are `status`.
async fn interventions(
    stack: &Relais,
    order: &str,
    n: usize,
    status: InterventionStatus,
) -> Vec<Intervention> {
    testing::eventually(Duration::from_secs(15), || async {
        let list = stack
            .planning()
            .list_interventions(stack.admin(ListInterventionsRequest {
                order_id: order.into(),
                ..Default::default()
            }))
            .await
            .ok()?
            .into_inner()
            .interventions;
        (list.iter().filter(|i| i.status == status as i32).count() == n).then_some(list)
    })
    .await
    .unwrap_or_else(|| panic!("order {order}: expected {n} {status:?}"))
}

/// A booking placed by the customer (`token`), then confirmed.
async fn book(
    stack: &Relais,
    token: &str,
    req: PlaceBookingRequest,
) -> Result<Order, tonic::Status> {
    let order = stack
        .orders()
        .place_booking(with_token(token, req))
        .await?
        .into_inner()
        .order
        .unwrap();
    Ok(stack.confirm(&order.id).await)
}

async fn balance(stack: &Relais, pack: &str) -> PackBalance {
    stack
        .planning()
        .get_pack_balance(stack.admin(GetPackBalanceRequest {
            pack_order_id: pack.into(),
        }))
        .await
        .expect("balance")
        .into_inner()
        .balance
        .unwrap()
}

#[tokio::test]
async fn a_pack_counts_planned_time_and_is_never_over_planned() {
    let stack = spawn_with_billing(relais_testkit::Stack::builder().orders()).await;
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    stack.shop_worker("Awa", "Diallo", &cleaning).await;
    let paul = stack
        .customer("Paul", "Durand", "paul@example.org", "pm_card_visa")
        .await;
    let me = relais_testkit::sign(&Claims {
        sub: "paul".into(),
        customer_id: Some(Uuid::parse_str(&paul).unwrap()),
        ..stack.claims(Role::Customer)
    });
    let five_hours = stack
        .catalogue()
        .create_hour_pack(stack.admin(CreateHourPackRequest {
            idempotency_key: String::new(),
            name: "5 h de ménage".into(),
            duration_minutes: 300,
            price: eur(11_000),
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
    // Paul buys it; it is paid at order, and invoiced so.
    let pack = stack
        .orders()
        .place_hour_pack_order(with_token(
            &me,
            PlaceHourPackOrderRequest {
                idempotency_key: String::new(),
                customer_id: paul.clone(),
                hour_pack_id: five_hours,
                terms_accepted: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(pack.payment_mode, PaymentMode::Card as i32, "paid at order");
    let pack = stack.confirm(&pack.id).await.id;
    let invoice = stack.invoices(&paul, 1).await.remove(0);
    assert_eq!(invoice.order_id, pack);
    assert!(invoice.paid_at_order);
    // 110.00 at the service's 10 % VAT.
    assert_eq!(invoice.total_incl_vat, eur(12_100));

    // Paul books two Mondays of 2 h: 240 of 300 minutes planned.
    let with_pack = |weeks: u64, count: i32, minutes: i32| {
        book(
            &stack,
            &me,
            pack_booking(&paul, &cleaning, &pack, weeks, count, minutes),
        )
    };
    let regular = with_pack(2, 2, 120).await.expect("booked with the pack");
    interventions(&stack, &regular.id, 2, InterventionStatus::Planned).await;
    let b = balance(&stack, &pack).await;
    assert_eq!(
        (b.bought, b.planned, b.consumed, b.remaining),
        (300, 240, 0, 60)
    );
    assert_eq!(b.status, PackStatus::Open as i32);

    // One more hour uses it up; the hour after that is refused when placed
    // (orders asks the ledger), never planned for free.
    let last_hour = with_pack(5, 1, 60).await.expect("booked with the pack");
    let attached = interventions(&stack, &last_hour.id, 1, InterventionStatus::Planned).await;
    assert_eq!(attached[0].hour_pack_order_id, pack);
    let err = with_pack(6, 1, 60).await.expect_err("the pack is used up");
    assert!(
        err.message()
            .contains("the pack \"5 h de ménage\" is used up"),
        "{}",
        err.message()
    );
    let b = balance(&stack, &pack).await;
    assert_eq!((b.planned, b.remaining), (300, 0));
    assert_eq!(b.status, PackStatus::Exhausted as i32);

    // Cancelling the last hour gives it back.
    stack.cancel(&last_hour.id, "holiday").await;
    interventions(&stack, &last_hour.id, 1, InterventionStatus::Cancelled).await;
    let b = balance(&stack, &pack).await;
    assert_eq!((b.planned, b.remaining), (240, 60));
    assert_eq!(b.status, PackStatus::Open as i32);

    // The interventions behind it; the customer reads their own packs only.
    let full = stack
        .planning()
        .get_pack_balance(stack.admin(GetPackBalanceRequest {
            pack_order_id: pack.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.interventions.len(), 2);
    let mine = stack
        .planning()
        .list_pack_balances(with_token(&me, ListPackBalancesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .balances;
    assert_eq!(mine.len(), 1);
    let stranger = relais_testkit::sign(&Claims {
        sub: "x".into(),
        customer_id: Some(Uuid::now_v7()),
        ..stack.claims(Role::Customer)
    });
    let err = stack
        .planning()
        .get_pack_balance(with_token(
            &stranger,
            GetPackBalanceRequest {
                pack_order_id: pack.clone(),
            },
        ))
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound);

    // Subscribers: opened, exhausted, reopened (among the worker and the
    // interventions: 9 events).
    let events = testing::read_stream(
        &stack.jetstream().await,
        &stack.ns.stream("planning"),
        9,
        Duration::from_secs(15),
    )
    .await
    .unwrap();
    let packs: Vec<(String, i32)> = events
        .iter()
        .filter_map(|m| {
            let name = m.subject.splitn(5, '.').nth(4).unwrap_or_default();
            name.starts_with("pack.").then(|| {
                let e = PackChanged::decode(m.payload.as_ref()).unwrap();
                (name.to_owned(), e.balance.unwrap().remaining)
            })
        })
        .collect();
    assert_eq!(
        packs,
        [
            ("pack.opened".to_owned(), 300),
            ("pack.exhausted".to_owned(), 0),
            ("pack.reopened".to_owned(), 60)
        ]
    );
}
