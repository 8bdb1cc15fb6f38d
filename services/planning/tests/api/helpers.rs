//! `spawn`: catalogue, orders and planning in one namespace, each on a
//! fresh database, as in a deployment; tokens and event reading.

use std::time::Duration;

use relais_platform::{
    auth::{Claims, Role},
    nats::Namespace,
    testing,
};
use relais_proto::{
    catalogue::{
        CreateServiceRequest, ServiceFields, catalogue_service_client::CatalogueServiceClient,
    },
    orders::{
        Address, CreateCustomerRequest, CustomerFields, orders_service_client::OrdersServiceClient,
    },
    planning::{
        CreateWorkerRequest, WeeklySlot, WorkerFields,
        planning_service_client::PlanningServiceClient,
    },
    types::Money,
};
use tonic::{Request, transport::Channel};
use uuid::Uuid;

pub use relais_platform::testing::{assert_bad_field, with_token};

pub struct Stack {
    pub tenant: Uuid,
    pub planning: PlanningServiceClient<Channel>,
    pub orders: OrdersServiceClient<Channel>,
    pub catalogue: CatalogueServiceClient<Channel>,
    js: async_nats::jetstream::Context,
    pub ns: Namespace,
    _kit: relais_testkit::Stack,
}

pub async fn spawn() -> Stack {
    let kit = relais_testkit::Stack::builder()
        .orders()
        .spawn()
        .await
        .expect("stack");
    Stack {
        tenant: kit.tenant,
        planning: kit.planning(),
        orders: kit.orders(),
        catalogue: kit.catalogue(),
        js: kit.jetstream().await,
        ns: kit.ns.clone(),
        _kit: kit,
    }
}

impl Stack {
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

    /// A token of `role` in `tenant`, which may be another than the stack's.
    pub fn token_of(&self, tenant: Uuid, role: Role, sub: &str) -> String {
        testing::token_with(&Claims {
            sub: sub.into(),
            tenant,
            role,
            customer_id: None,
            residences: vec![],
            connection: (role == Role::Connector).then(|| "conn-1".into()),
            exp: chrono::Utc::now().timestamp() + 600,
        })
    }

    /// An admin of `tenant`.
    pub fn admin_of<T>(&self, tenant: Uuid, msg: T) -> Request<T> {
        with_token(&self.token_of(tenant, Role::Admin, "admin-2"), msg)
    }

    pub async fn service(&self, code: &str) -> String {
        self.service_of(self.tenant, code).await
    }

    /// A service of `tenant`'s catalogue.
    pub async fn service_of(&self, tenant: Uuid, code: &str) -> String {
        let req = self.admin_of(
            tenant,
            CreateServiceRequest {
                idempotency_key: String::new(),
                fields: Some(ServiceFields {
                    code: code.into(),
                    name: code.to_lowercase(),
                    hourly_price: Some(Money {
                        amount_cents: 2500,
                        currency: "EUR".into(),
                    }),
                    vat_rate_bp: 1000,
                    active: true,
                    ..Default::default()
                }),
            },
        );
        self.catalogue
            .clone()
            .create_service(req)
            .await
            .unwrap()
            .into_inner()
            .service
            .unwrap()
            .id
    }

    pub async fn customer(&self, last_name: &str) -> String {
        let req = self.admin(CreateCustomerRequest {
            idempotency_key: String::new(),
            fields: Some(CustomerFields {
                first_name: "Paul".into(),
                last_name: last_name.into(),
                email: "paul@example.org".into(),
                billing_address: Some(Address {
                    line1: "3 rue Sala".into(),
                    postal_code: "69002".into(),
                    city: "Lyon".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        });
        self.orders
            .clone()
            .create_customer(req)
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
            .id
    }

    /// A worker available Monday to Friday, 8:00 to 18:00 Paris time.
    pub async fn worker(&self, last_name: &str, skills: &[&str]) -> String {
        let req = self.admin(CreateWorkerRequest {
            idempotency_key: String::new(),
            fields: Some(week_worker(last_name, skills)),
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

    /// Every planning event so far (at least `n`): (event name, payload).
    pub async fn events(&self, n: usize) -> Vec<(String, bytes::Bytes)> {
        testing::read_stream(
            &self.js,
            &self.ns.stream("planning"),
            n,
            Duration::from_secs(15),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            let s = m.subject.to_string();
            let name = s.splitn(5, '.').nth(4).unwrap_or_default().to_owned();
            (name, m.payload.clone())
        })
        .collect()
    }

    pub async fn publish(&self, subject: String, id: Uuid, payload: Vec<u8>) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.to_string().as_str());
        self.js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

pub fn week_worker(last_name: &str, skills: &[&str]) -> WorkerFields {
    WorkerFields {
        first_name: "Awa".into(),
        last_name: last_name.into(),
        email: format!("{}@agence.example", last_name.to_lowercase()),
        phone: "06 12 34 56 78".into(),
        photo_url: "https://img.example/w.jpg".into(),
        provider: "Agence Lyon".into(),
        skill_service_ids: skills.iter().map(|s| s.to_string()).collect(),
        availability: (1..=5)
            .map(|d| WeeklySlot {
                weekday: d,
                start_time: "08:00".into(),
                end_time: "18:00".into(),
            })
            .collect(),
        time_zone: String::new(),
        active: true,
        external_ref: String::new(),
        // Planning sets it for shop callers.
        availability_source: 0,
    }
}
