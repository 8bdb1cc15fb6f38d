//! Outbox relay: events per second from a pre-filled outbox to JetStream,
//! against a bare async-nats publisher sending the same messages with the
//! same number of acks in flight, to a stream configured the same way.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use anyhow::Context;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use relais_platform::{
    config::PlatformConfig,
    db,
    nats::{self, Namespace},
    outbox::{self, Outbox, Relay, RelayConfig},
    testing,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    stats::{Rounds, Run},
    support::{BenchDb, Task, random_bytes},
};

/// The relay's "service": no tables of its own, only the platform's.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Stream names under the run's namespace: `<NS>_RELAY`, `<NS>_RAW`.
const RELAY_SERVICE: &str = "relay";
const RAW_SERVICE: &str = "raw";

#[derive(Debug, Clone)]
pub struct Params {
    pub messages: usize,
    pub message_bytes: usize,
    /// Acks in flight for the raw publisher (the relay's batch is 512).
    pub window: usize,
    pub rounds: usize,
    pub keep: bool,
}

pub struct Report {
    pub raw: Rounds,
    pub relay: Rounds,
    pub batch_size: i64,
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let cfg = testing::config(&testing::nats_url()).await.context(
        "failed to create the benchmark database (is the stack up? `make bench` starts it)",
    )?;
    let db = BenchDb::new(&cfg.database_url)?;
    let ns = Namespace::new(cfg.namespace.clone());
    let client = nats::connect_as(
        &cfg.nats_url,
        "relais-bench",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await?;
    let js = jetstream::new(client.clone());

    let result = async {
        let pool = db::connect(&cfg, "bench", &MIGRATOR)
            .await
            .context("failed to prepare the relay's database")?;
        let measured = measure(p, &cfg, &db, &ns, &js, &pool).await;
        pool.close().await;
        measured
    }
    .await;

    for service in [RAW_SERVICE, RELAY_SERVICE] {
        let _ = js.delete_stream(ns.stream(service)).await;
    }
    let _ = client.flush().await;
    let dropped = db.drop_now(p.keep).await;
    let report = result?;
    dropped?;
    Ok(report)
}

/// Alternates rounds, raw publisher then relay, each on a fresh stream
/// (and the relay on an emptied outbox).
async fn measure(
    p: &Params,
    cfg: &PlatformConfig,
    db: &BenchDb,
    ns: &Namespace,
    js: &jetstream::Context,
    pool: &PgPool,
) -> anyhow::Result<Report> {
    let tenant = Uuid::now_v7();
    let payload = Bytes::from(random_bytes(p.message_bytes));
    let relay_cfg = RelayConfig::new(RELAY_SERVICE, cfg.outbox_poll, cfg.outbox_retention);
    let mut report = Report {
        raw: Rounds::default(),
        relay: Rounds::default(),
        batch_size: relay_cfg.batch_size,
    };
    for round in 1..=p.rounds {
        // Raw: the publisher the relay would be without Postgres.
        eprintln!(
            "bench: relay round {round}/{}: raw publisher, {} messages of {} B, {} acks in flight",
            p.rounds, p.messages, p.message_bytes, p.window
        );
        let stream = fresh_stream(js, ns, RAW_SERVICE).await?;
        let subject = ns.subject(RAW_SERVICE, tenant, "product", "created");
        let raw = publish_raw(js, &subject, &payload, p.messages, p.window).await?;
        expect_messages(js, &stream, p.messages).await?;
        report.raw.push(raw);

        // Relay: the same messages as committed outbox rows, then the relay.
        eprintln!(
            "bench: relay round {round}/{}: outbox relay, {} events (batch {})",
            p.rounds, p.messages, relay_cfg.batch_size
        );
        let stream = fresh_stream(js, ns, RELAY_SERVICE).await?;
        let subject = ns.subject(RELAY_SERVICE, tenant, "product", "created");
        sqlx::query("truncate outbox")
            .execute(pool)
            .await
            .context("failed to empty the outbox")?;
        fill_outbox(pool, &subject, &payload, p.messages).await?;
        sqlx::query("analyze outbox")
            .execute(pool)
            .await
            .context("analyze outbox")?;
        db.checkpoint().await?;
        db.wait_until_unlocked().await?;
        let relay = Relay::new(pool.clone(), js.clone(), Outbox::new(), relay_cfg.clone());
        let start = Instant::now();
        let task = Task::spawn(|shutdown| relay.run(shutdown));
        let timeout = Duration::from_secs(60).max(Duration::from_millis(p.messages as u64 / 2));
        let waited = wait_for_empty_outbox(pool, start, timeout).await;
        let elapsed = start.elapsed();
        task.stop().await?;
        waited?;
        expect_messages(js, &stream, p.messages).await?;
        report.relay.push(Run {
            ops: p.messages as u64,
            elapsed,
            latencies: None,
        });
    }
    Ok(report)
}

/// Deletes the service's stream of an earlier round and creates it again,
/// as `Runtime::start` does; returns its name.
async fn fresh_stream(
    js: &jetstream::Context,
    ns: &Namespace,
    service: &str,
) -> anyhow::Result<String> {
    let name = ns.stream(service);
    let _ = js.delete_stream(&name).await;
    ns.ensure_stream(js, service).await?;
    Ok(name)
}

/// Publishes `count` messages, each with its own `Nats-Msg-Id`, keeping at
/// most `window` acks outstanding (a sliding window: the oldest ack is
/// awaited when the window is full).
async fn publish_raw(
    js: &jetstream::Context,
    subject: &str,
    payload: &Bytes,
    count: usize,
    window: usize,
) -> anyhow::Result<Run> {
    let window = window.max(1);
    let mut in_flight: VecDeque<jetstream::context::PublishAckFuture> =
        VecDeque::with_capacity(window);
    let start = Instant::now();
    for _ in 0..count {
        if in_flight.len() >= window
            && let Some(ack) = in_flight.pop_front()
        {
            ack.await.context("publish ack failed")?;
        }
        let msg = PublishMessage::build()
            .payload(payload.clone())
            .message_id(Uuid::now_v7().to_string());
        let ack = js
            .send_publish(subject.to_owned(), msg)
            .await
            .context("publish failed")?;
        in_flight.push_back(ack);
    }
    while let Some(ack) = in_flight.pop_front() {
        ack.await.context("publish ack failed")?;
    }
    Ok(Run {
        ops: count as u64,
        elapsed: start.elapsed(),
        latencies: None,
    })
}

/// Inserts `count` unpublished rows as `outbox::enqueue` would, in bulk.
async fn fill_outbox(
    pool: &PgPool,
    subject: &str,
    payload: &[u8],
    count: usize,
) -> anyhow::Result<()> {
    const CHUNK: usize = 10_000;
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK);
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "insert into outbox (id, subject, payload, aggregate_id)
             select id, $1, $2, id::text from unnest($3::uuid[]) with ordinality as t(id, i)
             order by i",
        )
        .bind(subject)
        .bind(payload)
        .bind(&ids)
        .execute(pool)
        .await
        .context("failed to fill the outbox")?;
        left -= n;
    }
    Ok(())
}

async fn wait_for_empty_outbox(
    pool: &PgPool,
    start: Instant,
    timeout: Duration,
) -> anyhow::Result<()> {
    loop {
        let (count, _) = outbox::backlog(pool)
            .await
            .context("failed to read the outbox backlog")?;
        if count == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < timeout,
            "the relay left {count} events unpublished after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn expect_messages(
    js: &jetstream::Context,
    stream: &str,
    expected: usize,
) -> anyhow::Result<()> {
    let mut s = js
        .get_stream(stream)
        .await
        .with_context(|| format!("stream {stream} is missing"))?;
    let info = s
        .info()
        .await
        .with_context(|| format!("failed to read stream {stream}"))?;
    anyhow::ensure!(
        info.state.messages == expected as u64,
        "stream {stream} holds {} messages, expected {expected}",
        info.state.messages
    );
    Ok(())
}
