//! The gateway's admin port and the span of each HTTP request. The
//! platform's admin router also probes NATS, which the gateway does not
//! use yet; the probes here are the same otherwise and the metrics the
//! platform's one recorder.

use std::time::Duration;

use axum::{Router, extract::State, http::StatusCode, routing::get};
use relais_platform::{admin::metrics_handle, telemetry};
use sqlx::PgPool;
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::TraceLayer,
};

pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(|| async { metrics_handle().render() }))
        .with_state(pool)
}

/// Ready while its own database answers; never depends on a service, so
/// one service down does not take the whole API out of rotation (its
/// routes answer 503 meanwhile).
async fn readyz(State(pool): State<PgPool>) -> (StatusCode, &'static str) {
    let ok = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("select 1").execute(&pool),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if ok {
        (StatusCode::OK, "postgres: ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "postgres: unreachable\n")
    }
}

type Trace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&axum::http::Request<axum::body::Body>) -> tracing::Span,
    tower_http::trace::DefaultOnRequest,
    fn(&axum::http::Response<axum::body::Body>, Duration, &tracing::Span),
>;

/// A span per request, joined to the caller's trace when it sent one
/// (`traceparent`), so the services' spans hang under it; and the request
/// metrics.
pub fn trace_layer() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(make_span as fn(&axum::http::Request<axum::body::Body>) -> tracing::Span)
        .on_response(
            on_response as fn(&axum::http::Response<axum::body::Body>, Duration, &tracing::Span),
        )
}

fn make_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = route_of(req);
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{} {route}", req.method()),
        otel.kind = "server",
        relais.service = crate::SERVICE,
        http.request.method = %req.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    telemetry::set_parent_from(&span, &telemetry::HttpHeaders(req.headers()));
    span
}

/// `relais_http_requests_total` and the latency histogram
/// `relais_http_request_duration_seconds` (buckets in the platform's
/// recorder), by route pattern, method and, for the count, status: what an
/// error ratio and a percentile per route are computed from. A streamed
/// answer's latency is the time to its headers.
pub async fn record_metrics(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = route_of(&req);
    // A method outside HTTP's own is anyone's string: one series for all.
    let method = match *req.method() {
        axum::http::Method::GET
        | axum::http::Method::POST
        | axum::http::Method::PUT
        | axum::http::Method::PATCH
        | axum::http::Method::DELETE
        | axum::http::Method::HEAD
        | axum::http::Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "OTHER".to_owned(),
    };
    let start = std::time::Instant::now();
    let res = next.run(req).await;
    let labels = [
        ("service", "gateway".to_owned()),
        ("route", route),
        ("method", method),
    ];
    metrics::histogram!("relais_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    let [service, route, method] = labels;
    metrics::counter!(
        "relais_http_requests_total",
        &[
            service,
            route,
            method,
            ("status", res.status().as_u16().to_string())
        ]
    )
    .increment(1);
    res
}

/// The route's pattern, not the path: ids would make every request its
/// own metric series.
fn route_of<B>(req: &axum::http::Request<B>) -> String {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned()
}

fn on_response(
    res: &axum::http::Response<axum::body::Body>,
    _latency: Duration,
    span: &tracing::Span,
) {
    span.record("http.response.status_code", res.status().as_u16());
}
