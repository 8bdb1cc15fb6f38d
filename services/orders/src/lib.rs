//! Orders service: residences with the staff who may act for them,
//! customers (online, residents, or synced from the ERP) with role-based
//! access, and orders of three kinds (products for a resident, service
//! bookings, hour packs) priced by the catalogue, with their life cycle,
//! traceability export and statistics. Every change emits an event through the outbox
//! (`<ns>.orders.v1.<tenant>.<aggregate>.<event>`).

mod access;
mod bookings;
mod catalogue;
mod customers;
mod grpc;
mod lifecycle;
mod orders;
mod pack_purchases;
mod pack_room;
mod payment_methods;
mod planning;
mod product_orders;
mod reports;
mod residences;
mod stored_orders;

use std::net::SocketAddr;

use relais_platform::{config::PlatformConfig, runtime::Runtime};
use relais_proto::orders::orders_service_server::OrdersServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: &str = "orders";
pub const DEFAULT_GRPC_PORT: u16 = 50052;
pub const DEFAULT_ADMIN_PORT: u16 = 9102;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The platform settings plus where the services orders calls listen.
#[derive(Clone, Debug)]
pub struct OrdersConfig {
    pub platform: PlatformConfig,
    /// `CATALOGUE_ADDR` (default `http://127.0.0.1:50051`).
    pub catalogue_addr: String,
    /// `PLANNING_ADDR` (default `http://127.0.0.1:50053`): asked about the
    /// worker a customer chooses.
    pub planning_addr: String,
}

pub struct App {
    runtime: Runtime,
    catalogue: catalogue::Catalogue,
    planning: planning::Planning,
    booking_horizon_days: u32,
}

impl App {
    pub async fn build(cfg: OrdersConfig) -> anyhow::Result<Self> {
        let runtime = Runtime::start(SERVICE, cfg.platform, &MIGRATIONS).await?;
        let catalogue = catalogue::Catalogue::new(&cfg.catalogue_addr, runtime.auth.clone())?;
        let planning = planning::Planning::new(&cfg.planning_addr, runtime.auth.clone())?;
        Ok(Self {
            runtime,
            catalogue,
            planning,
            booking_horizon_days: booking_horizon_days()?,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.runtime.grpc_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.runtime.admin_addr()
    }

    /// The service's pool (benchmarks read the outbox backlog through it).
    pub fn pool(&self) -> sqlx::PgPool {
        self.runtime.pool.clone()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let rt = &self.runtime;
        let api = grpc::OrdersApi::new(
            rt.pool.clone(),
            rt.outbox.clone(),
            rt.ns.clone(),
            self.catalogue.clone(),
            self.planning.clone(),
            self.booking_horizon_days,
        );
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

pub fn config_from_env() -> anyhow::Result<OrdersConfig> {
    Ok(OrdersConfig {
        platform: PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)?,
        catalogue_addr: relais_platform::config::var(
            "CATALOGUE_ADDR",
            "http://127.0.0.1:50051".to_owned(),
        )?,
        planning_addr: relais_platform::config::var(
            "PLANNING_ADDR",
            "http://127.0.0.1:50053".to_owned(),
        )?,
    })
}

/// `RELAIS_BOOKING_HORIZON_DAYS` (default two years,
/// `relais_domain::schedule::DEFAULT_HORIZON_DAYS`): how far ahead a
/// booking's occurrences may fall. Read at build rather than kept in
/// [`OrdersConfig`], so every embedding of the service (tests, `relais dev`)
/// obeys the same variable without naming it. 1 to 3660 days.
pub fn booking_horizon_days() -> anyhow::Result<u32> {
    let days = relais_platform::config::var(
        "RELAIS_BOOKING_HORIZON_DAYS",
        relais_domain::schedule::DEFAULT_HORIZON_DAYS,
    )?;
    anyhow::ensure!(
        (1..=3660).contains(&days),
        "RELAIS_BOOKING_HORIZON_DAYS={days} must be between 1 and 3660 days"
    );
    Ok(days)
}
