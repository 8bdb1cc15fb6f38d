//! One count and one latency per gRPC call, by service, method and status
//! code: `relais_grpc_requests_total` and the histogram
//! `relais_grpc_request_duration_seconds` (buckets in crate::admin), so
//! that error ratios and percentiles aggregate across pods.
//!
//! The code of a call that succeeds, or fails after streaming, arrives in
//! the trailers at the end of the body, not with the response headers; a
//! call refused at once carries it in its headers ("trailers-only"). So the
//! response body is wrapped and the call is counted when its code is known:
//! in the headers, in the trailers, or — when the client goes away first —
//! as CANCELLED.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
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
        // The body was dropped before its trailers: the client went away.
        self.finish("CANCELLED");
    }
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
