//! Planning service: workers (skills, weekly availability, absences) and
//! their interventions. It follows the orders stream: a confirmed booking
//! becomes one intervention per occurrence, assigned to the chosen worker or
//! a qualified, free one; a cancelled booking cancels those still to come.
//! Every change emits an event through the outbox
//! (`<ns>.planning.v1.<tenant>.<aggregate>.<event>`). A worker's skills are
//! checked with the catalogue, over gRPC, when they are written
//! (`catalogue.rs` says why).

mod absences;
mod calendar;
mod catalogue;
mod changes;
mod exports;
mod free_workers;
mod grpc;
mod interventions;
mod ledger;
mod planner;
mod worker_input;
mod workers;

use std::{net::SocketAddr, sync::Arc};

use futures::FutureExt;
use relais_platform::{config::PlatformConfig, runtime::Runtime};
use relais_proto::planning::planning_service_server::PlanningServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: &str = "planning";
pub const DEFAULT_GRPC_PORT: u16 = 50053;
pub const DEFAULT_ADMIN_PORT: u16 = 9103;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The platform settings plus where the catalogue listens.
#[derive(Clone, Debug)]
pub struct PlanningConfig {
    pub platform: PlatformConfig,
    /// `CATALOGUE_ADDR` (default `http://127.0.0.1:50051`): asked whether a
    /// worker's skills are services of the tenant.
    pub catalogue_addr: String,
}

pub struct App {
    runtime: Runtime,
    catalogue: catalogue::Catalogue,
}

impl App {
    pub async fn build(cfg: PlanningConfig) -> anyhow::Result<Self> {
        let runtime = Runtime::start(SERVICE, cfg.platform, &MIGRATIONS).await?;
        let catalogue = catalogue::Catalogue::new(&cfg.catalogue_addr, runtime.auth.clone())?;
        Ok(Self { runtime, catalogue })
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
        let api = grpc::PlanningApi::new(
            rt.pool.clone(),
            rt.outbox.clone(),
            rt.ns.clone(),
            self.catalogue.clone(),
        );
        let service = InterceptedService::new(PlanningServiceServer::new(api), rt.auth.clone());
        let bookings = rt.consumer(
            planner::spec(&rt.ns, rt.cfg.consumer_max_deliver),
            Arc::new(planner::Bookings { ns: rt.ns.clone() }),
        );
        // Who may see which customer's records (relais_platform::access).
        let access = rt.consumer(
            relais_platform::access::replica_spec(SERVICE, &rt.ns, rt.cfg.consumer_max_deliver),
            Arc::new(relais_platform::access::Replica),
        );
        let tasks = vec![
            bookings.run(shutdown.clone()).boxed(),
            access.run(shutdown.clone()).boxed(),
        ];
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

/// Config from the environment with the planning service's default ports.
pub fn config_from_env() -> anyhow::Result<PlanningConfig> {
    Ok(PlanningConfig {
        platform: PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)?,
        catalogue_addr: relais_platform::config::var(
            "CATALOGUE_ADDR",
            "http://127.0.0.1:50051".to_owned(),
        )?,
    })
}
