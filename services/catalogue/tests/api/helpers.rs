//! `spawn_app`: the real catalogue on port 0 with a fresh database and its
//! own NATS namespace, plus a JetStream reader that sees events as a
//! subscriber would.

use std::time::Duration;

use async_nats::jetstream;
use relais_platform::{auth::Role, nats::Namespace, testing};
use relais_proto::catalogue::catalogue_service_client::CatalogueServiceClient;
use tonic::{Request, transport::Channel};
use uuid::Uuid;

pub struct TestApp {
    pub tenant: Uuid,
    pub client: CatalogueServiceClient<Channel>,
    pub channel: Channel,
    pub js: jetstream::Context,
    pub ns: Namespace,
    pub admin_addr: std::net::SocketAddr,
    kit: relais_testkit::Stack,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(&testing::nats_url()).await
}

/// The app on a given NATS (a private one a test can kill).
pub async fn spawn_app_on(nats_url: &str) -> TestApp {
    let kit = relais_testkit::Stack::builder()
        .catalogue()
        .nats_url(nats_url)
        .spawn()
        .await
        .expect("catalogue starts");
    let channel = relais_testkit::channel(kit.catalogue_part().grpc_addr);
    TestApp {
        tenant: kit.tenant,
        client: CatalogueServiceClient::new(channel.clone()),
        channel,
        js: kit.jetstream().await,
        ns: kit.ns.clone(),
        admin_addr: kit.catalogue_part().admin_addr,
        kit,
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

    pub async fn stop(self) {
        self.kit.stop();
        self.kit.wait().await.expect("app stopped cleanly");
    }
}

pub use relais_platform::testing::with_token;
