//! `spawn_app`: the real orders service on port 0, a fresh database, its
//! own NATS namespace; tokens for each role; events as a subscriber sees them.

use std::time::Duration;

use relais_platform::{
    auth::{Claims, Role},
    nats::Namespace,
    testing,
};
use relais_proto::catalogue::{
    CreateHourPackRequest, CreateProductRequest, CreateServiceRequest, GetPricesRequest,
    ProductFields, ServiceFields, SetStockRequest,
    catalogue_service_client::CatalogueServiceClient,
};
use relais_proto::orders::{
    AddResidenceStaffRequest, Address, CreateCustomerRequest, CreateResidenceRequest,
    CustomerFields, orders_service_client::OrdersServiceClient,
};
use relais_proto::planning::{
    CreateWorkerRequest, WeeklySlot, WorkerFields, planning_service_client::PlanningServiceClient,
};
use relais_proto::types::Money;
use tonic::{Request, transport::Channel};
use uuid::Uuid;

pub struct TestApp {
    pub tenant: Uuid,
    pub client: OrdersServiceClient<Channel>,
    /// The real catalogue the orders service prices from.
    pub catalogue: CatalogueServiceClient<Channel>,
    /// The real planning service orders asks about chosen workers.
    pub planning: PlanningServiceClient<Channel>,
    js: async_nats::jetstream::Context,
    ns: Namespace,
    _kit: relais_testkit::Stack,
}

pub async fn spawn_app() -> TestApp {
    let kit = relais_testkit::Stack::builder()
        .orders()
        .spawn()
        .await
        .expect("stack");
    TestApp {
        tenant: kit.tenant,
        client: kit.orders(),
        catalogue: kit.catalogue(),
        planning: kit.planning(),
        js: kit.jetstream().await,
        ns: kit.ns.clone(),
        _kit: kit,
    }
}

impl TestApp {
    pub fn token(&self, role: Role, sub: &str, customer_id: Option<Uuid>) -> String {
        testing::token_with(&Claims {
            sub: sub.into(),
            tenant: self.tenant,
            role,
            customer_id,
            residences: vec![],
            connection: (role == Role::Connector).then(|| "conn-1".into()),
            exp: chrono::Utc::now().timestamp() + 600,
        })
    }

    pub fn admin<T>(&self, msg: T) -> Request<T> {
        with_token(&self.token(Role::Admin, "admin-1", None), msg)
    }

    pub fn staff<T>(&self, sub: &str, msg: T) -> Request<T> {
        with_token(&self.token(Role::Staff, sub, None), msg)
    }

    pub async fn residence(&mut self, name: &str) -> String {
        let req = CreateResidenceRequest {
            name: name.into(),
            address: Some(address()),
            email: "accueil@residence.example".into(),
            ..Default::default()
        };
        let r = self.admin(req);
        self.client
            .create_residence(r)
            .await
            .unwrap()
            .into_inner()
            .residence
            .unwrap()
            .id
    }

    pub async fn add_staff(&mut self, residence: &str, sub: &str) {
        let add = AddResidenceStaffRequest {
            residence_id: residence.into(),
            staff_subject: sub.into(),
            display_name: sub.into(),
        };
        let r = self.admin(add);
        self.client.add_residence_staff(r).await.unwrap();
    }

    pub async fn customer(&mut self, fields: CustomerFields) -> String {
        let r = self.admin(CreateCustomerRequest {
            idempotency_key: String::new(),
            fields: Some(fields),
        });
        self.client
            .create_customer(r)
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
            .id
    }

    /// A customer token for `customer_id`.
    pub fn as_customer<T>(&self, customer_id: &str, msg: T) -> Request<T> {
        let id = Uuid::parse_str(customer_id).unwrap();
        with_token(&self.token(Role::Customer, "web-customer", Some(id)), msg)
    }

    pub fn connector<T>(&self, msg: T) -> Request<T> {
        with_token(&self.token(Role::Connector, "connector", None), msg)
    }

    pub async fn product(&mut self, sku: &str, cents: i64, stock: i64, active: bool) -> String {
        let fields = ProductFields {
            sku: sku.into(),
            designation: format!("Article {sku}"),
            price: eur(cents),
            vat_rate_bp: 2000,
            active,
            ..Default::default()
        };
        let req = self.admin(CreateProductRequest {
            idempotency_key: String::new(),
            fields: Some(fields),
        });
        let id = self
            .catalogue
            .create_product(req)
            .await
            .unwrap()
            .into_inner()
            .product
            .unwrap()
            .id;
        let stock = self.admin(SetStockRequest {
            product_id: id.clone(),
            real: stock,
            available: stock,
        });
        self.catalogue.set_stock(stock).await.unwrap();
        id
    }

    pub async fn service(
        &mut self,
        code: &str,
        hourly_cents: i64,
        vat_bp: i32,
        active: bool,
    ) -> String {
        let req = self.admin(CreateServiceRequest {
            idempotency_key: String::new(),
            fields: Some(ServiceFields {
                code: code.into(),
                name: code.to_lowercase(),
                hourly_price: eur(hourly_cents),
                vat_rate_bp: vat_bp,
                tax_credit_eligible: true,
                active,
                ..Default::default()
            }),
        });
        self.catalogue
            .create_service(req)
            .await
            .unwrap()
            .into_inner()
            .service
            .unwrap()
            .id
    }

    pub async fn hour_pack(
        &mut self,
        name: &str,
        minutes: i32,
        cents: i64,
        services: &[&str],
    ) -> String {
        let req = self.admin(CreateHourPackRequest {
            idempotency_key: String::new(),
            name: name.into(),
            duration_minutes: minutes,
            price: eur(cents),
            eligible_service_ids: services.iter().map(|s| s.to_string()).collect(),
            vat_rate_bp: None,
            active_on_creation: true,
        });
        self.catalogue
            .create_hour_pack(req)
            .await
            .unwrap()
            .into_inner()
            .hour_pack
            .unwrap()
            .id
    }

    /// The catalogue's available stock of `product`, once it equals
    /// `expected` (or what it is after 10 s).
    pub async fn stock_becomes(&self, product: &str, expected: i64) -> i64 {
        let read = || async {
            let req = self.admin(GetPricesRequest {
                customer_family: String::new(),
                item_ids: vec![product.into()],
            });
            let prices = self.catalogue.clone().get_prices(req).await.ok()?;
            prices
                .into_inner()
                .prices
                .first()
                .map(|p| p.stock_available)
        };
        let found = testing::eventually(Duration::from_secs(10), || async {
            read().await.filter(|s| *s == expected)
        })
        .await;
        match found {
            Some(s) => s,
            None => read().await.unwrap_or(-1),
        }
    }

    /// A worker in planning with these skills (catalogue service ids),
    /// every day from 7:00 to 21:00 Paris time.
    pub async fn worker(&self, last_name: &str, skills: &[&str], active: bool) -> String {
        self.worker_on(last_name, skills, active, 1..=7, ("07:00", "21:00"))
            .await
    }

    /// A worker in planning with these skills, on these ISO weekdays
    /// between these times (Paris).
    pub async fn worker_on(
        &self,
        last_name: &str,
        skills: &[&str],
        active: bool,
        weekdays: std::ops::RangeInclusive<i32>,
        (from, to): (&str, &str),
    ) -> String {
        let req = self.admin(CreateWorkerRequest {
            idempotency_key: String::new(),
            fields: Some(WorkerFields {
                first_name: "Awa".into(),
                last_name: last_name.into(),
                skill_service_ids: skills.iter().map(|s| s.to_string()).collect(),
                availability: weekdays
                    .map(|d| WeeklySlot {
                        weekday: d,
                        start_time: from.into(),
                        end_time: to.into(),
                    })
                    .collect(),
                active,
                ..Default::default()
            }),
        });
        self.planning
            .clone()
            .create_worker(req)
            .await
            .unwrap()
            .into_inner()
            .worker
            .unwrap()
            .id
    }

    /// Every orders event so far (at least `n`), as a subscriber sees it.
    pub async fn messages(&self, n: usize) -> Vec<async_nats::jetstream::Message> {
        testing::read_stream(
            &self.js,
            &self.ns.stream("orders"),
            n,
            Duration::from_secs(10),
        )
        .await
        .unwrap()
    }

    pub async fn subjects(&self, n: usize) -> Vec<String> {
        self.messages(n)
            .await
            .into_iter()
            .map(|m| m.subject.to_string())
            .collect()
    }
}

pub use relais_platform::testing::{assert_bad_field, with_token};

pub fn address() -> Address {
    Address {
        line1: "12 rue des Tilleuls".into(),
        line2: String::new(),
        postal_code: "69003".into(),
        city: "Lyon".into(),
        country: "FR".into(),
    }
}

pub fn resident(last_name: &str, residence_id: &str) -> CustomerFields {
    CustomerFields {
        first_name: "Jeanne".into(),
        last_name: last_name.into(),
        email: String::new(),
        phone: "04 78 00 00 00".into(),
        billing_address: Some(address()),
        delivery_address: None,
        customer_family: "RESIDENCE".into(),
        residence_id: residence_id.into(),
        payment_method_ref: String::new(),
        external_ref: String::new(),
    }
}

pub fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

/// An online customer with an e-mail and an address.
pub fn online(last_name: &str) -> CustomerFields {
    CustomerFields {
        first_name: "Paul".into(),
        last_name: last_name.into(),
        email: format!("{}@example.org", last_name.to_lowercase()),
        phone: "06 00 00 00 00".into(),
        billing_address: Some(address()),
        ..Default::default()
    }
}
