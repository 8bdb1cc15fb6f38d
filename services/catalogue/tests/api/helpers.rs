//! `spawn_app`: the real catalogue on port 0 with a fresh database and its
//! own NATS namespace, plus a JetStream reader that sees events as a
//! subscriber would.

use std::time::Duration;

use async_nats::jetstream;
use relais_catalogue::App;
use relais_platform::{auth::Role, nats::Namespace, testing};
use relais_proto::catalogue::catalogue_service_client::CatalogueServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};
use uuid::Uuid;

pub struct TestApp {
    pub tenant: Uuid,
    pub client: CatalogueServiceClient<Channel>,
    pub channel: Channel,
    pub js: jetstream::Context,
    pub ns: Namespace,
    pub admin_addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(&testing::nats_url()).await
}

/// The app on a given NATS (a private one a test can kill).
pub async fn spawn_app_on(nats_url: &str) -> TestApp {
    testing::init_logging();
    let cfg = testing::config(nats_url).await.expect("test config");
    let ns = Namespace::new(cfg.namespace.clone());
    let nats_url = cfg.nats_url.clone();
    let app = App::build(cfg).await.expect("app builds");
    let grpc = app.grpc_addr();
    let admin_addr = app.admin_addr();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run(shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects");
    let nats = testing::nats_client_on(&nats_url).await;
    TestApp {
        tenant: Uuid::now_v7(),
        client: CatalogueServiceClient::new(channel.clone()),
        channel,
        js: jetstream::new(nats),
        ns,
        admin_addr,
        shutdown,
        handle: Some(handle),
    }
}

impl TestApp {
    /// `msg` with a bearer token for `role` in this app's tenant.
    pub fn as_role<T>(&self, role: Role, msg: T) -> Request<T> {
        with_token(&testing::token(self.tenant, role), msg)
    }

    pub fn admin<T>(&self, msg: T) -> Request<T> {
        self.as_role(Role::Admin, msg)
    }

    /// Every catalogue event published so far in this namespace, as
    /// (subject, payload), waiting until at least `n` are there.
    pub async fn events(&self, n: usize) -> Vec<(String, bytes::Bytes)> {
        let stream = self.ns.stream("catalogue");
        testing::read_stream(&self.js, &stream, n, Duration::from_secs(10))
            .await
            .expect("stream readable")
            .into_iter()
            .map(|m| (m.subject.to_string(), m.payload.clone()))
            .collect()
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("app stopped cleanly");
        }
    }
}

pub use relais_platform::testing::with_token;

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
