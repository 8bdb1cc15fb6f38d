//! Tenant A's shop records: the catalogue, a residence with its staff and
//! a resident, a worker, and orders (a product order, a booking, an hour
//! pack), each call kept as its method's template.

use chrono::{Datelike, Utc};
use relais_platform::auth::Role;
use relais_proto::{catalogue, orders, planning};

use super::{World, address, at, eur, key};

impl World {
    /// Catalogue: a category, a service, a product, an hour pack.
    pub(super) async fn seed_catalogue(&mut self) {
        let admin = Role::Admin;
        // Catalogue.
        let r: catalogue::CreateCategoryResponse = self
            .must(
                "CatalogueService/CreateCategory",
                admin,
                catalogue::CreateCategoryRequest {
                    idempotency_key: key(),
                    code: "ALPHATENANT-CAT".into(),
                    name: "alphatenant category".into(),
                    position: 1,
                    active: true,
                    ..Default::default()
                },
            )
            .await;
        self.keep("category", &r.category.unwrap_or_default().id);
        let category = self.ids.by_kind["category"].clone();
        let r: catalogue::CreateServiceResponse = self
            .must(
                "CatalogueService/CreateService",
                admin,
                catalogue::CreateServiceRequest {
                    idempotency_key: key(),
                    fields: Some(catalogue::ServiceFields {
                        code: "ALPHATENANT-SVC".into(),
                        name: "alphatenant cleaning".into(),
                        description: "alphatenant service".into(),
                        category_id: category.clone(),
                        hourly_price: eur(2500),
                        vat_rate_bp: 1000,
                        tax_credit_eligible: true,
                        active: true,
                    }),
                },
            )
            .await;
        self.keep("service", &r.service.unwrap_or_default().id);
        let service = self.ids.by_kind["service"].clone();
        let r: catalogue::CreateProductResponse = self
            .must(
                "CatalogueService/CreateProduct",
                admin,
                catalogue::CreateProductRequest {
                    idempotency_key: key(),
                    fields: Some(catalogue::ProductFields {
                        sku: "ALPHATENANT-SKU".into(),
                        designation: "alphatenant soap".into(),
                        description: "alphatenant product".into(),
                        category_id: category.clone(),
                        price: eur(1200),
                        vat_rate_bp: 2000,
                        sales_unit: "unit".into(),
                        weight_grams: 100,
                        image_urls: vec!["https://example.org/alphatenant.jpg".into()],
                        active: true,
                    }),
                },
            )
            .await;
        self.keep("product", &r.product.unwrap_or_default().id);
        let product = self.ids.by_kind["product"].clone();
        let _: catalogue::SetStockResponse = self
            .must(
                "CatalogueService/SetStock",
                admin,
                catalogue::SetStockRequest {
                    product_id: product.clone(),
                    real: 1000,
                    available: 1000,
                },
            )
            .await;
        let _: catalogue::SetPriceListEntryResponse = self
            .must(
                "CatalogueService/SetPriceListEntry",
                admin,
                catalogue::SetPriceListEntryRequest {
                    customer_family: "alphatenant-family".into(),
                    item_id: product.clone(),
                    price: eur(1000),
                },
            )
            .await;
        let r: catalogue::CreateHourPackResponse = self
            .must(
                "CatalogueService/CreateHourPack",
                admin,
                catalogue::CreateHourPackRequest {
                    idempotency_key: key(),
                    name: "alphatenant pack".into(),
                    duration_minutes: 600,
                    price: eur(20_000),
                    eligible_service_ids: vec![service.clone()],
                    vat_rate_bp: None,
                    active_on_creation: true,
                },
            )
            .await;
        self.keep("hour_pack", &r.hour_pack.unwrap_or_default().id);
    }

    /// A residence, its staff, a resident; a worker, free every day but for
    /// an absence a month from `now` (in seconds).
    pub(super) async fn seed_people(&mut self, now: i64) {
        let admin = Role::Admin;
        let service = self.ids.by_kind["service"].clone();
        // Residence, its staff, a resident.
        let r: orders::CreateResidenceResponse = self
            .must(
                "OrdersService/CreateResidence",
                admin,
                orders::CreateResidenceRequest {
                    idempotency_key: key(),
                    name: "alphatenant residence".into(),
                    address: address(),
                    email: "alphatenant-residence@example.org".into(),
                    phone: "+33478000000".into(),
                },
            )
            .await;
        self.keep("residence", &r.residence.unwrap_or_default().id);
        let residence = self.ids.by_kind["residence"].clone();
        self.a.residence = Some(residence.clone());
        let _: orders::AddResidenceStaffResponse = self
            .must(
                "OrdersService/AddResidenceStaff",
                admin,
                orders::AddResidenceStaffRequest {
                    residence_id: residence.clone(),
                    staff_subject: "alphatenant-staff".into(),
                    display_name: "alphatenant staff".into(),
                },
            )
            .await;
        let r: orders::CreateCustomerResponse = self
            .must(
                "OrdersService/CreateCustomer",
                admin,
                orders::CreateCustomerRequest {
                    idempotency_key: key(),
                    fields: Some(orders::CustomerFields {
                        first_name: "Alphatenant".into(),
                        last_name: "Alphatenant-Martin".into(),
                        email: "alphatenant@example.org".into(),
                        phone: "+33612345678".into(),
                        billing_address: address(),
                        customer_family: "alphatenant-family".into(),
                        residence_id: residence.clone(),
                        ..Default::default()
                    }),
                },
            )
            .await;
        self.keep("customer", &r.customer.unwrap_or_default().id);
        let customer = self.ids.by_kind["customer"].clone();
        self.a.customer = Some(customer.clone());

        // A worker, free every day but for an absence next month.
        let r: planning::CreateWorkerResponse = self
            .must(
                "PlanningService/CreateWorker",
                admin,
                planning::CreateWorkerRequest {
                    idempotency_key: key(),
                    fields: Some(planning::WorkerFields {
                        first_name: "Alphatenant".into(),
                        last_name: "Alphatenant-Diallo".into(),
                        email: "alphatenant-worker@example.org".into(),
                        skill_service_ids: vec![service.clone()],
                        availability: (1..=7)
                            .map(|d| planning::WeeklySlot {
                                weekday: d,
                                start_time: "07:00".into(),
                                end_time: "20:00".into(),
                            })
                            .collect(),
                        active: true,
                        ..Default::default()
                    }),
                },
            )
            .await;
        self.keep("worker", &r.worker.unwrap_or_default().id);
        let worker = self.ids.by_kind["worker"].clone();
        let day = 86_400;
        let r: planning::AddAbsenceResponse = self
            .must(
                "PlanningService/AddAbsence",
                admin,
                planning::AddAbsenceRequest {
                    worker_id: worker.clone(),
                    start: at(now + 30 * day),
                    end: at(now + 31 * day),
                    reason: "alphatenant leave".into(),
                },
            )
            .await;
        self.keep("absence", &r.absence.unwrap_or_default().id);
    }

    /// Orders: a product order, a booking and an hour pack, confirmed; and
    /// the same for a first-time customer.
    pub(super) async fn seed_orders(&mut self) {
        let admin = Role::Admin;
        let customer = self.ids.by_kind["customer"].clone();
        let product = self.ids.by_kind["product"].clone();
        let service = self.ids.by_kind["service"].clone();
        let hour_pack = self.ids.by_kind["hour_pack"].clone();
        let worker = self.ids.by_kind["worker"].clone();
        // Orders: a product order, a booking and an hour pack, confirmed.
        let r: orders::PlaceProductOrderResponse = self
            .must(
                "OrdersService/PlaceProductOrder",
                admin,
                orders::PlaceProductOrderRequest {
                    idempotency_key: key(),
                    customer_id: customer.clone(),
                    lines: vec![orders::OrderLineRequest {
                        item_id: product.clone(),
                        quantity: 2,
                        discount_bp: 0,
                    }],
                    shipping_method: "delivery".into(),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        self.keep("order", &r.order.unwrap_or_default().id);
        let order = self.ids.by_kind["order"].clone();
        self.confirm(&order).await;
        let first = (Utc::now() + chrono::Duration::days(1)).date_naive();
        let r: orders::PlaceBookingResponse = self
            .must(
                "OrdersService/PlaceBooking",
                admin,
                orders::PlaceBookingRequest {
                    idempotency_key: key(),
                    customer_id: customer.clone(),
                    service_id: service.clone(),
                    schedule: Some(orders::Schedule {
                        first_date: first.format("%Y-%m-%d").to_string(),
                        start_time: "09:00".into(),
                        duration_minutes: 120,
                        recurrence: Some(orders::Recurrence {
                            interval_weeks: 1,
                            weekdays: vec![first.weekday().number_from_monday() as i32],
                            count: 2,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    worker_id: worker.clone(),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    note: "alphatenant door code".into(),
                    ..Default::default()
                },
            )
            .await;
        self.keep("booking", &r.order.unwrap_or_default().id);
        let booking = self.ids.by_kind["booking"].clone();
        self.confirm(&booking).await;
        let r: orders::PlaceHourPackOrderResponse = self
            .must(
                "OrdersService/PlaceHourPackOrder",
                admin,
                orders::PlaceHourPackOrderRequest {
                    idempotency_key: key(),
                    customer_id: customer.clone(),
                    hour_pack_id: hour_pack.clone(),
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        self.keep("hour_pack_order", &r.order.unwrap_or_default().id);
        let pack_order = self.ids.by_kind["hour_pack_order"].clone();
        self.confirm(&pack_order).await;

        // The same orders for a first-time customer created with them, so
        // that the fields of `new_customer` are attacked too.
        let newcomer = |who: &str| {
            Some(orders::CustomerFields {
                first_name: "Alphatenant".into(),
                last_name: format!("Alphatenant-{who}"),
                email: format!("alphatenant-{}@example.org", who.to_lowercase()),
                billing_address: address(),
                ..Default::default()
            })
        };
        let _: orders::PlaceProductOrderResponse = self
            .must(
                "OrdersService/PlaceProductOrder",
                admin,
                orders::PlaceProductOrderRequest {
                    idempotency_key: key(),
                    new_customer: newcomer("Shopper"),
                    lines: vec![orders::OrderLineRequest {
                        item_id: product.clone(),
                        quantity: 1,
                        discount_bp: 0,
                    }],
                    shipping_method: "delivery".into(),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        let later = first + chrono::Duration::days(3);
        let _: orders::PlaceBookingResponse = self
            .must(
                "OrdersService/PlaceBooking",
                admin,
                orders::PlaceBookingRequest {
                    idempotency_key: key(),
                    new_customer: newcomer("Booker"),
                    service_id: service.clone(),
                    schedule: Some(orders::Schedule {
                        first_date: later.format("%Y-%m-%d").to_string(),
                        start_time: "14:00".into(),
                        duration_minutes: 60,
                        ..Default::default()
                    }),
                    payment_mode: orders::PaymentMode::Card as i32,
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
        let _: orders::PlaceHourPackOrderResponse = self
            .must(
                "OrdersService/PlaceHourPackOrder",
                admin,
                orders::PlaceHourPackOrderRequest {
                    idempotency_key: key(),
                    new_customer: newcomer("Packer"),
                    hour_pack_id: hour_pack.clone(),
                    terms_accepted: true,
                    ..Default::default()
                },
            )
            .await;
    }
}
