//! The connector bridge (docs/architecture.md §2, §5): the shop and each tenant's ERP kept
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
pub mod adapters;
pub mod availability;
mod bindings;
mod catalogue_pull;
mod config;
pub mod connections;
mod credentials;
pub mod cron;
mod customers_pull;
mod document_imports;
pub mod egress;
mod events;
mod grpc;
mod merge;
mod peers;
mod planning_pull;
mod pull;
mod push;
mod queue;
mod reconcile;
mod resolve;
mod runs;
mod scheduler;
pub mod secrets;
mod shared;
mod shop_writes;
mod verify;
mod workers_pull;
mod writer;

// The adapters' old paths, which the CLI, the bench and the tests use.
pub use adapters::{csv_exchange, reference_erp, tryton};
pub use config::{
    ConnectorConfig, DEFAULT_ADMIN_PORT, DEFAULT_GRPC_PORT, PushConfig, SERVICE, config_from_env,
};

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::FutureExt;
use relais_platform::runtime::Runtime;
use relais_proto::connector::connector_service_server::ConnectorServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

use crate::shared::Shared;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
            erps: adapters::Erps::new(
                credentials::Credentials {
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
            let runner = rt
                .consumer(spec, handler.clone())
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
    for connections::StoredCredentials {
        tenant,
        connection: id,
        sealed: old,
    } in connections::sealed_with_old_keys(&shared.pool, keys.current()).await?
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
