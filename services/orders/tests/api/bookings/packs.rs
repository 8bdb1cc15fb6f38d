//! Hour packs paying for bookings: a paid pack pays for its services'
//! bookings, never for more than it has left, even when bookings race for
//! its last hours.

use chrono::Days;
use prost::Message;
use relais_proto::{
    events::OrderStatusChanged,
    orders::{
        ChangeOrderStatusRequest, OrderStatus, PaymentMode, PlaceHourPackOrderRequest, Recurrence,
    },
    planning::{GetPackBalanceRequest, PackBalance, PackStatus},
};
use uuid::Uuid;

use super::{booking, bookings_of, confirm, monday_in, one_time};
use crate::helpers::*;

#[tokio::test]
async fn a_paid_hour_pack_pays_for_bookings_of_its_services() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 2000, true).await;
    let cleaning = app.service("MENAGE", 2500, 2000, true).await;
    let ten_hours = app
        .hour_pack("10 h de repassage", 600, 22_000, &[&ironing])
        .await;
    let paul = app.customer(online("Durand")).await;
    // Someone to come (bookings nobody can take are refused).
    app.worker("Diallo", &[&ironing, &cleaning], true).await;

    let buy = PlaceHourPackOrderRequest {
        idempotency_key: "pack-1".into(),
        customer_id: paul.clone(),
        hour_pack_id: ten_hours.clone(),
        terms_accepted: true,
        ..Default::default()
    };
    let pack_order = app
        .client
        .place_hour_pack_order(app.as_customer(&paul, buy))
        .await
        .expect("bought")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(pack_order.kind, "hour_pack");
    assert_eq!(
        pack_order.payment_mode,
        PaymentMode::Card as i32,
        "paid at order"
    );
    let pack = pack_order.hour_pack.clone().unwrap();
    assert_eq!(
        (pack.duration_minutes, pack.eligible_service_ids.clone()),
        (600, vec![ironing.clone()])
    );
    // 220.00 excl. VAT at the services' 20 %.
    assert_eq!(pack_order.total_excl_vat, eur(22_000));
    assert_eq!(pack_order.total_incl_vat, eur(26_400));

    let day = monday_in(1);
    let with_pack = |service: &str, minutes: i32| {
        let mut b = booking(&paul, service, one_time(day, "10:00", minutes));
        b.payment_mode = PaymentMode::HourPack as i32;
        b.hour_pack_order_id = pack_order.id.clone();
        b
    };
    // Not paid yet.
    let err = app
        .client
        .place_booking(app.as_customer(&paul, with_pack(&ironing, 120)))
        .await
        .expect_err("unpaid pack");
    assert_bad_field(&err, "hour_pack_order_id");
    assert!(err.message().contains("placed"), "{}", err.message());

    // The payment is taken (billing confirms the order).
    let confirm = ChangeOrderStatusRequest {
        id: pack_order.id.clone(),
        status: OrderStatus::Confirmed as i32,
        ..Default::default()
    };
    app.client
        .change_order_status(app.admin(confirm))
        .await
        .expect("paid");

    // Cleaning is not in the pack; 11 h is more than it holds.
    let err = app
        .client
        .place_booking(app.as_customer(&paul, with_pack(&cleaning, 120)))
        .await
        .expect_err("ineligible");
    assert_bad_field(&err, "hour_pack_order_id");
    assert!(
        err.message().contains("does not cover MENAGE"),
        "{}",
        err.message()
    );
    let err = app
        .client
        .place_booking(app.as_customer(&paul, with_pack(&ironing, 660)))
        .await
        .expect_err("too long");
    assert!(err.message().contains("needs 11 h"), "{}", err.message());

    // Someone else cannot spend Paul's pack.
    let other = app.customer(online("Autre")).await;
    let mut theirs = with_pack(&ironing, 60);
    theirs.customer_id = other.clone();
    let err = app
        .client
        .place_booking(app.as_customer(&other, theirs))
        .await
        .expect_err("not theirs");
    assert_bad_field(&err, "hour_pack_order_id");

    let booked = app
        .client
        .place_booking(app.as_customer(&paul, with_pack(&ironing, 120)))
        .await
        .expect("paid with the pack")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        booked.total_incl_vat,
        eur(0),
        "the hours were paid with the pack"
    );
    assert_eq!(booked.booking.unwrap().hour_pack_order_id, pack_order.id);
    assert_eq!(booked.payment_mode, PaymentMode::HourPack as i32);

    // A later booking with no payment mode attaches to the open pack by
    // itself (seed 002), once planning has opened its balance.
    let mut later = booking(&paul, &ironing, one_time(day, "15:00", 60));
    later.payment_mode = PaymentMode::Unspecified as i32;
    let auto = relais_platform::testing::eventually(std::time::Duration::from_secs(10), || {
        let mut client = app.client.clone();
        let mut req = later.clone();
        req.idempotency_key = Uuid::now_v7().to_string();
        let req = app.as_customer(&paul, req);
        async move { client.place_booking(req).await.ok() }
    })
    .await
    .expect("attached to the pack")
    .into_inner()
    .order
    .unwrap();
    assert_eq!(auto.payment_mode, PaymentMode::HourPack as i32);
    assert_eq!(auto.booking.unwrap().hour_pack_order_id, pack_order.id);
    assert_eq!(auto.total_incl_vat, eur(0));

    // An undeclared payment mode is refused, not read as "unspecified"
    // (which would have the open pack pay).
    let mut unknown = later.clone();
    unknown.idempotency_key = Uuid::now_v7().to_string();
    unknown.payment_mode = 99;
    let err = app
        .client
        .place_booking(app.as_customer(&paul, unknown))
        .await
        .expect_err("payment mode 99");
    assert_bad_field(&err, "payment_mode");

    // A subscriber saw the purchase, its confirmation and the booking.
    let messages = app.messages(6).await;
    let confirmed = messages
        .iter()
        .find(|m| m.subject.ends_with(".order.confirmed"))
        .expect("order.confirmed");
    let event = OrderStatusChanged::decode(confirmed.payload.as_ref()).unwrap();
    assert_eq!(event.from, OrderStatus::Placed as i32);
    assert_eq!(
        event.order.unwrap().hour_pack.unwrap().hour_pack_id,
        ten_hours
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.subject.ends_with(".order.placed"))
            .count(),
        3
    );
}

/// Buys `pack` for `customer` and has it paid (confirmed), as billing does.
async fn paid_pack(app: &mut TestApp, customer: &str, pack: &str) -> String {
    let buy = PlaceHourPackOrderRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        hour_pack_id: pack.into(),
        terms_accepted: true,
        ..Default::default()
    };
    let id = app
        .client
        .place_hour_pack_order(app.as_customer(customer, buy))
        .await
        .expect("bought")
        .into_inner()
        .order
        .unwrap()
        .id;
    confirm(app, &id).await;
    id
}

/// The ledger's balance of `pack_order` once `planned` minutes are planned
/// on it (or as it is after 10 s).
async fn ledger_when_planned(app: &TestApp, pack_order: &str, planned: i32) -> PackBalance {
    let read = || async {
        let req = app.admin(GetPackBalanceRequest {
            pack_order_id: pack_order.into(),
        });
        app.planning
            .clone()
            .get_pack_balance(req)
            .await
            .ok()
            .and_then(|r| r.into_inner().balance)
    };
    let found =
        relais_platform::testing::eventually(std::time::Duration::from_secs(10), || async {
            read().await.filter(|b| b.planned == planned)
        })
        .await;
    match found {
        Some(b) => b,
        None => read().await.unwrap_or_default(),
    }
}

#[tokio::test]
async fn a_pack_never_pays_for_more_than_it_has_left() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 2000, true).await;
    let ten_hours = app
        .hour_pack("10 h de repassage", 600, 22_000, &[&ironing])
        .await;
    let paul = app.customer(online("Durand")).await;
    app.worker("Diallo", &[&ironing], true).await;
    let pack = paid_pack(&mut app, &paul, &ten_hours).await;
    let day = monday_in(1);
    let with_pack = |start: &str, minutes: i32| {
        let mut b = booking(&paul, &ironing, one_time(day, start, minutes));
        b.payment_mode = PaymentMode::HourPack as i32;
        b.hour_pack_order_id = pack.clone();
        b
    };

    // 1 h 30 of it booked, confirmed and planned: 8 h 30 left.
    let first = app
        .client
        .place_booking(app.as_customer(&paul, with_pack("08:00", 90)))
        .await
        .expect("paid with the pack")
        .into_inner()
        .order
        .unwrap();
    confirm(&app, &first.id).await;
    let ledger = ledger_when_planned(&app, &pack, 90).await;
    assert_eq!((ledger.planned, ledger.remaining), (90, 510));

    // 10 h on it: refused, saying what is left, and nothing is placed.
    let err = app
        .client
        .place_booking(app.as_customer(&paul, with_pack("10:00", 600)))
        .await
        .expect_err("more than the pack has left");
    assert_bad_field(&err, "hour_pack_order_id");
    assert!(
        err.message().contains("needs 10 h") && err.message().contains("8 h 30 left"),
        "{}",
        err.message()
    );
    // With no payment mode the pack does not pay either, and the customer
    // is told why.
    let mut auto = with_pack("10:00", 600);
    auto.payment_mode = PaymentMode::Unspecified as i32;
    auto.hour_pack_order_id = String::new();
    let err = app
        .client
        .place_booking(app.as_customer(&paul, auto))
        .await
        .expect_err("no pack holds 10 h");
    assert_bad_field(&err, "payment_mode");
    assert!(err.message().contains("8 h 30 left"), "{}", err.message());

    // A booking placed but not confirmed yet holds its hours too: 8 h of
    // it leave 30 min for anything else.
    app.client
        .place_booking(app.as_customer(&paul, with_pack("10:00", 480)))
        .await
        .expect("8 h fit");
    let err = app
        .client
        .place_booking(app.as_customer(&paul, with_pack("19:00", 60)))
        .await
        .expect_err("30 min left");
    assert!(err.message().contains("30 min left"), "{}", err.message());

    // A series whose total is beyond what is left is refused whole.
    let mut weekly = one_time(monday_in(2), "09:00", 30);
    weekly.recurrence = Some(Recurrence {
        interval_weeks: 1,
        weekdays: vec![1],
        end_date: String::new(),
        count: 2,
        interval_months: 0,
    });
    let mut series = booking(&paul, &ironing, weekly);
    series.payment_mode = PaymentMode::HourPack as i32;
    series.hour_pack_order_id = pack.clone();
    let err = app
        .client
        .place_booking(app.as_customer(&paul, series))
        .await
        .expect_err("2 × 30 min > 30 min");
    assert_bad_field(&err, "hour_pack_order_id");
    assert!(
        err.message().contains("needs 1 h") && err.message().contains("30 min left"),
        "{}",
        err.message()
    );

    // Two bookings placed (the refused ones are not), and once confirmed
    // the ledger has every minute of them on the pack, none beyond it.
    let placed = bookings_of(&app, &paul).await;
    assert_eq!(placed.len(), 2, "the refused bookings were not placed");
    for o in placed
        .iter()
        .filter(|o| o.status == OrderStatus::Placed as i32)
    {
        confirm(&app, &o.id).await;
    }
    let ledger = ledger_when_planned(&app, &pack, 570).await;
    assert_eq!((ledger.planned, ledger.remaining), (570, 30));
    assert_eq!(ledger.drawn_order_ids.len(), 2);
}

#[tokio::test]
async fn bookings_racing_for_a_packs_last_hours_never_both_get_them() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 2000, true).await;
    let ten_hours = app
        .hour_pack("10 h de repassage", 600, 22_000, &[&ironing])
        .await;
    let paul = app.customer(online("Durand")).await;
    app.worker("Diallo", &[&ironing], true).await;
    let pack = paid_pack(&mut app, &paul, &ten_hours).await;

    // Eight bookings of 2 h at once, on eight days: the pack holds five.
    let attempts = (0..8u64).map(|i| {
        let mut b = booking(
            &paul,
            &ironing,
            one_time(monday_in(1) + Days::new(i), "09:00", 120),
        );
        b.payment_mode = PaymentMode::HourPack as i32;
        b.hour_pack_order_id = pack.clone();
        let mut client = app.client.clone();
        let req = app.as_customer(&paul, b);
        async move { client.place_booking(req).await }
    });
    let results = futures::future::join_all(attempts).await;
    let accepted: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(accepted.len(), 5, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_bad_field(refused, "hour_pack_order_id");
    }
    for o in accepted {
        confirm(&app, &o.get_ref().order.as_ref().unwrap().id).await;
    }
    let ledger = ledger_when_planned(&app, &pack, 600).await;
    assert_eq!((ledger.planned, ledger.remaining), (600, 0));
    assert_eq!(ledger.status, PackStatus::Exhausted as i32);
}
