//! Durable pull consumers with explicit ack and an inbox (docs/architecture.md §4).
//!
//! For each message: an `inbox` row (consumer, event id) and the handler's
//! effects commit in one transaction, then the message is double-acked (the
//! server confirms the ack). A redelivered event finds its inbox row and
//! changes nothing. A failing handler is retried with exponential backoff
//! (NAK with delay); after the last attempt, or at once for an event the
//! handler calls poison, the event goes to the `dead_letters` table and the
//! dead-letter stream with its error, and the consumer goes on. A dead letter
//! can be replayed through the same handler (crate::dead_letters).

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use bytes::Bytes;
use futures::FutureExt;
use futures::StreamExt;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{nats::Namespace, retry::backoff_delay, telemetry};

/// An event as a handler sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: Uuid,
    pub subject: String,
    pub payload: Bytes,
    pub headers: HashMap<String, String>,
    /// 1 on the first delivery.
    pub attempt: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth trying again (a peer is down, a lock timed out).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Will never succeed (undecodable payload, impossible data): dead
    /// letter at once.
    #[error("{0:#}")]
    Poison(anyhow::Error),
}

impl HandlerError {
    /// An event that will never succeed, with why.
    pub fn poison(e: impl std::fmt::Display) -> Self {
        Self::Poison(anyhow::anyhow!("{e}"))
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Retry(e.into())
    }
}

impl From<anyhow::Error> for HandlerError {
    fn from(e: anyhow::Error) -> Self {
        Self::Retry(e)
    }
}

/// A consumer's logic: its effects go through `tx`, the transaction that
/// also records the event in the inbox.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        tx: &mut PgConnection,
        event: &Delivery,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Headers of a dead letter on `<ns>.deadletter.<service>.<consumer>`
/// (its payload is the event's, as received): the event's subject...
pub const ORIGINAL_SUBJECT_HEADER: &str = "Relais-Original-Subject";
/// ...its id (the `Nats-Msg-Id` it came with)...
pub const EVENT_ID_HEADER: &str = "Relais-Event-Id";
/// ...and the handler's last error, on one line.
pub const ERROR_HEADER: &str = "Relais-Error";

#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// The owning service (names the dead-letter subject).
    pub service: String,
    /// Durable consumer name, unique per stream; also the inbox key.
    pub name: String,
    /// The producing service whose stream is read.
    pub source_service: String,
    /// Subjects to receive, e.g. `relais.orders.v1.*.order.*`.
    pub filter_subjects: Vec<String>,
    /// Attempts before the event becomes a dead letter.
    pub max_attempts: i64,
    /// First retry delay; doubles each attempt, with jitter, up to 1 minute.
    pub retry_base: Duration,
}

pub struct ConsumerRunner<H> {
    pool: PgPool,
    js: jetstream::Context,
    ns: Namespace,
    spec: ConsumerSpec,
    handler: Arc<H>,
    concurrency: usize,
}

impl<H: Handler> ConsumerRunner<H> {
    pub fn new(
        pool: PgPool,
        js: jetstream::Context,
        ns: Namespace,
        spec: ConsumerSpec,
        handler: Arc<H>,
    ) -> Self {
        Self {
            pool,
            js,
            ns,
            spec,
            handler,
            concurrency: 1,
        }
    }

    /// Handles up to `n` messages at once instead of one after the other,
    /// for handlers whose effects do not depend on the order events arrive
    /// in (each still commits with its inbox row and is acked after).
    pub fn concurrent(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Creates the durable consumer (and the streams it needs).
    pub async fn provision(&self) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
        let stream = self
            .ns
            .ensure_stream(&self.js, &self.spec.source_service)
            .await?;
        self.ns.ensure_dead_letter_stream(&self.js).await?;
        stream
            .get_or_create_consumer(
                &self.spec.name,
                pull::Config {
                    durable_name: Some(self.spec.name.clone()),
                    filter_subjects: self.spec.filter_subjects.clone(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    // The runner decides when to give up (dead letter), so the
                    // server never drops a message on its own.
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))
            .with_context(|| format!("failed to create consumer {}", self.spec.name))
    }

    /// Handles messages until `shutdown`; the message in hand is finished
    /// first. Reconnects with backoff when the broker goes away.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut attempt = 0u32;
        while !shutdown.is_cancelled() {
            match self.consume(&shutdown).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = ?e, consumer = %self.spec.name, "consumer interrupted");
                    let delay =
                        backoff_delay(attempt, Duration::from_millis(200), Duration::from_secs(10));
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {},
                    }
                }
            }
        }
    }

    async fn consume(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let consumer = self.provision().await?;
        // Pull requests of 10 s with a 2 s heartbeat: after the broker
        // restarts, a request it lost is noticed in seconds (two missed
        // heartbeats) and the consumer starts again, instead of waiting out
        // the client's defaults (30 s, 15 s) with events piling up.
        let mut messages = consumer
            .stream()
            .expires(Duration::from_secs(10))
            .heartbeat(Duration::from_secs(2))
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut info = consumer;
        let mut lag = tokio::time::interval(Duration::from_secs(5));
        lag.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // The messages in hand are finished first.
                () = shutdown.cancelled() => {
                    while let Some(done) = in_flight.next().await {
                        done?;
                    }
                    // Fetched but not started: handed back at once, so
                    // the next process takes them now rather than after
                    // the ack wait.
                    while let Some(Some(Ok(message))) = messages.next().now_or_never() {
                        if let Err(e) = ack(&message, AckKind::Nak(None)).await {
                            tracing::debug!(error = ?e, "message not handed back");
                        }
                    }
                    return Ok(());
                }
                Some(done) = in_flight.next(), if !in_flight.is_empty() => done?,
                _ = lag.tick() => self.export_lag(&mut info).await,
                next = messages.next(), if in_flight.len() < self.concurrency => {
                    let Some(message) = next else {
                        anyhow::bail!("message stream ended");
                    };
                    let message = message.map_err(|e| anyhow::anyhow!(e))?;
                    in_flight.push(self.process(message));
                }
            }
        }
    }

    /// What the durable has not delivered yet and what it has delivered but
    /// not seen acked, as the broker counts them (every tenant's).
    async fn export_lag(&self, consumer: &mut jetstream::consumer::Consumer<pull::Config>) {
        // Bounded: the handlers in flight are not polled meanwhile.
        match tokio::time::timeout(Duration::from_millis(500), consumer.info())
            .await
            .map_err(|_| "no answer within 500 ms".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            Ok(info) => {
                let labels = [
                    ("service", self.spec.service.clone()),
                    ("stream", info.stream_name.clone()),
                    ("consumer", self.spec.name.clone()),
                ];
                metrics::gauge!("relais_jetstream_consumer_pending", &labels)
                    .set(info.num_pending as f64);
                metrics::gauge!("relais_jetstream_consumer_ack_pending", &labels)
                    .set(info.num_ack_pending as f64);
            }
            Err(e) => {
                tracing::debug!(error = %e, consumer = %self.spec.name, "consumer info failed")
            }
        }
    }

    async fn process(&self, message: jetstream::Message) -> anyhow::Result<()> {
        let attempt = message.info().map(|i| i.delivered).unwrap_or(1);
        let mut headers = HashMap::new();
        if let Some(h) = &message.headers {
            for (k, v) in h.iter() {
                if let Some(first) = v.first() {
                    headers.insert(k.to_string(), first.as_str().to_owned());
                }
            }
        }
        let id_header = headers
            .get("Nats-Msg-Id")
            .and_then(|v| Uuid::parse_str(v).ok());
        let delivery = Delivery {
            event_id: id_header.unwrap_or_else(Uuid::now_v7),
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
            headers,
            attempt,
        };
        let span = tracing::info_span!(
            "consume",
            otel.name = %format!("consume {}", self.spec.name),
            otel.kind = "consumer",
            relais.service = %self.spec.service,
            consumer = %self.spec.name,
            subject = %delivery.subject,
            event_id = %delivery.event_id,
            attempt,
        );
        if let Some(h) = &message.headers {
            telemetry::set_parent_from(&span, &telemetry::NatsHeaders(h));
        }
        async {
            let outcome = if id_header.is_none() {
                Err(HandlerError::Poison(anyhow::anyhow!(
                    "message has no valid Nats-Msg-Id event id"
                )))
            } else {
                self.handle_once(&delivery).await
            };
            match outcome {
                Ok(()) => ack(&message, AckKind::Ack).await,
                Err(HandlerError::Retry(e)) if attempt < self.spec.max_attempts => {
                    let delay = backoff_delay(
                        (attempt - 1).max(0) as u32,
                        self.spec.retry_base,
                        Duration::from_secs(60),
                    );
                    tracing::warn!(
                        error = format!("{e:#}"),
                        ?delay,
                        "handler failed, will retry"
                    );
                    metrics::counter!(
                        "relais_consumer_retries_total",
                        "service" => self.spec.service.clone(),
                        "consumer" => self.spec.name.clone()
                    )
                    .increment(1);
                    ack(&message, AckKind::Nak(Some(delay))).await
                }
                Err(e) => {
                    tracing::error!(error = %e, "event dead-lettered");
                    self.dead_letter(&delivery, &e.to_string()).await?;
                    ack(&message, AckKind::Ack).await
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The inbox row and the handler's effects, in one transaction.
    async fn handle_once(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        handle_in_inbox(
            &self.pool,
            &self.spec.service,
            &self.spec.name,
            self.handler.as_ref(),
            delivery,
        )
        .await
    }

    async fn dead_letter(&self, d: &Delivery, error: &str) -> anyhow::Result<()> {
        let headers = serde_json::to_value(&d.headers)?;
        sqlx::query(
            "insert into dead_letters (id, consumer, event_id, subject, payload, headers, error, attempts, tenant)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (consumer, event_id) do update
             set error = excluded.error, attempts = excluded.attempts, replayed_at = null, created_at = now()",
        )
        .bind(Uuid::now_v7())
        .bind(&self.spec.name)
        .bind(d.event_id)
        .bind(&d.subject)
        .bind(d.payload.as_ref())
        .bind(headers)
        .bind(error)
        .bind(d.attempt as i32)
        .bind(Namespace::tenant_of(&d.subject))
        .execute(&self.pool)
        .await
        .context("failed to record dead letter")?;
        let mut h = async_nats::HeaderMap::new();
        h.insert(ORIGINAL_SUBJECT_HEADER, d.subject.as_str());
        h.insert(EVENT_ID_HEADER, d.event_id.to_string().as_str());
        h.insert(ERROR_HEADER, error.replace(['\r', '\n'], " ").as_str());
        let subject = self
            .ns
            .dead_letter_subject(&self.spec.service, &self.spec.name);
        let ack = self
            .js
            .publish_with_headers(subject, h, d.payload.clone())
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        ack.await.map_err(|e| anyhow::anyhow!(e))?;
        metrics::counter!(
            "relais_dead_letters_total",
            "service" => self.spec.service.clone(),
            "consumer" => self.spec.name.clone()
        )
        .increment(1);
        Ok(())
    }
}

async fn ack(message: &jetstream::Message, kind: AckKind) -> anyhow::Result<()> {
    // A double ack waits for the server's confirmation, so an ack lost on
    // the way surfaces here instead of as a silent redelivery later.
    message
        .double_ack_with(kind)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("ack failed")
}

pub(crate) async fn handle_in_inbox<H: Handler>(
    pool: &PgPool,
    service: &str,
    consumer: &str,
    handler: &H,
    delivery: &Delivery,
) -> Result<(), HandlerError> {
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "insert into inbox (consumer, event_id, subject) values ($1, $2, $3) on conflict do nothing",
    )
    .bind(consumer)
    .bind(delivery.event_id)
    .bind(&delivery.subject)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let outcome = if fresh {
        handler.handle(&mut tx, delivery).await?;
        tx.commit().await?;
        "applied"
    } else {
        tracing::debug!("event already handled");
        "duplicate"
    };
    metrics::counter!(
        "relais_consumer_handled_total",
        "service" => service.to_owned(),
        "consumer" => consumer.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
    Ok(())
}
