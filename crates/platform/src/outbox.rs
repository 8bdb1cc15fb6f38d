//! Transactional outbox (docs/architecture.md §4). A service writes its rows and the events
//! they cause in one transaction with [`enqueue`]; after the commit the
//! [`Relay`] publishes them to JetStream in commit order, with many publishes
//! in flight, `Nats-Msg-Id` set to the event id, and marks them published in
//! one statement once their acks are in.
//!
//! What a reader can rely on:
//! - nothing is read by "id > last seen": every poll reads all unpublished
//!   rows, so a transaction that commits after later ones is still published;
//! - the relay wakes on an in-process signal after a commit ([`Outbox::commit`])
//!   and polls for commits from other processes; no `pg_notify` in the write
//!   transaction (it made commits about 3× slower here);
//! - one relay per service is active at a time (Postgres advisory lock);
//! - a crash between publish and mark republishes with the same id, which
//!   JetStream drops inside its duplicate window and inboxes drop after it;
//! - published rows are kept for a retention longer than the broker's fsync
//!   interval, and [`republish_since`] sends them again after a broker loss.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    nats::Namespace,
    retention::{self, Retention},
    telemetry,
};
// Where they always were: services and tools import them from here.
pub use crate::retry::{Backoff, backoff_delay};

/// An event to publish, built by the service inside its transaction.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: Uuid,
    pub subject: String,
    pub aggregate_id: String,
    pub payload: Vec<u8>,
}

impl OutboxEvent {
    pub fn new(subject: String, aggregate_id: impl ToString, payload: Vec<u8>) -> Self {
        Self {
            id: Uuid::now_v7(),
            subject,
            aggregate_id: aggregate_id.to_string(),
            payload,
        }
    }
}

/// Adds `event` to the caller's transaction, with the current trace context.
#[tracing::instrument(skip_all, fields(subject = %event.subject))]
pub async fn enqueue(conn: &mut PgConnection, event: &OutboxEvent) -> sqlx::Result<()> {
    let headers = serde_json::to_value(telemetry::current_context_headers())
        .unwrap_or_else(|_| serde_json::json!({}));
    sqlx::query(
        "insert into outbox (id, subject, payload, headers, aggregate_id) values ($1, $2, $3, $4, $5)",
    )
    .bind(event.id)
    .bind(&event.subject)
    .bind(&event.payload)
    .bind(headers)
    .bind(&event.aggregate_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The service's handle on its outbox: commits a transaction and wakes the
/// relay at once instead of waiting for its next poll.
#[derive(Clone, Default)]
pub struct Outbox {
    signal: Arc<Notify>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Commits `tx` and wakes the relay.
    pub async fn commit(&self, tx: Transaction<'_, Postgres>) -> sqlx::Result<()> {
        tx.commit().await?;
        self.signal.notify_one();
        Ok(())
    }

    /// Wakes the relay (after a commit made some other way).
    pub fn wake(&self) {
        self.signal.notify_one();
    }
}

/// Marks every event created since `since` unpublished, so the relay sends
/// them again (with their ids: consumers' inboxes ignore what they handled).
/// Only rows inside the retention period still exist. Returns how many.
pub async fn republish_since(pool: &PgPool, since: DateTime<Utc>) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update outbox set published_at = null where created_at >= $1 and published_at is not null",
    )
    .bind(since)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Unpublished rows and the age of the oldest, in seconds.
pub async fn backlog(pool: &PgPool) -> sqlx::Result<(i64, f64)> {
    sqlx::query_as(
        "select count(*), coalesce(extract(epoch from now() - min(created_at))::float8, 0)
         from outbox where published_at is null",
    )
    .fetch_one(pool)
    .await
}

/// [`backlog`] of one tenant's events (the tenant is in each subject).
pub async fn tenant_backlog(pool: &PgPool, tenant: uuid::Uuid) -> sqlx::Result<(i64, f64)> {
    sqlx::query_as(
        "select count(*), coalesce(extract(epoch from now() - min(created_at))::float8, 0)
         from outbox where published_at is null and split_part(subject, '.', -3) = $1",
    )
    .bind(tenant.to_string())
    .fetch_one(pool)
    .await
}

/// Dead letters waiting to be replayed, per consumer with one waiting or
/// replayed within a day (so that its gauge goes back to 0 after a replay
/// without reading the whole table every second).
async fn waiting_dead_letters(pool: &PgPool) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "select consumer, count(*) filter (where replayed_at is null) from dead_letters
         where replayed_at is null or replayed_at > now() - interval '1 day'
         group by consumer",
    )
    .fetch_all(pool)
    .await
}

#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Names the advisory lock and the metrics.
    pub service: String,
    /// Rows read per round; all of them are in flight at once.
    pub batch_size: i64,
    pub poll: Duration,
    pub retention: Duration,
    /// Whether upkeep prunes sent mails too (a service that sends mail).
    pub prunes_mail: bool,
}

impl RelayConfig {
    pub fn new(service: &str, poll: Duration, retention: Duration) -> Self {
        Self {
            service: service.to_owned(),
            batch_size: 512,
            poll,
            retention,
            prunes_mail: false,
        }
    }

    /// The advisory lock the active relay of the service holds (in
    /// `pg_locks`): a stable key per service, its name hashed to 63 bits.
    pub fn lock_key(&self) -> i64 {
        let digest =
            <sha2::Sha256 as sha2::Digest>::digest(format!("relais-outbox:{}", self.service));
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes) & i64::MAX
    }
}

pub struct Relay {
    pool: PgPool,
    js: jetstream::Context,
    outbox: Outbox,
    cfg: RelayConfig,
}

impl Relay {
    pub fn new(pool: PgPool, js: jetstream::Context, outbox: Outbox, cfg: RelayConfig) -> Self {
        Self {
            pool,
            js,
            outbox,
            cfg,
        }
    }

    /// Runs until `shutdown`: waits for the advisory lock (standing by while
    /// another relay holds it), then publishes. A batch in flight is
    /// finished before it returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new();
        while !shutdown.is_cancelled() {
            match self.lead(&shutdown).await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    tracing::warn!(error = ?e, service = %self.cfg.service, "outbox relay interrupted");
                    tokio::select! {
                        () = shutdown.cancelled() => {},
                        () = tokio::time::sleep(backoff.next_delay()) => {},
                    }
                }
            }
        }
    }

    /// One term as the active relay: returns when shutdown is asked, or
    /// with an error when the lock connection or the broker fails.
    async fn lead(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        // The lock lives as long as this connection, detached from the pool
        // so it is never handed to anyone else while held.
        let mut lock_conn = self.pool.acquire().await?.detach();
        loop {
            let got: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
                .bind(self.cfg.lock_key())
                .fetch_one(&mut lock_conn)
                .await?;
            if got {
                break;
            }
            metrics::gauge!("relais_outbox_relay_active", "service" => self.cfg.service.clone())
                .set(0.0);
            // A standby reports the backlog too, read from the same tables:
            // left at what it saw when it last led, its gauges would keep an
            // alert firing (or silent) whatever the active relay does.
            self.export_backlog().await;
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.cfg.poll.max(Duration::from_millis(500))) => {},
            }
        }
        tracing::info!(service = %self.cfg.service, "outbox relay active");
        metrics::gauge!("relais_outbox_relay_active", "service" => self.cfg.service.clone())
            .set(1.0);

        let mut last_upkeep = tokio::time::Instant::now() - Duration::from_secs(3600);
        let mut last_metrics = last_upkeep;
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            // Before publishing, not after: while NATS is down the publish
            // fails and the term ends, and the backlog gauges must still
            // move (each new term exports first) — that is when they alarm.
            let now = tokio::time::Instant::now();
            if now.duration_since(last_metrics) >= Duration::from_secs(1) {
                self.export_backlog().await;
                // Checks the lock's connection is still alive: if it dropped,
                // the lock is gone and another relay may lead.
                sqlx::query("select 1").execute(&mut lock_conn).await?;
                last_metrics = now;
            }
            let published = self.publish_batch().await?;
            if now.duration_since(last_upkeep) >= Duration::from_secs(30) {
                self.upkeep().await;
                last_upkeep = now;
            }
            if published < self.cfg.batch_size as usize {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = self.outbox.signal.notified() => {},
                    () = tokio::time::sleep(self.cfg.poll) => {},
                }
            }
        }
    }

    /// Publishes up to one batch; returns how many rows were marked.
    async fn publish_batch(&self) -> anyhow::Result<usize> {
        let rows: Vec<(Uuid, String, Vec<u8>, serde_json::Value)> = sqlx::query_as(
            "select id, subject, payload, headers from outbox
             where published_at is null order by seq limit $1",
        )
        .bind(self.cfg.batch_size)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut acks = Vec::with_capacity(rows.len());
        for (id, subject, payload, headers) in &rows {
            let mut row_headers: HashMap<String, String> = HashMap::new();
            if let serde_json::Value::Object(h) = headers {
                for (k, v) in h {
                    if let Some(v) = v.as_str() {
                        row_headers.insert(k.clone(), v.to_owned());
                    }
                }
            }
            // The publish is a hop of the change's trace: a child of the
            // span that wrote the row, and the parent of every consumer's.
            let span = tracing::info_span!(
                "publish",
                otel.name = %format!("publish {}", Namespace::event_of(subject)),
                otel.kind = "producer",
                relais.service = %self.cfg.service,
                subject = %subject,
                event_id = %id,
            );
            telemetry::set_parent_from(&span, &row_headers);
            row_headers.extend(telemetry::context_headers(&span));
            let mut map = async_nats::HeaderMap::new();
            for (k, v) in &row_headers {
                map.insert(k.as_str(), v.as_str());
            }
            let publish = PublishMessage::build()
                .payload(Bytes::from(payload.clone()))
                .headers(map)
                .message_id(id.to_string());
            match self.js.send_publish(subject.clone(), publish).await {
                Ok(ack) => acks.push((*id, ack, span)),
                Err(e) => {
                    tracing::warn!(error = %e, %subject, "outbox publish failed");
                    break;
                }
            }
        }
        // Only the prefix acked in order is marked: a row after a failed one
        // is published again next round rather than out of order.
        let mut acked = Vec::with_capacity(acks.len());
        let mut failure = None;
        // Each publish span ends with its acknowledgement.
        for (id, ack, _span) in acks {
            if failure.is_some() {
                continue;
            }
            match ack.await {
                Ok(_) => acked.push(id),
                Err(e) => failure = Some(e),
            }
        }
        if !acked.is_empty() {
            sqlx::query("update outbox set published_at = now() where id = any($1)")
                .bind(&acked)
                .execute(&self.pool)
                .await?;
            metrics::counter!("relais_outbox_published_total", "service" => self.cfg.service.clone())
                .increment(acked.len() as u64);
        }
        if let Some(e) = failure {
            return Err(anyhow::anyhow!(e).context("publish ack failed"));
        }
        if acked.len() < rows.len() {
            anyhow::bail!("published {} of {} outbox rows", acked.len(), rows.len());
        }
        Ok(acked.len())
    }

    async fn export_backlog(&self) {
        match backlog(&self.pool).await {
            Ok((count, age)) => {
                let service = self.cfg.service.clone();
                metrics::gauge!("relais_outbox_backlog", "service" => service.clone())
                    .set(count as f64);
                metrics::gauge!("relais_outbox_oldest_unpublished_seconds", "service" => service)
                    .set(age);
            }
            Err(e) => tracing::warn!(error = %e, "outbox backlog query failed"),
        }
        match waiting_dead_letters(&self.pool).await {
            Ok(rows) => {
                for (consumer, n) in rows {
                    metrics::gauge!(
                        "relais_dead_letters",
                        "service" => self.cfg.service.clone(),
                        "consumer" => consumer
                    )
                    .set(n as f64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "dead letters query failed"),
        }
    }

    /// Prunes the service's platform tables (crate::retention): the
    /// active relay does it, so one process per service does.
    async fn upkeep(&self) {
        let retention = Retention {
            outbox: self.cfg.retention,
            mail: self.cfg.prunes_mail,
        };
        let result: anyhow::Result<()> = async {
            let mut conn = self.pool.acquire().await?;
            let conn = conn.acquire().await?;
            retention::prune(conn, &retention).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = ?e, "outbox upkeep failed");
        }
    }
}

/// Headers of an outbox row, for tests and tools.
pub type Headers = HashMap<String, String>;
