//! The shop as staff fill it: customers with a card, products in stock,
//! orders confirmed or cancelled, bookings (services and workers are the
//! testkit's `service` and `shop_worker`).

use chrono::NaiveDate;
use relais_proto::{
    catalogue::{CreateProductRequest, ProductFields, SetStockRequest},
    orders::{
        Address, ChangeOrderStatusRequest, CreateCustomerRequest, CustomerFields, Order,
        OrderStatus, PaymentMode, PlaceBookingRequest, Recurrence, Schedule,
    },
};
use uuid::Uuid;

use super::{Relais, eur};

impl Relais {
    // The shop, as staff fill it.

    /// An online customer in Lyon with `email` and, unless empty, a saved
    /// card.
    pub async fn customer(&self, first: &str, last: &str, email: &str, card: &str) -> String {
        self.orders()
            .create_customer(self.admin(CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: first.into(),
                    last_name: last.into(),
                    email: email.into(),
                    billing_address: Some(Address {
                        line1: "12 rue de la République".into(),
                        postal_code: "69001".into(),
                        city: "Lyon".into(),
                        country: "FR".into(),
                        ..Default::default()
                    }),
                    payment_method_ref: card.into(),
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
            .id
    }

    /// Gloves (ENT-001, 11.90 € + 20 % VAT), 10,000 in stock.
    pub async fn gloves(&self) -> String {
        let id = self
            .catalogue()
            .create_product(self.admin(CreateProductRequest {
                idempotency_key: String::new(),
                fields: Some(ProductFields {
                    sku: "ENT-001".into(),
                    designation: "Gants".into(),
                    price: eur(1190),
                    vat_rate_bp: 2000,
                    active: true,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .product
            .unwrap()
            .id;
        self.catalogue()
            .set_stock(self.admin(SetStockRequest {
                product_id: id.clone(),
                real: 10_000,
                available: 10_000,
            }))
            .await
            .unwrap();
        id
    }

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
