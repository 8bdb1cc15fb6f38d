//! The shop as staff fill it: orders confirmed or cancelled, bookings
//! (customers, products, services and workers are the testkit's
//! `customer`, `gloves`, `service` and `shop_worker`).

use chrono::NaiveDate;
use relais_proto::orders::{
    ChangeOrderStatusRequest, Order, OrderStatus, PaymentMode, PlaceBookingRequest, Recurrence,
    Schedule,
};
use uuid::Uuid;

use super::Relais;

impl Relais {
    // The shop, as staff fill it.

    /// The order confirmed: paid, as billing or the office says.
    pub async fn confirm(&self, order: &str) -> Order {
        self.orders()
            .change_order_status(self.admin(ChangeOrderStatusRequest {
                id: order.into(),
                status: OrderStatus::Confirmed as i32,
                ..Default::default()
            }))
            .await
            .expect("confirmed")
            .into_inner()
            .order
            .unwrap()
    }

    /// The order cancelled for `reason`.
    pub async fn cancel(&self, order: &str, reason: &str) {
        self.orders()
            .change_order_status(self.admin(ChangeOrderStatusRequest {
                id: order.into(),
                status: OrderStatus::Cancelled as i32,
                reason: reason.into(),
                ..Default::default()
            }))
            .await
            .expect("cancelled");
    }

    /// A booking by card from `first` at 9:00, two hours, with `worker`,
    /// every week `weeks` times; placed and confirmed (paid): planning
    /// plans it.
    pub async fn book(
        &self,
        customer: &str,
        service: &str,
        worker: &str,
        first: NaiveDate,
        weeks: i32,
    ) -> Order {
        let placed = self
            .orders()
            .place_booking(self.admin(PlaceBookingRequest {
                idempotency_key: Uuid::now_v7().to_string(),
                customer_id: customer.into(),
                service_id: service.into(),
                schedule: Some(Schedule {
                    first_date: first.format("%Y-%m-%d").to_string(),
                    start_time: "09:00".into(),
                    duration_minutes: 120,
                    recurrence: (weeks > 1).then(|| Recurrence {
                        interval_weeks: 1,
                        weekdays: vec![
                            chrono::Datelike::weekday(&first).number_from_monday() as i32
                        ],
                        count: weeks,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                worker_id: worker.into(),
                payment_mode: PaymentMode::Card as i32,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        self.confirm(&placed.id).await
    }
}
