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
use tokio_util::sync::CancellationToken;
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
    shutdown: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_lazy()
}

pub async fn spawn() -> Stack {
    testing::init_logging();
    let shutdown = CancellationToken::new();
    let nats_url = testing::nats_url();
    let planning_cfg = testing::config(&nats_url).await.expect("config");
    let ns = planning_cfg.namespace.clone();
    let mut catalogue_cfg = testing::config(&nats_url).await.expect("config");
    catalogue_cfg.namespace = ns.clone();
    let mut orders_cfg = testing::config(&nats_url).await.expect("config");
    orders_cfg.namespace = ns.clone();

    let catalogue = relais_catalogue::App::build(catalogue_cfg)
        .await
        .expect("catalogue");
    let catalogue_addr = catalogue.grpc_addr();
    tokio::spawn(catalogue.run(shutdown.clone()));
    let planning = relais_planning::App::build(relais_planning::PlanningConfig {
        platform: planning_cfg,
        catalogue_addr: format!("http://{catalogue_addr}"),
    })
    .await
    .expect("planning");
    let planning_addr = planning.grpc_addr();
    tokio::spawn(planning.run(shutdown.clone()));
    let orders = relais_orders::App::build(relais_orders::OrdersConfig {
        platform: orders_cfg,
        catalogue_addr: format!("http://{catalogue_addr}"),
        planning_addr: format!("http://{planning_addr}"),
    })
    .await
    .expect("orders");
    let orders_addr = orders.grpc_addr();
    tokio::spawn(orders.run(shutdown.clone()));

    let nats = testing::nats_client_on(&nats_url).await;
    Stack {
        tenant: Uuid::now_v7(),
        planning: PlanningServiceClient::new(channel(planning_addr)),
        orders: OrdersServiceClient::new(channel(orders_addr)),
        catalogue: CatalogueServiceClient::new(channel(catalogue_addr)),
        js: async_nats::jetstream::new(nats),
        ns: Namespace::new(ns),
        shutdown,
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
