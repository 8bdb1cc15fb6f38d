//! How the ERP answers: `{"status": "OK", ...}` or `{"status": "KO",
//! "message": ...}`, and reading a field of a request body.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

pub(crate) fn ko(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "status": "KO", "message": message.into() })),
    )
        .into_response()
}

pub(crate) fn ok(mut body: Map<String, Value>) -> Response {
    body.insert("status".into(), "OK".into());
    Json(Value::Object(body)).into_response()
}

pub(crate) fn text<'a>(body: &'a Map<String, Value>, field: &str) -> &'a str {
    body.get(field).and_then(Value::as_str).unwrap_or_default()
}
