//! Service bookings (one-time and recurring) and hour-pack purchases, as a
//! customer places them and as a subscriber sees them.

use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use prost::Message;
use relais_proto::{
    events::{OrderPlaced, OrderStatusChanged},
    orders::{
        ChangeOrderStatusRequest, ListOrdersRequest, OrderFilter, OrderStatus, PaymentMode,
        PlaceBookingRequest, PlaceHourPackOrderRequest, Recurrence, Schedule,
    },
    planning::{GetPackBalanceRequest, ListInterventionsRequest, PackBalance, PackStatus},
};
use tonic::Code;
use uuid::Uuid;

use crate::helpers::*;

/// The Monday at least `weeks` weeks from today.
fn monday_in(weeks: u64) -> NaiveDate {
    let d = Utc::now().date_naive() + Days::new(7 * weeks);
    d + Days::new(u64::from((7 - d.weekday().num_days_from_monday()) % 7))
}

fn one_time(date: NaiveDate, start: &str, minutes: i32) -> Schedule {
    Schedule {
        time_zone: String::new(),
        first_date: date.to_string(),
        start_time: start.into(),
        duration_minutes: minutes,
        recurrence: None,
    }
}

fn booking(customer: &str, service: &str, schedule: Schedule) -> PlaceBookingRequest {
    PlaceBookingRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        service_id: service.into(),
        schedule: Some(schedule),
        payment_mode: PaymentMode::Card as i32,
        terms_accepted: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_customer_books_a_one_time_and_a_recurring_service() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 1000, true).await;
    let paul = app.customer(online("Durand")).await;
    let worker = app.worker("Diallo", &[&ironing], true).await;

    // One time, 1 h 30 at 9:00 Paris time, with a chosen worker.
    let day = monday_in(2);
    let mut req = booking(&paul, &ironing, one_time(day, "09:00", 90));
    req.worker_id = worker.clone();
    req.note = "Code 1234B".into();
    // The shop showed 42.90: today's prices agree.
    req.expected_total_incl_vat = eur(4290);
    let once = app
        .client
        .place_booking(app.as_customer(&paul, req))
        .await
        .expect("booked")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(once.kind, "booking");
    assert_eq!(once.status, OrderStatus::Placed as i32);
    let b = once.booking.clone().unwrap();
    assert_eq!(b.worker_id, worker);
    assert_eq!(b.occurrences, 1);
    assert_eq!(b.service_code, "REPASSAGE");
    assert!(b.tax_credit_eligible);
    let nine_paris = chrono_tz::Europe::Paris
        .from_local_datetime(&day.and_hms_opt(9, 0, 0).unwrap())
        .single()
        .unwrap();
    assert_eq!(b.first_start.unwrap().seconds, nine_paris.timestamp());
    assert_eq!(
        once.ship_to.as_ref().unwrap().line1,
        "12 rue des Tilleuls",
        "the customer's address by default"
    );
    // 26.00 an hour for 1 h 30 = 39.00, VAT 10 % = 3.90.
    assert_eq!(once.lines.len(), 1);
    assert_eq!(once.lines[0].unit_price, eur(3900));
    assert_eq!(once.total_excl_vat, eur(3900));
    assert_eq!(once.total_incl_vat, eur(4290));

    // Every other Monday and Thursday, six times, 2 h at 14:00.
    let mut schedule = one_time(monday_in(3), "14:00", 120);
    schedule.recurrence = Some(Recurrence {
        interval_weeks: 2,
        weekdays: vec![4, 1],
        end_date: String::new(),
        count: 6,
        interval_months: 0,
    });
    let regular = app
        .client
        .place_booking(app.as_customer(&paul, booking(&paul, &ironing, schedule)))
        .await
        .expect("booked")
        .into_inner()
        .order
        .unwrap();
    let b = regular.booking.clone().unwrap();
    assert_eq!(b.occurrences, 6);
    assert_eq!(b.worker_id, "", "any qualified worker");
    // Monday of weeks 0, 2, 4 and their Thursdays: the last is 4 weeks and
    // 3 days after the first (an hour either way across a clock change).
    let span = b.last_start.unwrap().seconds - b.first_start.unwrap().seconds;
    assert!((span - 31 * 86_400).abs() <= 3600, "span {span}");
    assert_eq!(regular.lines[0].quantity, 6);
    assert_eq!(regular.lines[0].unit_price, eur(5200));
    assert_eq!(regular.total_excl_vat, eur(31_200));
    assert_eq!(regular.total_vat, eur(3120));
    let schedule = b.schedule.unwrap();
    assert_eq!(schedule.time_zone, "Europe/Paris");
    assert_eq!(schedule.recurrence.unwrap().weekdays, [1, 4]);

    // Subscribers (planning, the connector) get the whole booking.
    let events: Vec<OrderPlaced> = app
        .messages(2)
        .await
        .into_iter()
        .filter(|m| m.subject.ends_with(".order.placed"))
        .map(|m| OrderPlaced::decode(m.payload.as_ref()).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].order.as_ref(), Some(&once));
    assert_eq!(events[1].order.as_ref(), Some(&regular));
}

#[tokio::test]
async fn bookings_that_cannot_happen_are_refused_with_the_field() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 1000, true).await;
    let stopped = app.service("JARDIN", 3000, 2000, false).await;
    let gloves = app.product("ENT-001", 1190, 60, true).await;
    let paul = app.customer(online("Durand")).await;
    let day = monday_in(1);

    let mut cases: Vec<(PlaceBookingRequest, &str)> = Vec::new();
    let yesterday = Utc::now().date_naive() - Days::new(1);
    cases.push((
        booking(&paul, &ironing, one_time(yesterday, "10:00", 60)),
        "schedule.first_date",
    ));
    let mut no_weekday = one_time(day, "10:00", 60);
    no_weekday.recurrence = Some(Recurrence {
        interval_weeks: 1,
        weekdays: vec![],
        end_date: String::new(),
        count: 4,
        interval_months: 0,
    });
    cases.push((
        booking(&paul, &ironing, no_weekday),
        "schedule.recurrence.weekdays",
    ));
    let mut endless = one_time(day, "10:00", 60);
    endless.recurrence = Some(Recurrence {
        interval_weeks: 1,
        weekdays: vec![2],
        end_date: String::new(),
        count: 0,
        interval_months: 0,
    });
    cases.push((booking(&paul, &ironing, endless), "schedule.recurrence"));
    // A Monday-only series between a Tuesday and the Friday after.
    let mut empty = one_time(day + Days::new(1), "10:00", 60);
    empty.recurrence = Some(Recurrence {
        interval_weeks: 1,
        weekdays: vec![1],
        end_date: (day + Days::new(4)).to_string(),
        count: 0,
        interval_months: 0,
    });
    cases.push((booking(&paul, &ironing, empty), "schedule.recurrence"));
    cases.push((
        booking(&paul, &ironing, one_time(day, "10:00", 10)),
        "schedule.duration_minutes",
    ));
    cases.push((
        booking(&paul, &stopped, one_time(day, "10:00", 60)),
        "service_id",
    ));
    cases.push((
        booking(&paul, &gloves, one_time(day, "10:00", 60)),
        "service_id",
    ));
    cases.push((
        booking(
            &paul,
            &Uuid::now_v7().to_string(),
            one_time(day, "10:00", 60),
        ),
        "service_id",
    ));
    let mut terms = booking(&paul, &ironing, one_time(day, "10:00", 60));
    terms.terms_accepted = false;
    cases.push((terms, "terms_accepted"));
    let mut pack_mode = booking(&paul, &ironing, one_time(day, "10:00", 60));
    pack_mode.payment_mode = PaymentMode::HourPack as i32;
    cases.push((pack_mode, "hour_pack_order_id"));
    let mut monthly = booking(&paul, &ironing, one_time(day, "10:00", 60));
    monthly.payment_mode = PaymentMode::ResidenceMonthly as i32;
    cases.push((monthly, "payment_mode"));

    // The chosen worker must exist, be active and do the service (planning).
    let cleaner = app.worker("Menage", &[&stopped], true).await;
    let away = app.worker("Parti", &[&ironing], false).await;
    let free = app.worker("Libre", &[&ironing], true).await;
    for worker in [cleaner, away, Uuid::now_v7().to_string()] {
        let mut req = booking(&paul, &ironing, one_time(day, "10:00", 60));
        req.worker_id = worker;
        cases.push((req, "worker_id"));
    }
    // Free every day 7:00-21:00 only: not at 21:30.
    let mut late = booking(&paul, &ironing, one_time(day, "21:30", 60));
    late.worker_id = free;
    cases.push((late, "worker_id"));
    // No payment mode and no open pack covering the booking.
    let mut unpaid = booking(&paul, &ironing, one_time(day, "10:00", 60));
    unpaid.payment_mode = PaymentMode::Unspecified as i32;
    cases.push((unpaid, "payment_mode"));

    for (req, field) in cases {
        let err = app
            .client
            .place_booking(app.as_customer(&paul, req))
            .await
            .expect_err(field);
        assert_bad_field(&err, field);
    }

    // The shop showed another total than today's prices give.
    let mut stale = booking(&paul, &ironing, one_time(day, "10:00", 60));
    stale.expected_total_incl_vat = eur(2500);
    let err = app
        .client
        .place_booking(app.as_customer(&paul, stale))
        .await
        .expect_err("stale total");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("28.60"), "{}", err.message());

    // Another customer's booking, or one for someone else, is not found.
    let other = app.customer(online("Autre")).await;
    let err = app
        .client
        .place_booking(
            app.as_customer(&paul, booking(&other, &ironing, one_time(day, "10:00", 60))),
        )
        .await
        .expect_err("someone else");
    assert_eq!(err.code(), Code::NotFound);

    // Nothing was placed: the only events are the two customers.
    let subjects = app.subjects(2).await;
    assert!(
        subjects.iter().all(|s| s.contains(".customer.")),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn bookings_beyond_the_horizon_or_with_extreme_numbers_are_refused() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 1000, true).await;
    let paul = app.customer(online("Durand")).await;
    let far = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
    // Two years ahead by default (RELAIS_BOOKING_HORIZON_DAYS).
    let beyond = Utc::now().date_naive() + Days::new(731);
    let mut long_series = one_time(monday_in(1), "10:00", 60);
    long_series.recurrence = Some(Recurrence {
        interval_weeks: 1,
        weekdays: vec![1],
        end_date: String::new(),
        count: 120,
        interval_months: 0,
    });
    let mut cases = vec![
        (
            booking(&paul, &ironing, one_time(far, "10:00", 60)),
            "schedule.first_date",
        ),
        (
            booking(&paul, &ironing, one_time(beyond, "10:00", 60)),
            "schedule.first_date",
        ),
        (booking(&paul, &ironing, long_series), "schedule.recurrence"),
        (
            booking(&paul, &ironing, one_time(monday_in(1), "10:00", i32::MAX)),
            "schedule.duration_minutes",
        ),
    ];
    let mut huge_total = booking(&paul, &ironing, one_time(monday_in(1), "10:00", 60));
    huge_total.expected_total_incl_vat = eur(i64::MIN);
    cases.push((huge_total, "expected_total_incl_vat.amount_cents"));
    for (req, field) in cases {
        let err = app
            .client
            .place_booking(app.as_customer(&paul, req))
            .await
            .expect_err(field);
        assert_bad_field(&err, field);
    }
    // Nothing was placed: the only event is the customer's.
    let subjects = app.subjects(1).await;
    assert!(
        subjects.iter().all(|s| s.contains(".customer.")),
        "{subjects:?}"
    );
}

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

#[tokio::test]
async fn a_first_order_creates_the_online_customer_with_it() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 1000, true).await;
    let day = monday_in(1);
    let mut req = booking("", &ironing, one_time(day, "10:00", 60));
    req.new_customer = Some(online("Nouveau"));
    // The shop's web front acts with a service token.
    let service = app.token(relais_platform::auth::Role::Service, "web-shop", None);
    let order = app
        .client
        .place_booking(with_token(&service, req.clone()))
        .await
        .expect("first order")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.customer_name, "Paul Nouveau");
    assert_eq!(order.confirmation_email, "nouveau@example.org");
    // The same key replays: one customer, one order.
    let again = app
        .client
        .place_booking(with_token(&service, req.clone()))
        .await
        .expect("replayed")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(again.id, order.id);
    let subjects = app.subjects(2).await;
    let tail: Vec<&str> = subjects
        .iter()
        .map(|s| s.rsplit_once(".v1.").unwrap().1.split_once('.').unwrap().1)
        .collect();
    assert_eq!(tail, ["customer.created", "order.placed"]);

    // Both or neither, a bad field, a customer token: refused.
    let mut both = req.clone();
    both.idempotency_key = "k2".into();
    both.customer_id = order.customer_id.clone();
    let err = app
        .client
        .place_booking(with_token(&service, both))
        .await
        .expect_err("both");
    assert_bad_field(&err, "new_customer");
    let mut bad = req.clone();
    bad.idempotency_key = "k3".into();
    bad.new_customer.as_mut().unwrap().email = "not-an-email".into();
    let err = app
        .client
        .place_booking(with_token(&service, bad))
        .await
        .expect_err("bad e-mail");
    assert_bad_field(&err, "new_customer.email");
    let mut mine = req;
    mine.idempotency_key = "k4".into();
    let err = app
        .client
        .place_booking(app.as_customer(&order.customer_id, mine))
        .await
        .expect_err("customer token");
    assert_eq!(err.code(), Code::PermissionDenied);
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

async fn confirm(app: &TestApp, order: &str) {
    let confirm = ChangeOrderStatusRequest {
        id: order.into(),
        status: OrderStatus::Confirmed as i32,
        ..Default::default()
    };
    app.client
        .clone()
        .change_order_status(app.admin(confirm))
        .await
        .expect("confirmed");
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

async fn bookings_of(app: &TestApp, customer: &str) -> Vec<relais_proto::orders::Order> {
    let req = app.admin(ListOrdersRequest {
        page: None,
        filter: Some(OrderFilter {
            customer_id: customer.into(),
            kind: "booking".into(),
            ..Default::default()
        }),
    });
    app.client
        .clone()
        .list_orders(req)
        .await
        .unwrap()
        .into_inner()
        .orders
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

/// The Sunday after `monday_in(weeks)`.
fn sunday_in(weeks: u64) -> NaiveDate {
    monday_in(weeks) + Days::new(6)
}

/// Planned interventions nobody is assigned to, as the office lists them.
async fn unassigned(app: &TestApp) -> Vec<relais_proto::planning::Intervention> {
    let req = app.admin(ListInterventionsRequest {
        unassigned_only: true,
        ..Default::default()
    });
    app.planning
        .clone()
        .list_interventions(req)
        .await
        .expect("the office lists them")
        .into_inner()
        .interventions
}

#[tokio::test]
async fn a_customer_is_told_when_nobody_can_come_and_staff_may_place_it_unassigned() {
    let mut app = spawn_app().await;
    let ironing = app.service("REPASSAGE", 2600, 2000, true).await;
    let paul = app.customer(online("Durand")).await;
    // Nobody has the skill yet.
    let err = app
        .client
        .place_booking(app.as_customer(
            &paul,
            booking(&paul, &ironing, one_time(monday_in(1), "10:00", 60)),
        ))
        .await
        .expect_err("nobody does ironing");
    assert_bad_field(&err, "schedule");
    assert!(
        err.message().contains("no active worker has the skill"),
        "{}",
        err.message()
    );

    // The only ironer works Monday to Friday, 8:00 to 19:00.
    let worker = app
        .worker_on("Diallo", &[&ironing], true, 1..=5, ("08:00", "19:00"))
        .await;
    let sunday = sunday_in(1);
    let on_sunday = booking(&paul, &ironing, one_time(sunday, "10:00", 60));
    let err = app
        .client
        .place_booking(app.as_customer(&paul, on_sunday.clone()))
        .await
        .expect_err("nobody works on Sundays");
    assert_bad_field(&err, "schedule");
    let msg = err.message();
    assert!(msg.contains("Sunday"), "{msg}");
    assert!(
        msg.contains("no qualified worker works then"),
        "says why: {msg}"
    );
    // The next free slots are offered: the Monday after, from 8:00.
    let monday = (sunday + Days::new(1))
        .format("%A %-d %B %Y at 08:00")
        .to_string();
    assert!(msg.contains(&monday), "offers {monday}: {msg}");
    assert!(
        !msg.contains("allow_unassigned"),
        "not for customers: {msg}"
    );

    // The chosen worker is named as the reason.
    let mut chosen = on_sunday.clone();
    chosen.worker_id = worker.clone();
    let err = app
        .client
        .place_booking(app.as_customer(&paul, chosen))
        .await
        .expect_err("not on Sundays");
    assert_bad_field(&err, "worker_id");

    // A weekly series on Mondays and Sundays is refused whole, counting the
    // Sundays.
    let mut weekly = one_time(monday_in(1), "10:00", 60);
    weekly.recurrence = Some(Recurrence {
        interval_weeks: 1,
        weekdays: vec![1, 7],
        end_date: String::new(),
        count: 4,
        interval_months: 0,
    });
    let err = app
        .client
        .place_booking(app.as_customer(&paul, booking(&paul, &ironing, weekly)))
        .await
        .expect_err("two Sundays");
    assert!(
        err.message().contains("nor for 1 other occurrence"),
        "{}",
        err.message()
    );

    // Customers cannot force it.
    let mut forced = on_sunday.clone();
    forced.allow_unassigned = true;
    let err = app
        .client
        .place_booking(app.as_customer(&paul, forced.clone()))
        .await
        .expect_err("customers cannot force it");
    assert_bad_field(&err, "allow_unassigned");
    assert!(bookings_of(&app, &paul).await.is_empty(), "nothing placed");

    // Staff are told too, and how to force it.
    let err = app
        .client
        .place_booking(app.admin(on_sunday.clone()))
        .await
        .expect_err("staff are told");
    assert!(
        err.message().contains("allow_unassigned"),
        "{}",
        err.message()
    );
    // Forced: placed, and once confirmed planned unassigned, with why, on
    // the office's list.
    let order = app
        .client
        .place_booking(app.admin(forced))
        .await
        .expect("staff may force it")
        .into_inner()
        .order
        .unwrap();
    confirm(&app, &order.id).await;
    let listed =
        relais_platform::testing::eventually(std::time::Duration::from_secs(10), || async {
            Some(unassigned(&app).await).filter(|l| !l.is_empty())
        })
        .await
        .expect("listed for the office");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].order_id, order.id);
    assert_eq!(listed[0].worker_id, "");
    assert!(
        listed[0].unassigned_reason.contains("no qualified worker"),
        "{}",
        listed[0].unassigned_reason
    );

    // A Monday is booked and assigned, and stays off the list.
    let monday = app
        .client
        .place_booking(app.as_customer(
            &paul,
            booking(&paul, &ironing, one_time(monday_in(1), "10:00", 60)),
        ))
        .await
        .expect("a worker is free")
        .into_inner()
        .order
        .unwrap();
    confirm(&app, &monday.id).await;
    let mine = relais_platform::testing::eventually(std::time::Duration::from_secs(10), || async {
        let req = app.admin(ListInterventionsRequest {
            order_id: monday.id.clone(),
            ..Default::default()
        });
        let got = app.planning.clone().list_interventions(req).await.ok()?;
        got.into_inner().interventions.pop()
    })
    .await
    .expect("planned");
    assert_eq!(mine.worker_id, worker);
    assert_eq!(unassigned(&app).await.len(), 1);
}
