//! Service bookings (one-time and recurring) and hour-pack purchases, as a
//! customer places them and as a subscriber sees them.
//!
//! Here: building bookings and reading them back; placing them (and their
//! refusals) in `placing.rs`, paying them with hour packs in `packs.rs`,
//! those nobody can come for in `unassigned.rs`.

use chrono::{Datelike, Days, NaiveDate, Utc};
use relais_proto::orders::{
    ChangeOrderStatusRequest, ListOrdersRequest, OrderFilter, OrderStatus, PaymentMode,
    PlaceBookingRequest, Schedule,
};
use uuid::Uuid;

use crate::helpers::*;

mod packs;
mod placing;
mod unassigned;

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
