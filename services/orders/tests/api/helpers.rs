//! `spawn_app`: the real orders service on port 0, a fresh database, its
//! own NATS namespace; tokens for each role; events as a subscriber sees them.

use std::time::Duration;

use relais_orders::{App, OrdersConfig};
use relais_platform::{
    auth::{Claims, Role},
    nats::Namespace,
    testing,
};
use relais_proto::catalogue::catalogue_service_client::CatalogueServiceClient;
use relais_proto::orders::{
    Address, CreateResidenceRequest, CustomerFields, orders_service_client::OrdersServiceClient,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};
use uuid::Uuid;

pub struct TestApp {
    pub tenant: Uuid,
    pub client: OrdersServiceClient<Channel>,
    /// The real catalogue the orders service prices from.
    pub catalogue: CatalogueServiceClient<Channel>,
    js: async_nats::jetstream::Context,
    ns: Namespace,
    shutdown: CancellationToken,
}

pub async fn spawn_app() -> TestApp {
    testing::init_logging();
    let shutdown = CancellationToken::new();
    let catalogue_cfg = testing::config(&testing::nats_url()).await.expect("config");
    let catalogue = relais_catalogue::App::build(catalogue_cfg)
        .await
        .expect("catalogue builds");
    let catalogue_addr = format!("http://{}", catalogue.grpc_addr());
    tokio::spawn(catalogue.run(shutdown.clone()));

    let cfg = testing::config(&testing::nats_url()).await.expect("config");
    let ns = Namespace::new(cfg.namespace.clone());
    let nats = async_nats::connect(&cfg.nats_url).await.expect("nats");
    let app = App::build(OrdersConfig {
        platform: cfg,
        catalogue_addr: catalogue_addr.clone(),
    })
    .await
    .expect("app builds");
    let channel = Channel::from_shared(format!("http://{}", app.grpc_addr()))
        .expect("uri")
        .connect_lazy();
    tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        tenant: Uuid::now_v7(),
        client: OrdersServiceClient::new(channel),
        catalogue: CatalogueServiceClient::new(
            Channel::from_shared(catalogue_addr)
                .expect("uri")
                .connect_lazy(),
        ),
        js: async_nats::jetstream::new(nats),
        ns,
        shutdown,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
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
