//! Tracing for every service: a `tracing` subscriber (JSON or pretty), an
//! OpenTelemetry tracer that exports over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried across
//! gRPC metadata, outbox rows and NATS headers, so one trace follows a change
//! from the API call to every consumer.

use std::collections::HashMap;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

/// Flushes pending spans when dropped: keep it alive for the whole `main`.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Exports the spans ended so far (tests read them without waiting for
    /// the batch's next round).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("telemetry flush: {e}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

/// Installs the global subscriber, exporting spans over OTLP to
/// `OTEL_EXPORTER_OTLP_ENDPOINT` when it is set. `RUST_LOG` filters the logs
/// (default `info`), `LOG_FORMAT=json` switches them to JSON lines carrying
/// `trace_id` and `span_id`; `OTEL_TRACES_FILTER` filters the spans exported
/// (default `info`), apart from the logs, so that quieting the logs does not
/// cut the traces. A second call (tests) keeps the first subscriber.
pub fn init(service_name: &str) -> anyhow::Result<TelemetryGuard> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    init_exporting_to(
        service_name,
        (!endpoint.is_empty()).then_some(endpoint.as_str()),
    )
}

/// [`init`] with the OTLP endpoint given (a test's own receiver) or none.
pub fn init_exporting_to(
    service_name: &str,
    endpoint: Option<&str>,
) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = endpoint {
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

    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let span_filter =
        EnvFilter::try_from_env("OTEL_TRACES_FILTER").unwrap_or_else(|_| EnvFilter::new("info"));
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(span_filter);
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let registry = tracing_subscriber::registry().with(otel);
    let _ = if json {
        registry
            .with(json_logs(std::io::stdout, log_filter))
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_filter(log_filter))
            .try_init()
    };
    Ok(TelemetryGuard { provider })
}

/// JSON log lines, one an event, each with the `trace_id` and `span_id` of
/// the span it was logged in: what leads from a log line to its trace.
/// `filter` chooses the lines; the ids are those of the exported spans
/// whatever it lets through.
pub fn json_logs<S, W>(
    writer: W,
    filter: impl tracing_subscriber::layer::Filter<S> + Send + Sync + 'static,
) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let lines = tracing_subscriber::fmt::layer()
        .json()
        .event_format(WithTraceIds(
            tracing_subscriber::fmt::format()
                .json()
                .with_current_span(true),
        ))
        .with_writer(writer)
        .with_filter(filter);
    RecordTraceIds::default().and_then(lines)
}

/// A span's OpenTelemetry ids, as its log lines print them.
#[derive(Clone)]
struct TraceIds {
    trace_id: String,
    span_id: String,
}

/// Notes each span's [`TraceIds`] in its extensions when it is first
/// entered: by then its parent is set (from the caller's headers too), and
/// a formatter, called while an event is dispatched, cannot ask the
/// dispatcher itself.
#[derive(Default)]
struct RecordTraceIds {
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl<S> Layer<S> for RecordTraceIds
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        if span.extensions().get::<TraceIds>().is_some() {
            return;
        }
        let Some(dispatch) = self.dispatch.get().and_then(|d| d.upgrade()) else {
            return;
        };
        // Not while holding the span's extensions: this locks them.
        let Some(cx) = tracing_opentelemetry::get_otel_context(id, &dispatch) else {
            return;
        };
        let ids = cx.span().span_context().clone();
        if ids.is_valid() {
            span.extensions_mut().insert(TraceIds {
                trace_id: ids.trace_id().to_string(),
                span_id: ids.span_id().to_string(),
            });
        }
    }
}

/// Wraps the JSON formatter: its line, with the ids added first.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let ids = ctx.event_scope().and_then(|scope| {
            scope
                .into_iter()
                .find_map(|s| s.extensions().get::<TraceIds>().cloned())
        });
        match (line.strip_prefix('{'), ids) {
            (Some(rest), Some(ids)) => write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}",
                ids.trace_id, ids.span_id
            ),
            _ => writer.write_str(&line),
        }
    }
}

/// The current span's trace context as W3C headers (`traceparent`, ...).
pub fn current_context_headers() -> HashMap<String, String> {
    context_headers(&tracing::Span::current())
}

/// `span`'s trace context as W3C headers, for what it sends on.
pub fn context_headers(span: &tracing::Span) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let cx = span.context();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Where the log lines go, to be read back.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    #[test]
    fn a_json_log_line_leads_to_the_span_it_was_logged_in() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(super::json_logs(
                lines.clone(),
                tracing_subscriber::filter::LevelFilter::INFO,
            ));
        let ids = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before any span");
            let span = tracing::info_span!("place order");
            let _entered = span.enter();
            tracing::info!(order = "o-1", "order placed");
            span.context().span().span_context().clone()
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let logged: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(logged.len(), 2, "{text}");
        assert!(
            logged[0].get("trace_id").is_none(),
            "no span, no ids: {text}"
        );
        assert_eq!(logged[1]["trace_id"], ids.trace_id().to_string());
        assert_eq!(logged[1]["span_id"], ids.span_id().to_string());
        assert_eq!(logged[1]["fields"]["message"], "order placed");
        assert_eq!(logged[1]["fields"]["order"], "o-1");
        assert_eq!(logged[1]["span"]["name"], "place order");
    }
}
