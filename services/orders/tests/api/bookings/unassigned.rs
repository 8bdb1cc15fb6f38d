//! Bookings nobody can come for: the customer is told, and staff may
//! place them unassigned for the office to plan.

use chrono::{Days, NaiveDate};
use relais_proto::{orders::Recurrence, planning::ListInterventionsRequest};

use super::{booking, bookings_of, confirm, monday_in, one_time};
use crate::helpers::*;

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
