//! A throwaway "probe" service on the platform: its own database and
//! namespace, a relay, consumers, and a reader that sees the stream as a
//! subscriber would.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use relais_platform::{
    consumer::{ConsumerRunner, ConsumerSpec, Delivery, Handler, HandlerError},
    db,
    nats::Namespace,
    outbox::{self, Outbox, OutboxEvent, Relay, RelayConfig},
    testing,
};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");
pub const SERVICE: &str = "probe";

pub struct Env {
    pub pool: PgPool,
    pub js: jetstream::Context,
    pub ns: Namespace,
    pub outbox: Outbox,
    pub tenant: Uuid,
}

pub async fn env() -> Env {
    env_on(&testing::nats_url()).await
}

pub async fn env_on(nats_url: &str) -> Env {
    testing::init_logging();
    let cfg = testing::config(nats_url).await.expect("config");
    let pool = db::connect(&cfg, SERVICE, &MIGRATIONS).await.expect("db");
    // The probe is no service with a NATS user: its relay and consumers
    // run as the test harness.
    let client = testing::nats_client_on(nats_url).await;
    let js = jetstream::new(client);
    let ns = Namespace::new(cfg.namespace.clone());
    ns.ensure_stream(&js, SERVICE).await.expect("stream");
    Env {
        pool,
        js,
        ns,
        outbox: Outbox::new(),
        tenant: Uuid::now_v7(),
    }
}

impl Env {
    pub fn relay(&self) -> Relay {
        self.relay_with(self.pool.clone(), self.outbox.clone())
    }

    pub fn relay_with(&self, pool: PgPool, outbox: Outbox) -> Relay {
        let mut cfg =
            RelayConfig::new(SERVICE, Duration::from_millis(50), Duration::from_secs(600));
        cfg.batch_size = 64;
        Relay::new(pool, self.js.clone(), outbox, cfg)
    }

    /// Starts a relay; cancel the token to stop it.
    pub fn spawn_relay(&self) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let stop = CancellationToken::new();
        let handle = tokio::spawn(self.relay().run(stop.clone()));
        (stop, handle)
    }

    pub fn subject(&self, aggregate: &str) -> String {
        self.ns.subject(SERVICE, self.tenant, "thing", aggregate)
    }

    /// Bumps `aggregate`'s version and emits an event carrying it, in one
    /// transaction, as a service does. Returns the event id.
    pub async fn change(&self, aggregate: &str) -> Uuid {
        let mut tx = self.pool.begin().await.expect("begin");
        let id = change_in(&mut tx, self, aggregate).await;
        self.outbox.commit(tx).await.expect("commit");
        id
    }

    /// Every message in the probe stream, as a subscriber reading from the
    /// start would see it; waits until at least `n` arrived (or 15 s).
    pub async fn stream_messages(&self, n: usize) -> Vec<jetstream::Message> {
        testing::read_stream(
            &self.js,
            &self.ns.stream(SERVICE),
            n,
            Duration::from_secs(15),
        )
        .await
        .expect("stream readable")
    }

    pub async fn stream_count(&self) -> u64 {
        let mut s = self
            .js
            .get_stream(self.ns.stream(SERVICE))
            .await
            .expect("stream");
        s.info().await.expect("info").state.messages
    }

    pub async fn unpublished(&self) -> i64 {
        outbox::backlog(&self.pool).await.expect("backlog").0
    }

    pub fn consumer<H: Handler>(&self, name: &str, handler: Arc<H>) -> ConsumerRunner<H> {
        ConsumerRunner::new(
            self.pool.clone(),
            self.js.clone(),
            self.ns.clone(),
            ConsumerSpec {
                service: "probe_consumer".into(),
                name: name.into(),
                source_service: SERVICE.into(),
                filter_subjects: vec![format!("{}.{SERVICE}.v1.>", self.ns.0)],
                max_attempts: 3,
                retry_base: Duration::from_millis(50),
            },
            handler,
        )
    }

    pub async fn effects(&self, consumer: &str) -> i64 {
        sqlx::query_scalar("select count(*) from effects where consumer = $1")
            .bind(consumer)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

pub async fn change_in(conn: &mut PgConnection, env: &Env, aggregate: &str) -> Uuid {
    let version: i64 = sqlx::query_scalar(
        "insert into aggregates (id, version) values ($1, 1)
         on conflict (id) do update set version = aggregates.version + 1 returning version",
    )
    .bind(aggregate)
    .fetch_one(&mut *conn)
    .await
    .expect("aggregate");
    let event = OutboxEvent::new(
        env.subject(aggregate),
        aggregate,
        version.to_be_bytes().to_vec(),
    );
    outbox::enqueue(conn, &event).await.expect("enqueue");
    event.id
}

/// Records each event it sees as an effect (in the inbox transaction).
pub struct Recorder {
    pub name: String,
}

impl Handler for Recorder {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        record(tx, &self.name, event).await
    }
}

pub async fn record(
    tx: &mut PgConnection,
    consumer: &str,
    event: &Delivery,
) -> Result<(), HandlerError> {
    sqlx::query(
        "insert into effects (consumer, event_id, subject, payload, traceparent) values ($1, $2, $3, $4, $5)",
    )
    .bind(consumer)
    .bind(event.event_id)
    .bind(&event.subject)
    .bind(event.payload.as_ref())
    .bind(event.headers.get("traceparent"))
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
