//! What the connector's tests make in the shop: a service, workers,
//! customers, stock, a paid product order, a booking; and what they read
//! back from its catalogue and customers.

use chrono::Utc;
use relais_proto::orders::{
    Address, ChangeOrderStatusRequest, CreateCustomerRequest, CustomerFields, Order, OrderStatus,
    PaymentMode, PlaceBookingRequest, Recurrence, Schedule,
};
use uuid::Uuid;

use super::Stack;

impl Stack {
    pub async fn service(&self, code: &str) -> String {
        self.kit.service(code, &format!("Service {code}")).await
    }

    /// A worker created in the shop, available every day.
    pub async fn shop_worker(&self, first_name: &str, skill: &str) -> String {
        self.kit.shop_worker(first_name, "Diallo", skill).await
    }

    pub async fn customer(&self, last_name: &str) -> String {
        self.orders
            .clone()
            .create_customer(self.admin(CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: "Paul".into(),
                    last_name: last_name.into(),
                    email: format!("{}@example.org", last_name.to_lowercase()),
                    billing_address: Some(Address {
                        line1: "3 rue Sala".into(),
                        postal_code: "69002".into(),
                        city: "Lyon".into(),
                        country: "FR".into(),
                        ..Default::default()
                    }),
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

    /// The tenant's products in the shop catalogue.
    pub async fn products(&self) -> Vec<relais_proto::catalogue::Product> {
        self.catalogue
            .clone()
            .list_products(self.admin(relais_proto::catalogue::ListProductsRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .products
    }

    /// The shop customers `query` finds.
    pub async fn customers_matching(&self, query: &str) -> Vec<relais_proto::orders::Customer> {
        self.orders
            .clone()
            .list_customers(self.admin(relais_proto::orders::ListCustomersRequest {
                query: query.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .customers
    }

    /// `product` with `n` in stock.
    pub async fn in_stock(&self, product: &str, n: i64) {
        self.catalogue
            .clone()
            .set_stock(self.admin(relais_proto::catalogue::SetStockRequest {
                product_id: product.into(),
                real: n,
                available: n,
            }))
            .await
            .unwrap();
    }

    /// A card order of 3 `product` at 10 % off for `customer`, placed,
    /// then paid (confirmed).
    pub async fn paid_product_order(&self, customer: &str, product: &str) -> Order {
        let mut orders = self.orders.clone();
        let placed = orders
            .place_product_order(self.admin(relais_proto::orders::PlaceProductOrderRequest {
                customer_id: customer.into(),
                lines: vec![relais_proto::orders::OrderLineRequest {
                    item_id: product.into(),
                    quantity: 3,
                    discount_bp: 1000,
                }],
                shipping_method: "delivery".into(),
                payment_mode: PaymentMode::Card as i32,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        orders
            .change_order_status(self.admin(ChangeOrderStatusRequest {
                id: placed.id.clone(),
                status: OrderStatus::Confirmed as i32,
                ..Default::default()
            }))
            .await
            .unwrap();
        placed
    }

    /// A weekly booking of `weeks` occurrences from tomorrow at 9:00, with
    /// `worker`, placed and confirmed (paid): planning plans it.
    pub async fn book(&self, customer: &str, service: &str, worker: &str, weeks: i32) -> Order {
        let day = (Utc::now() + chrono::Duration::days(1)).date_naive();
        let placed = self
            .orders
            .clone()
            .place_booking(self.admin(PlaceBookingRequest {
                idempotency_key: Uuid::now_v7().to_string(),
                customer_id: customer.into(),
                service_id: service.into(),
                schedule: Some(Schedule {
                    first_date: day.format("%Y-%m-%d").to_string(),
                    start_time: "09:00".into(),
                    duration_minutes: 120,
                    recurrence: (weeks > 1).then(|| Recurrence {
                        interval_weeks: 1,
                        weekdays: vec![chrono::Datelike::weekday(&day).number_from_monday() as i32],
                        count: weeks,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                worker_id: worker.into(),
                payment_mode: PaymentMode::Card as i32,
                terms_accepted: true,
                // Some tests book one worker twice at the same time (the
                // office's call): the second series stays unassigned.
                allow_unassigned: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        self.orders
            .clone()
            .change_order_status(self.admin(ChangeOrderStatusRequest {
                id: placed.id.clone(),
                status: OrderStatus::Confirmed as i32,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
    }
}
