//! Billing service: invoices drafted from paid orders (it follows the orders
//! stream), numbered per tenant without gaps when validated. Every change
//! emits an event through the outbox (`<ns>.billing.v1.<tenant>.invoice.*`).

mod grpc;
mod invoices;

use std::{net::SocketAddr, sync::Arc};

use futures::FutureExt;
use relais_platform::{config::PlatformConfig, consumer::ConsumerRunner, runtime::Runtime};
use relais_proto::billing::billing_service_server::BillingServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: &str = "billing";
pub const DEFAULT_GRPC_PORT: u16 = 50054;
pub const DEFAULT_ADMIN_PORT: u16 = 9104;

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

    /// The service's pool (benchmarks seed and read through it).
    pub fn pool(&self) -> sqlx::PgPool {
        self.runtime.pool.clone()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let rt = &self.runtime;
        let api = grpc::BillingApi::new(rt.pool.clone(), rt.outbox.clone(), rt.ns.clone());
        let service = InterceptedService::new(BillingServiceServer::new(api), rt.auth.clone());
        let paid_orders = ConsumerRunner::new(
            rt.pool.clone(),
            rt.js.clone(),
            rt.ns.clone(),
            invoices::spec(&rt.ns, rt.cfg.consumer_max_deliver),
            Arc::new(invoices::PaidOrders { ns: rt.ns.clone() }),
        );
        let tasks = vec![paid_orders.run(shutdown.clone()).boxed()];
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

/// Config from the environment with the billing service's default ports.
pub fn config_from_env() -> anyhow::Result<PlatformConfig> {
    PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)
}
