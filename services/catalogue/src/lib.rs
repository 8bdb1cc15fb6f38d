//! Catalogue service: the category tree (ERP families), services sold by the
//! hour, products with stock, price lists per customer family and hour-pack
//! definitions, for each tenant. Every change emits an event through the
//! outbox (`<ns>.catalogue.v1.<tenant>.<aggregate>.<event>`). It follows the
//! orders stream to hold stock for placed product orders.

mod bulk;
mod categories;
mod grpc;
mod packs;
mod prestations;
mod prices;
mod products;
mod reservations;

use std::{net::SocketAddr, sync::Arc};

use futures::FutureExt;
use relais_platform::{config::PlatformConfig, runtime::Runtime};
use relais_proto::catalogue::catalogue_service_server::CatalogueServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: &str = "catalogue";
pub const DEFAULT_GRPC_PORT: u16 = 50051;
pub const DEFAULT_ADMIN_PORT: u16 = 9101;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub struct App {
    runtime: Runtime,
}

impl App {
    /// Connects, migrates and binds; nothing is served until [`App::run`].
    pub async fn build(cfg: PlatformConfig) -> anyhow::Result<Self> {
        Ok(Self {
            runtime: Runtime::start(SERVICE, cfg, &MIGRATIONS).await?,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.runtime.grpc_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.runtime.admin_addr()
    }

    pub fn pool(&self) -> sqlx::PgPool {
        self.runtime.pool.clone()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let rt = &self.runtime;
        let api = grpc::CatalogueApi::new(rt.pool.clone(), rt.outbox.clone(), rt.ns.clone());
        let service = InterceptedService::new(CatalogueServiceServer::new(api), rt.auth.clone());
        let reservations = rt.consumer(
            reservations::spec(&rt.ns, rt.cfg.consumer_max_deliver),
            Arc::new(reservations::Reservations { ns: rt.ns.clone() }),
        );
        let tasks = vec![reservations.run(shutdown.clone()).boxed()];
        self.runtime
            .serve(
                service,
                &[relais_proto::FILE_DESCRIPTOR_SET],
                tasks,
                shutdown,
            )
            .await
    }
}

/// Config from the environment with the catalogue's default ports.
pub fn config_from_env() -> anyhow::Result<PlatformConfig> {
    PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)
}
