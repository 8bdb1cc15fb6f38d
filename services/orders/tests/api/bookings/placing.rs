//! Placing bookings, one-time and recurring: what a customer and a
//! subscriber see, what is refused (with the field), and the online
//! customer a first order creates.

use chrono::{Days, NaiveDate, TimeZone, Utc};
use prost::Message;
use relais_proto::{
    events::OrderPlaced,
    orders::{OrderStatus, PaymentMode, PlaceBookingRequest, Recurrence},
};
use tonic::Code;
use uuid::Uuid;

use super::{booking, monday_in, one_time};
use crate::helpers::*;

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
