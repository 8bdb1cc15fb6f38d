//! The admin HTTP port of every service: `/livez` (the process answers),
//! `/readyz` (Postgres and NATS reachable) and Prometheus `/metrics`.

use std::sync::OnceLock;

use axum::{Router, extract::State, http::StatusCode, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Seconds: from a cached read to a call past its deadline.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder (installed once, shared by every
/// service running in the process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Histograms, not summaries, for every latency: buckets add up
            // across pods, quantiles do not.
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours just
            // renders nothing, which the metrics test would show.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[derive(Clone)]
struct Probes {
    pool: PgPool,
    nats: async_nats::Client,
    metrics: PrometheusHandle,
}

pub fn router(pool: PgPool, nats: async_nats::Client) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(p): State<Probes>| async move { p.metrics.render() }),
        )
        .with_state(Probes {
            pool,
            nats,
            metrics: metrics_handle(),
        })
}

/// Postgres answers and NATS is connected.
pub async fn ready(pool: &PgPool, nats: &async_nats::Client) -> bool {
    db_ready(pool).await && nats_ready(nats)
}

async fn db_ready(pool: &PgPool) -> bool {
    tokio::time::timeout(
        std::time::Duration::from_secs(2),
        sqlx::query("select 1").execute(pool),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

fn nats_ready(nats: &async_nats::Client) -> bool {
    nats.connection_state() == async_nats::connection::State::Connected
}

async fn readyz(State(p): State<Probes>) -> (StatusCode, String) {
    let db = db_ready(&p.pool).await;
    let nats = nats_ready(&p.nats);
    let body = format!("postgres: {}\nnats: {}\n", ok(db), ok(nats));
    if db && nats {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

fn ok(b: bool) -> &'static str {
    if b { "ok" } else { "unreachable" }
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}
