//! One count and one latency per gRPC call, by service, method and status
//! code: `relais_grpc_requests_total` and the histogram
//! `relais_grpc_request_duration_seconds` (buckets in crate::admin), so
//! that error ratios and percentiles aggregate across pods.
//!
//! The code of a call that succeeds, or fails after streaming, arrives in
//! the trailers at the end of the body, not with the response headers; a
//! call refused at once carries it in its headers ("trailers-only"). So the
//! response body is wrapped and the call is counted when its code is known:
//! in the headers, in the trailers, or — when the call is dropped first —
//! as DEADLINE_EXCEEDED if it had outlived the deadline its client sent
//! (`grpc-timeout`: tonic enforces it outside this layer, by dropping the
//! call), else as CANCELLED (the client went away).

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use http_body::{Frame, SizeHint};
use tonic::{Code, body::Body};

/// Wraps a gRPC server's routes; `service` names the Relais service.
#[derive(Clone, Copy)]
pub struct MetricsLayer {
    pub service: &'static str,
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            service: self.service,
        }
    }
}

#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    service: &'static str,
}

impl<S, B> tower::Service<Request<B>> for Metered<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut call = Call {
            service: self.service,
            method: req.uri().path().to_owned(),
            start: Instant::now(),
            deadline: req.headers().get("grpc-timeout").and_then(grpc_timeout),
            done: false,
        };
        let response = self.inner.call(req);
        Box::pin(async move {
            let (parts, body) = response.await?.into_parts();
            if let Some(code) = parts.headers.get("grpc-status") {
                call.finish(code_name_of(code));
            }
            Ok(Response::from_parts(
                parts,
                Body::new(MeteredBody { inner: body, call }),
            ))
        })
    }
}

struct Call {
    service: &'static str,
    method: String,
    start: Instant,
    /// The client's deadline, from the start of the call.
    deadline: Option<Duration>,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: &'static str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // A method no service serves is anyone's string: one series for
        // all of them, or a caller could make series without end.
        let method = if code == "UNIMPLEMENTED" {
            "unknown".to_owned()
        } else {
            std::mem::take(&mut self.method)
        };
        let labels = [("service", self.service.to_owned()), ("method", method)];
        metrics::histogram!("relais_grpc_request_duration_seconds", &labels)
            .record(self.start.elapsed().as_secs_f64());
        let [service, method] = labels;
        metrics::counter!(
            "relais_grpc_requests_total",
            &[service, method, ("code", code.to_owned())]
        )
        .increment(1);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Dropped before its code was known: tonic's deadline, or the
        // client went away.
        let late = self.deadline.is_some_and(|d| self.start.elapsed() >= d);
        self.finish(if late {
            "DEADLINE_EXCEEDED"
        } else {
            "CANCELLED"
        });
    }
}

/// A `grpc-timeout` header's duration: up to 8 digits and a unit (gRPC
/// over HTTP/2: H, M, S, m, u, n); None for anything else, as tonic treats it.
fn grpc_timeout(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

struct MeteredBody {
    inner: Body,
    call: Call,
}

impl http_body::Body for MeteredBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(|t| t.get("grpc-status")) {
                    this.call.finish(code_name_of(code));
                }
            }
            Poll::Ready(Some(Err(status))) => this.call.finish(code_name(status.code())),
            Poll::Ready(None) => this.call.finish("UNKNOWN"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn code_name_of(value: &HeaderValue) -> &'static str {
    code_name(Code::from_bytes(value.as_bytes()))
}

/// The code's canonical name, as gRPC's own tools print it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::{convert::Infallible, time::Duration};

    use tower::{Layer as _, Service as _};

    use super::*;

    /// A method that answers after a second, called with or without a
    /// deadline and dropped after `after` (as tonic drops a call past its
    /// deadline, or hyper one whose client left).
    async fn dropped_call(
        service: &mut Metered<
            impl tower::Service<
                Request<Body>,
                Response = Response<Body>,
                Error = Infallible,
                Future: Send + 'static,
            >,
        >,
        timeout: Option<&str>,
        after: Duration,
    ) {
        let mut req = Request::builder().uri("/relais.test.v1.Slow/Answer");
        if let Some(t) = timeout {
            req = req.header("grpc-timeout", t);
        }
        let call = service.call(req.body(Body::empty()).unwrap());
        assert!(
            tokio::time::timeout(after, call).await.is_err(),
            "still running"
        );
    }

    #[tokio::test]
    async fn a_call_dropped_past_its_deadline_is_deadline_exceeded_else_cancelled() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let slow = tower::service_fn(|_: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        let mut service = MetricsLayer { service: "test" }.layer(slow);

        dropped_call(&mut service, Some("20m"), Duration::from_millis(60)).await;
        dropped_call(&mut service, Some("10S"), Duration::from_millis(20)).await;
        dropped_call(&mut service, None, Duration::from_millis(20)).await;

        let text = metrics.render();
        let count = |code: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("relais_grpc_requests_total")
                        && l.contains(&format!("code=\"{code}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .unwrap_or("0")
                .to_owned()
        };
        assert_eq!(count("DEADLINE_EXCEEDED"), "1", "{text}");
        assert_eq!(count("CANCELLED"), "2", "{text}");
    }

    #[test]
    fn grpc_timeouts_are_read_as_grpc_over_http2_writes_them() {
        let read = |v: &str| grpc_timeout(&HeaderValue::from_str(v).unwrap());
        assert_eq!(read("250m"), Some(Duration::from_millis(250)));
        assert_eq!(read("2S"), Some(Duration::from_secs(2)));
        assert_eq!(read("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(read("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "m", "123456789m", "12x", "-1S", "1.5S", "S1"] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
    }
}
