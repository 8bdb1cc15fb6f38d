//! The connector bridge (DESIGN §2, §5): the shop and each tenant's ERP kept
//! in step, with no double entry and nothing lost.
//!
//! - Shop → ERP: consumers of the orders and planning events put each
//!   changed record in a per-connection queue (`push_items`) in the inbox
//!   transaction; a push worker writes it to the ERP with an idempotency
//!   reference, retries with backoff and jitter, and dead-letters it after
//!   the last attempt. What a record needs in the ERP first (the customer of
//!   a quote, the worker of an intervention) is written first. Customers,
//!   workers, bookings (quote and interventions), planning changes, product
//!   orders by status.
//! - ERP → shop: pulls per data family, incremental (changed since the last
//!   run, with an overlap), on the family's schedule or now (RunSync,
//!   streaming progress), applied through the services' gRPC APIs as the
//!   connection (origin `erp:<name>`), so nothing echoes back: workers,
//!   customers, the catalogue, order states, planning changes, invoices and
//!   tax certificates (as events billing reads).
//! - Bindings tie each shop record to its ERP record with both sides' last
//!   synced versions; a record changed on both sides is a conflict, settled
//!   by the connection's policy.

pub mod adapter;
pub mod availability;
mod bindings;
mod catalogue;
pub mod connections;
pub mod cron;
pub mod csv_exchange;
mod customers;
mod documents;
pub mod egress;
mod events;
mod grpc;
mod merge;
mod parked;
mod peers;
mod planning;
mod pull;
mod push;
mod queue;
mod reconcile;
pub mod reference_erp;
mod resolve;
mod runs;
mod scheduler;
pub mod secrets;
pub mod tryton;
mod verify;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::FutureExt;
use relais_platform::{
    config::{PlatformConfig, var},
    consumer::ConsumerRunner,
    runtime::Runtime,
};
use relais_proto::connector::connector_service_server::ConnectorServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: &str = "connector";
pub const DEFAULT_GRPC_PORT: u16 = 50055;
pub const DEFAULT_ADMIN_PORT: u16 = 9105;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How writes to the ERP are retried.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// `RELAIS_CONNECTOR_MAX_ATTEMPTS` (default 8): then a dead letter.
    pub max_attempts: i32,
    /// `RELAIS_CONNECTOR_RETRY_BASE_MS` (default 1000): doubles each
    /// attempt, with jitter, up to 5 minutes.
    pub retry_base: Duration,
    /// `RELAIS_CONNECTOR_RETRY_MAX_SECS` (default 300): the longest wait
    /// between two attempts.
    pub retry_max: Duration,
    /// `RELAIS_CONNECTOR_POLL_MS` (default 500): how often due writes are
    /// looked for when no event woke the worker.
    pub poll: Duration,
    /// `RELAIS_CONNECTOR_ERP_TIMEOUT_MS` (default 10000): per ERP call.
    pub erp_timeout: Duration,
    /// `RELAIS_CONNECTOR_PUSH_PER_CONNECTION` (default 4, at least 1): the
    /// writes one connection may have in flight at once, so a slow ERP
    /// holds up only its own.
    pub per_connection: usize,
}

#[derive(Clone)]
pub struct ConnectorConfig {
    pub platform: PlatformConfig,
    /// `CATALOGUE_ADDR`: the ERP's catalogue is applied there.
    pub catalogue_addr: String,
    /// `ORDERS_ADDR`: customers and orders are read there, ERP customers
    /// written there.
    pub orders_addr: String,
    /// `PLANNING_ADDR`: workers and interventions.
    pub planning_addr: String,
    pub push: PushConfig,
    /// `RELAIS_CONNECTOR_SCHEDULE_TICK_SECS` (default 30): how often the
    /// scheduler looks for pulls that are due.
    pub schedule_tick: Duration,
    /// `RELAIS_CONNECTOR_VERIFY_EVERY_SECS` (default 3600; 0: never): how
    /// often each connection is verified (a report, no repair), so the
    /// drift metrics stay current.
    pub verify_every: Duration,
    /// Credentials named by connections' `secret_ref`, per tenant.
    pub secrets: secrets::Secrets,
    /// `RELAIS_CONNECTOR_SECRET_KEYS`: seal the credentials stored with
    /// connections (secrets.rs).
    pub secret_keys: secrets::SecretKeys,
    /// `RELAIS_CONNECTOR_ALLOWED_NETWORKS`: the private networks
    /// connections may reach (egress.rs).
    pub egress: egress::EgressPolicy,
    /// `RELAIS_CONNECTOR_EXCHANGE_ROOT` (default `/srv/exchange`): CSV
    /// connections' folders lie in `<root>/<tenant id>/`.
    pub exchange_root: std::path::PathBuf,
    /// `RELAIS_CONNECTOR_OPENING_HOURS` (default `Mon-Fri 08:00-19:00`):
    /// the weekly hours an ERP worker gets when the ERP's record carries
    /// none (availability.rs).
    pub opening_hours: availability::OpeningHours,
}

impl ConnectorConfig {
    /// Test and dev defaults around `platform`: quick retries.
    pub fn quick(
        platform: PlatformConfig,
        catalogue_addr: String,
        orders_addr: String,
        planning_addr: String,
    ) -> Self {
        Self {
            platform,
            catalogue_addr,
            orders_addr,
            planning_addr,
            push: PushConfig {
                max_attempts: 6,
                retry_base: Duration::from_millis(100),
                retry_max: Duration::from_secs(2),
                poll: Duration::from_millis(100),
                erp_timeout: Duration::from_millis(1500),
                per_connection: 4,
            },
            schedule_tick: Duration::from_secs(1),
            verify_every: Duration::from_secs(3600),
            secrets: secrets::Secrets::from_env(),
            secret_keys: secrets::SecretKeys::development(),
            // Tests and the demo run their ERPs on loopback.
            egress: egress::EgressPolicy::allowing(vec![
                ipnet::IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])),
                ipnet::IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            ]),
            exchange_root: std::env::temp_dir().join("relais-exchange"),
            opening_hours: availability::OpeningHours::default(),
        }
    }
}

pub fn config_from_env() -> anyhow::Result<ConnectorConfig> {
    Ok(ConnectorConfig {
        platform: PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)?,
        catalogue_addr: var("CATALOGUE_ADDR", "http://127.0.0.1:50051".to_owned())?,
        orders_addr: var("ORDERS_ADDR", "http://127.0.0.1:50052".to_owned())?,
        planning_addr: var("PLANNING_ADDR", "http://127.0.0.1:50053".to_owned())?,
        push: PushConfig {
            max_attempts: var("RELAIS_CONNECTOR_MAX_ATTEMPTS", 8)?,
            retry_base: Duration::from_millis(var("RELAIS_CONNECTOR_RETRY_BASE_MS", 1000)?),
            retry_max: Duration::from_secs(var("RELAIS_CONNECTOR_RETRY_MAX_SECS", 300)?),
            poll: Duration::from_millis(var("RELAIS_CONNECTOR_POLL_MS", 500)?),
            erp_timeout: Duration::from_millis(var("RELAIS_CONNECTOR_ERP_TIMEOUT_MS", 10_000)?),
            per_connection: var("RELAIS_CONNECTOR_PUSH_PER_CONNECTION", 4usize)?.max(1),
        },
        schedule_tick: Duration::from_secs(var("RELAIS_CONNECTOR_SCHEDULE_TICK_SECS", 30)?),
        verify_every: Duration::from_secs(var("RELAIS_CONNECTOR_VERIFY_EVERY_SECS", 3600)?),
        secrets: secrets::Secrets::from_env(),
        secret_keys: secrets::SecretKeys::from_env()?,
        egress: egress::EgressPolicy::from_env()?,
        exchange_root: var(
            "RELAIS_CONNECTOR_EXCHANGE_ROOT",
            std::path::PathBuf::from("/srv/exchange"),
        )?,
        opening_hours: var(
            "RELAIS_CONNECTOR_OPENING_HOURS",
            availability::OpeningHours::default(),
        )?,
    })
}

/// What the API, the push worker, the pulls and the scheduler share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub pool: sqlx::PgPool,
    pub peers: peers::Peers,
    pub push: PushConfig,
    /// Wakes the push worker after a commit that queued writes.
    pub wake: Arc<tokio::sync::Notify>,
    pub erps: push::Erps,
    /// ERP documents go to billing as events on the connector's stream.
    pub outbox: relais_platform::outbox::Outbox,
    pub ns: relais_platform::nats::Namespace,
    /// Cancelled when the service stops: runs end between two pages
    /// (recorded as interrupted) instead of outliving it.
    pub stop: CancellationToken,
    /// Runs started by RunSync: the service waits for them (closed as
    /// interrupted) before it closes its pool.
    pub runs: tokio_util::task::TaskTracker,
    /// Given to ERP workers whose record carries no availability.
    pub opening_hours: availability::OpeningHours,
    /// How often each connection is verified (zero: never).
    pub verify_every: Duration,
}

pub struct App {
    runtime: Runtime,
    shared: Shared,
    schedule_tick: Duration,
}

impl App {
    pub async fn build(cfg: ConnectorConfig) -> anyhow::Result<Self> {
        let runtime = Runtime::start(SERVICE, cfg.platform, &MIGRATIONS).await?;
        // Dead ERP writes are published there through the outbox.
        runtime.ns.ensure_dead_letter_stream(&runtime.js).await?;
        let peers = peers::Peers::new(
            &cfg.catalogue_addr,
            &cfg.orders_addr,
            &cfg.planning_addr,
            runtime.auth.clone(),
        )?;
        let shared = Shared {
            pool: runtime.pool.clone(),
            peers,
            push: cfg.push,
            wake: Arc::new(tokio::sync::Notify::new()),
            erps: push::Erps::new(
                secrets::Credentials {
                    keys: cfg.secret_keys,
                    named: cfg.secrets,
                },
                cfg.egress,
                cfg.exchange_root,
            ),
            outbox: runtime.outbox.clone(),
            ns: runtime.ns.clone(),
            stop: CancellationToken::new(),
            runs: tokio_util::task::TaskTracker::new(),
            opening_hours: cfg.opening_hours,
            verify_every: cfg.verify_every,
        };
        reseal_credentials(&shared).await?;
        Ok(Self {
            runtime,
            shared,
            schedule_tick: cfg.schedule_tick,
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
        let api = grpc::ConnectorApi::new(self.shared.clone());
        let service = InterceptedService::new(ConnectorServiceServer::new(api), rt.auth.clone());
        let max = rt.cfg.consumer_max_deliver;
        let handler = Arc::new(events::ShopChanges {
            wake: self.shared.wake.clone(),
        });
        let mut tasks = Vec::new();
        let (stop, stopping, runs) = (
            self.shared.stop.clone(),
            shutdown.clone(),
            self.shared.runs.clone(),
        );
        tasks.push(
            async move {
                stopping.cancelled().await;
                stop.cancel();
                runs.close();
                runs.wait().await;
            }
            .boxed(),
        );
        for spec in events::specs(&rt.ns, max) {
            let runner = ConsumerRunner::new(
                rt.pool.clone(),
                rt.js.clone(),
                rt.ns.clone(),
                spec,
                handler.clone(),
            )
            // Queueing keeps the newest version of each record, whatever
            // order the events are handled in.
            .concurrent(8);
            tasks.push(runner.run(shutdown.clone()).boxed());
        }
        tasks.push(
            push::PushWorker::new(self.shared.clone())
                .run(shutdown.clone())
                .boxed(),
        );
        tasks.push(
            scheduler::run(self.shared.clone(), self.schedule_tick, shutdown.clone()).boxed(),
        );
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

/// After a key rotation (a new first key in RELAIS_CONNECTOR_SECRET_KEYS),
/// seals stored credentials again under the new key, so the old key can
/// then be removed. One that no listed key opens stays as it is: its
/// connection's writes say so until an admin sets the secret again.
async fn reseal_credentials(shared: &Shared) -> anyhow::Result<()> {
    let keys = shared.erps.keys();
    for (tenant, id, old) in connections::sealed_with_old_keys(&shared.pool, keys.current()).await?
    {
        match keys
            .open(tenant, id, &old)
            .and_then(|plain| keys.seal(tenant, id, &plain))
        {
            Ok(new) => connections::reseal(&shared.pool, id, &old, &new).await?,
            Err(e) => {
                tracing::warn!(connection = %id, error = %format!("{e:#}"), "credentials not re-sealed")
            }
        }
    }
    Ok(())
}
