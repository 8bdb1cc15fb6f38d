//! Every error the API answers is an RFC 9457 problem
//! (`application/problem+json`): a stable `type` a client can branch on, a
//! human `title` and `detail`, the HTTP `status`, and for a refused request
//! each bad field in `errors`. A service's gRPC status becomes one here, and
//! so do the gateway's own refusals (a bad token, body or parameter), so a
//! client never has to parse a plain-text rejection.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tonic::Code;
use tonic_types::StatusExt;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The kinds of problem, each with its `type` URI and title. URNs rather
/// than URLs: they name the kind and promise no page at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    UnsupportedMediaType,
    TooManyRequests,
    Unavailable,
    BadGateway,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Kind::InvalidRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::BadGateway => StatusCode::BAD_GATEWAY,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "invalid-request",
            Kind::Unauthenticated => "unauthenticated",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not-found",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::Conflict => "conflict",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::TooManyRequests => "too-many-requests",
            Kind::Unavailable => "unavailable",
            Kind::BadGateway => "bad-gateway",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "The request is invalid",
            Kind::Unauthenticated => "Authentication required",
            Kind::Forbidden => "Not allowed",
            Kind::NotFound => "Not found",
            Kind::MethodNotAllowed => "Method not allowed",
            Kind::Conflict => "Conflict with the current state",
            Kind::UnsupportedMediaType => "Unsupported media type",
            Kind::TooManyRequests => "Too many requests",
            Kind::Unavailable => "Temporarily unavailable",
            Kind::BadGateway => "A service failed",
        }
    }
}

/// One bad field of a refused request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field as the client sent it: a JSON path in the body
    /// (`schedule.first_date`, `lines[0].quantity`), a query or path
    /// parameter (`limit`, `id`) or a header (`Idempotency-Key`).
    #[schema(example = "schedule.first_date")]
    pub field: String,
    #[schema(example = "is in the past")]
    pub reason: String,
}

/// An RFC 9457 problem details document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:relais:problem:<kind>`, one of invalid-request, unauthenticated,
    /// forbidden, not-found, method-not-allowed, conflict,
    /// unsupported-media-type, too-many-requests, unavailable, bad-gateway.
    #[serde(rename = "type")]
    #[schema(example = "urn:relais:problem:invalid-request")]
    pub kind: String,
    #[schema(example = "The request is invalid")]
    pub title: String,
    #[schema(example = 400)]
    pub status: u16,
    #[schema(example = "invalid argument: schedule.first_date: is in the past")]
    pub detail: String,
    /// The bad fields (of an invalid request, or the field a conflict is
    /// about; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    www_authenticate: bool,
    /// Seconds to wait, sent as `Retry-After` (429 and 503).
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:relais:problem:{}", kind.slug()),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            errors: vec![],
            www_authenticate: kind == Kind::Unauthenticated,
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// With a `Retry-After` of `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// With one more bad field listed (a conflict on a field, e.g. an
    /// e-mail already taken).
    pub fn with_field(mut self, field: impl Into<String>, reason: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
        self
    }

    /// With the fields a service named under `prefix` (its request's
    /// message) named as the client's body has them, at the top.
    pub fn unprefixed(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            if let Some(rest) = e.field.strip_prefix(prefix) {
                e.field = rest.to_owned();
            }
        }
        self
    }

    /// With the field a service called `from` named `to`, as the client
    /// sent it in this request.
    pub fn renamed(mut self, from: &str, to: &str) -> Self {
        for e in &mut self.errors {
            if e.field == from {
                e.field = to.to_owned();
            }
        }
        self
    }

    /// A request refused for one bad field.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        let mut p = Self::new(Kind::InvalidRequest, format!("{field}: {reason}"));
        p.errors.push(FieldError { field, reason });
        p
    }

    /// The gateway's own failure (its database, signing): logged with
    /// `what` and the cause, answered 503 without either.
    pub fn own_failure(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, what, "gateway failure");
        Self::new(
            Kind::Unavailable,
            format!("{what} unavailable; retry later"),
        )
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(Kind::Unauthenticated, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, detail)
    }

    /// What a service's answer means for the client. The message of a
    /// client error is the service's own (written for callers, cut short,
    /// never an internal cause: crates/platform/src/error.rs); a server
    /// error says only which service failed, as the service's log says why.
    pub fn from_status(service: &str, status: &tonic::Status) -> Self {
        let kind = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => Kind::InvalidRequest,
            Code::NotFound => Kind::NotFound,
            Code::PermissionDenied => Kind::Forbidden,
            Code::Unauthenticated => Kind::Unauthenticated,
            Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => Kind::Conflict,
            Code::ResourceExhausted => Kind::TooManyRequests,
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Kind::Unavailable,
            _ => Kind::BadGateway,
        };
        let detail = match kind {
            Kind::Unavailable => {
                format!("the {service} service did not answer in time; retry later")
            }
            Kind::BadGateway => {
                tracing::error!(service, code = ?status.code(), message = status.message(), "service failed");
                format!("the {service} service failed")
            }
            _ => status.message().to_owned(),
        };
        let mut p = Self::new(kind, detail);
        if kind == Kind::InvalidRequest
            && let Some(bad) = status.get_details_bad_request()
        {
            p.errors = bad
                .field_violations
                .into_iter()
                .map(|v| FieldError {
                    field: client_field(&v.field),
                    reason: v.description,
                })
                .collect();
        }
        p
    }
}

/// A service's name for a field as the client sent it: the gateway's
/// bodies use the services' field names, except where the HTTP API carries
/// the value elsewhere (the key in a header, paging in the query).
pub fn client_field(service_field: &str) -> String {
    match service_field {
        "idempotency_key" => "Idempotency-Key".to_owned(),
        "page.page_size" | "page_size" => "limit".to_owned(),
        "page.page_token" | "page_token" => "cursor".to_owned(),
        other => other.to_owned(),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let bearer = self.www_authenticate;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(wait) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&wait.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if bearer {
            // RFC 6750: a 401 names the scheme the client should use.
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn each_grpc_code_has_its_http_status() {
        let cases = [
            (Code::InvalidArgument, 400),
            (Code::NotFound, 404),
            (Code::PermissionDenied, 403),
            (Code::Unauthenticated, 401),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::FailedPrecondition, 409),
            (Code::ResourceExhausted, 429),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 503),
            (Code::Internal, 502),
            (Code::Unknown, 502),
            (Code::DataLoss, 502),
            (Code::Unimplemented, 502),
        ];
        for (code, http) in cases {
            let p = Problem::from_status("orders", &tonic::Status::new(code, "m"));
            assert_eq!(p.status, http, "{code:?}");
        }
    }

    #[test]
    fn field_violations_become_errors_named_as_the_client_sent_them() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("schedule.first_date", "is in the past");
        details.add_bad_request_violation("idempotency_key", "at most 255 characters");
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "bad", details);
        let p = Problem::from_status("orders", &status);
        assert_eq!(p.status, 400);
        assert_eq!(
            p.errors,
            vec![
                FieldError {
                    field: "schedule.first_date".into(),
                    reason: "is in the past".into()
                },
                FieldError {
                    field: "Idempotency-Key".into(),
                    reason: "at most 255 characters".into()
                },
            ]
        );
    }

    #[test]
    fn a_server_error_does_not_echo_the_services_message() {
        let p = Problem::from_status("billing", &tonic::Status::internal("secret detail"));
        assert!(!p.detail.contains("secret"), "{}", p.detail);
    }
}
