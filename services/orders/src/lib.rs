//! Orders service. This slice: residences with the staff who may act for
//! them, and customers (online, residents, or synced from the ERP) with
//! role-based access. Every change emits an event through the outbox
//! (`<ns>.orders.v1.<tenant>.<aggregate>.<event>`).

mod access;
mod customers;
mod grpc;
mod residences;

use std::net::SocketAddr;

use relais_platform::{config::PlatformConfig, runtime::Runtime};
use relais_proto::orders::orders_service_server::OrdersServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: &str = "orders";
pub const DEFAULT_GRPC_PORT: u16 = 50052;
pub const DEFAULT_ADMIN_PORT: u16 = 9102;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub struct App {
    runtime: Runtime,
}

impl App {
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

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let rt = &self.runtime;
        let api = grpc::OrdersApi::new(rt.pool.clone(), rt.outbox.clone(), rt.ns.clone());
        let service = InterceptedService::new(OrdersServiceServer::new(api), rt.auth.clone());
        self.runtime
            .serve(
                service,
                &[relais_proto::FILE_DESCRIPTOR_SET],
                vec![],
                shutdown,
            )
            .await
    }
}

pub fn config_from_env() -> anyhow::Result<PlatformConfig> {
    PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)
}
