//! The push worker: takes due writes off the queue, each connection's
//! few at a time, and records how each went (done, retried with backoff,
//! or dead-lettered).

use std::{collections::HashMap, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::FutureExt;
use prost::Message;
use relais_platform::outbox::backoff_delay;
use relais_proto::{
    orders::{Customer, Order},
    planning::{Intervention, Worker},
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    connections,
    queue::{self, Item},
    shared::Shared,
    writer::{Push, PushError},
};

pub struct PushWorker {
    shared: Shared,
}

/// How many writes are in flight at once, across connections.
const IN_FLIGHT: usize = 32;

impl PushWorker {
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }

    /// Keeps up to `IN_FLIGHT` writes going, each connection's limited to
    /// `per_connection`: a slot freed is filled at once, so a write stuck
    /// on one ERP holds up only that connection's. Per-record order is the
    /// queue's: one pending item per record, never two writes of it at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let worker = Arc::new(self);
        let cfg = &worker.shared.push;
        // Long enough for the write and what it needs first.
        let lease = cfg.erp_timeout * 6 + Duration::from_secs(1);
        let mut running: JoinSet<(Uuid, Uuid)> = JoinSet::new();
        // Item id → connection, of the writes running.
        let mut in_flight: HashMap<Uuid, Uuid> = HashMap::new();
        let mut backlog_read: Option<tokio::time::Instant> = None;
        loop {
            let free = IN_FLIGHT - running.len();
            if free > 0 && !shutdown.is_cancelled() {
                // Only what runs now is leased, so no lease runs out waiting.
                let items = queue::lease(
                    &worker.shared.pool,
                    free as i64,
                    cfg.per_connection as i64,
                    &in_flight,
                    lease,
                )
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "push queue unreadable");
                    Vec::new()
                });
                for item in items {
                    in_flight.insert(item.id, item.connection);
                    set_in_flight(&in_flight, item.connection);
                    let (worker, id, connection) = (worker.clone(), item.id, item.connection);
                    running.spawn(async move {
                        // A write that panicked still frees its slot (its
                        // lease runs out and it is tried again).
                        if AssertUnwindSafe(worker.process(item))
                            .catch_unwind()
                            .await
                            .is_err()
                        {
                            tracing::error!(item = %id, "push write panicked");
                        }
                        (id, connection)
                    });
                }
            }
            // Not on every finished write: it counts the whole queue.
            if backlog_read.is_none_or(|at| at.elapsed() >= cfg.poll) {
                backlog_read = Some(tokio::time::Instant::now());
                if let Ok(n) = queue::backlog(&worker.shared.pool).await {
                    metrics::gauge!("relais_connector_push_backlog", "service" => crate::SERVICE)
                        .set(n as f64);
                }
                export_connection_health(&worker.shared.pool).await;
            }
            if shutdown.is_cancelled() && running.is_empty() {
                return;
            }
            tokio::select! {
                // Stopping: no new work, but what runs finishes.
                () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let mut finished = vec![done];
                    while let Some(done) = running.try_join_next() {
                        finished.push(done);
                    }
                    // Tasks are never aborted and catch their panics.
                    for (id, connection) in finished.into_iter().flatten() {
                        in_flight.remove(&id);
                        set_in_flight(&in_flight, connection);
                    }
                }
                () = worker.shared.wake.notified(), if !shutdown.is_cancelled() => {
                    // The event's transaction commits just after it wakes us.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                () = tokio::time::sleep(cfg.poll), if !shutdown.is_cancelled() => {}
            }
        }
    }

    async fn process(&self, item: Item) {
        let span = tracing::info_span!(
            "push",
            otel.name = %format!("push {}", item.entity),
            relais.service = crate::SERVICE,
            connection = %item.connection,
            entity = %item.entity,
            id = %item.internal_id,
            attempt = item.attempts + 1,
        );
        if let Some(tp) = &item.traceparent {
            let mut h = HashMap::new();
            h.insert("traceparent".to_owned(), tp.clone());
            relais_platform::telemetry::set_parent_from(&span, &h);
        }
        async {
            // Within the lease, or given up (and retried) before another
            // worker may take it over.
            let budget = self.shared.push.erp_timeout * 5;
            let outcome = match tokio::time::timeout(budget, self.write(&item)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(PushError::Retry(format!(
                    "the write took longer than {} ms",
                    budget.as_millis()
                ))),
            };
            let pool = &self.shared.pool;
            let cfg = &self.shared.push;
            let recorded = match outcome {
                Ok(()) => {
                    metrics::counter!("relais_connector_pushes_total", "service" => crate::SERVICE, "connection" => item.connection.to_string(), "outcome" => "done")
                        .increment(1);
                    queue::done(pool, &item).await
                }
                Err(PushError::Retry(e)) if item.attempts + 1 < cfg.max_attempts => {
                    let delay =
                        backoff_delay(item.attempts.max(0) as u32, cfg.retry_base, cfg.retry_max);
                    tracing::warn!(error = %e, ?delay, "ERP write failed, will retry");
                    metrics::counter!("relais_connector_pushes_total", "service" => crate::SERVICE, "connection" => item.connection.to_string(), "outcome" => "retry")
                        .increment(1);
                    queue::retry_later(pool, &item, delay, &e, true).await
                }
                Err(PushError::Busy(e)) => {
                    tracing::info!(error = %e, "waiting for another writer");
                    queue::retry_later(pool, &item, cfg.retry_base, &e, false).await
                }
                Err(e) => {
                    tracing::error!(error = %e, "ERP write dead-lettered");
                    metrics::counter!("relais_connector_pushes_total", "service" => crate::SERVICE, "connection" => item.connection.to_string(), "outcome" => "dead")
                        .increment(1);
                    queue::dead(
                        pool,
                        &self.shared.outbox,
                        &self.shared.ns,
                        &item,
                        &e.to_string(),
                    )
                    .await
                }
            };
            if let Err(e) = recorded {
                // The lease runs out and the write is tried again.
                tracing::warn!(error = %e, "push outcome not recorded");
            }
        }
        .instrument(span)
        .await
    }

    async fn write(&self, item: &Item) -> Result<(), PushError> {
        let c = connections::by_id(&self.shared.pool, item.connection).await?;
        if c.tenant != item.tenant {
            return Err(PushError::Fatal(
                "queued for another tenant's connection".into(),
            ));
        }
        if !c.enabled {
            return Err(PushError::Retry(format!(
                "connection {} is disabled",
                c.name
            )));
        }
        let erp = self
            .shared
            .erps
            .get(&c, self.shared.push.erp_timeout)
            .await?;
        let push = Push {
            shared: &self.shared,
            c: &c,
            erp: &erp,
        };
        let bad = |e: prost::DecodeError| PushError::Fatal(format!("unreadable snapshot: {e}"));
        match item.entity.as_str() {
            "customer" => {
                let customer = Customer::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.customer(&customer).await.map(drop)
            }
            "worker" => {
                let worker = Worker::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.worker(&worker).await.map(drop)
            }
            "quote" => {
                let order = Order::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.quote(&order).await.map(drop)
            }
            "product_order" => {
                let order = Order::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.product_order(&order).await.map(drop)
            }
            "intervention" => {
                let i = Intervention::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.intervention(&i).await.map(drop)
            }
            other => Err(PushError::Fatal(format!("no ERP object for {other}"))),
        }
    }
}

/// Each connection's push queue age and last successful pull, which the
/// ERP link's alerts watch.
async fn export_connection_health(pool: &sqlx::PgPool) {
    match queue::connection_health(pool).await {
        Ok(rows) => {
            for (connection, oldest, last_success) in rows {
                let connection = connection.to_string();
                metrics::gauge!("relais_connector_push_oldest_seconds", "service" => crate::SERVICE, "connection" => connection.clone())
                    .set(oldest);
                if let Some(at) = last_success {
                    metrics::gauge!("relais_connector_last_success_timestamp_seconds", "service" => crate::SERVICE, "connection" => connection)
                        .set(at);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "connection health not read"),
    }
}

/// The writes in flight to `connection`, for the metrics.
fn set_in_flight(in_flight: &HashMap<Uuid, Uuid>, connection: Uuid) {
    let n = in_flight.values().filter(|c| **c == connection).count();
    metrics::gauge!("relais_connector_push_in_flight", "service" => crate::SERVICE, "connection" => connection.to_string())
        .set(n as f64);
}
