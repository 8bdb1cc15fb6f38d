//! Tracing for every service: a `tracing` subscriber (JSON or pretty), an
//! OpenTelemetry tracer that exports over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried across
//! gRPC metadata, outbox rows and NATS headers, so one trace follows a change
//! from the API call to every consumer.

use std::collections::HashMap;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Flushes pending spans when dropped: keep it alive for the whole `main`.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` filters (default `info`),
/// `LOG_FORMAT=json` switches to JSON lines. A second call (tests) keeps the
/// first subscriber.
pub fn init(service_name: &str) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    if !endpoint.is_empty() {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    // Without an exporter spans still get trace ids, so context propagates
    // through the process and across NATS even when nothing collects it.
    let provider = builder.build();
    let tracer = provider.tracer(service_name.to_owned());
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let _ = if json {
        registry
            .with(tracing_subscriber::fmt::layer().json())
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    Ok(TelemetryGuard { provider })
}

/// The current span's trace context as W3C headers (`traceparent`, ...).
pub fn current_context_headers() -> HashMap<String, String> {
    let mut map = HashMap::new();
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut map));
    map
}

/// Makes `span` a child of the trace carried in `headers`.
pub fn set_parent_from(span: &tracing::Span, headers: &impl Extractor) {
    let cx: Context = opentelemetry::global::get_text_map_propagator(|p| p.extract(headers));
    let _ = span.set_parent(cx);
}

/// Reads W3C headers from HTTP/gRPC metadata.
pub struct HttpHeaders<'a>(pub &'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Writes W3C headers into outgoing HTTP/gRPC metadata.
pub struct HttpHeadersMut<'a>(pub &'a mut http::HeaderMap);

impl Injector for HttpHeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Reads W3C headers from a NATS message.
pub struct NatsHeaders<'a>(pub &'a async_nats::HeaderMap);

impl Extractor for NatsHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// Adds the current trace context to an outgoing gRPC request, for
/// service-to-service calls (`tonic::service::interceptor` compatible).
pub fn inject_into_request<T>(req: &mut tonic::Request<T>) {
    let cx = tracing::Span::current().context();
    let mut headers = http::HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HttpHeadersMut(&mut headers))
    });
    for (k, v) in headers.iter() {
        if let Ok(val) = v.to_str()
            && let Ok(val) = val.parse()
        {
            req.metadata_mut().insert(
                tonic::metadata::MetadataKey::from_bytes(k.as_str().as_bytes())
                    .expect("valid header name"),
                val,
            );
        }
    }
}
