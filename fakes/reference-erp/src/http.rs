//! The HTTP side: the one API endpoint dispatching on `method`, and the
//! fault-injection endpoint.

use std::time::Duration;

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    faults::{Faults, chance},
    records::{get_record, rem, search, set},
    reply::ko,
    state::Erp,
    tokens::{check_token, get_token},
};

/// The objects it keeps, and the prefix of their ids.
pub(crate) const OBJECTS: [(&str, &str); 10] = [
    ("customer", "C"),
    ("family", "G"),
    ("article", "P"),
    ("order", "O"),
    ("employee", "E"),
    ("tariff", "T"),
    ("service", "S"),
    ("quote", "Q"),
    ("invoice", "F"),
    ("taxcertificate", "A"),
];

pub(crate) async fn get_faults(State(erp): State<Erp>) -> Json<Faults> {
    Json(erp.faults.lock().map(|f| f.clone()).unwrap_or_default())
}

pub(crate) async fn set_faults(State(erp): State<Erp>, Json(faults): Json<Faults>) -> Json<Faults> {
    if let Ok(mut f) = erp.faults.lock() {
        *f = faults.clone();
    }
    tracing::info!(?faults, "faults set");
    Json(faults)
}

#[derive(Deserialize)]
pub(crate) struct Method {
    method: String,
}

pub(crate) async fn api(
    State(erp): State<Erp>,
    Query(m): Query<Method>,
    body: axum::body::Bytes,
) -> Response {
    let faults = erp.faults.lock().map(|f| f.clone()).unwrap_or_default();
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    if faults.down {
        return ko(StatusCode::SERVICE_UNAVAILABLE, "the ERP is down");
    }
    if chance(faults.error_rate) {
        return ko(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (injected)",
        );
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return ko(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    if m.method == "getToken" {
        return get_token(&erp, &body);
    }
    if let Err(r) = check_token(&erp, &body) {
        return *r;
    }
    let (verb, object) = split_method(&m.method);
    let Some(prefix) = OBJECTS.iter().find(|(o, _)| *o == object).map(|(_, p)| *p) else {
        return ko(
            StatusCode::BAD_REQUEST,
            format!("unknown method {:?}", m.method),
        );
    };
    let result = match verb {
        "get" => get_record(&erp.pool, &object, &body).await,
        "search" => search(&erp.pool, &object, &body, faults.duplicate_rate).await,
        "set" | "rem" => {
            let written = if verb == "set" {
                match check_fields(&object, &body) {
                    Ok(()) => set(&erp.pool, &object, prefix, body).await,
                    Err(message) => Err(ko(StatusCode::BAD_REQUEST, message)),
                }
            } else {
                rem(&erp.pool, &object, &body).await
            };
            if written.is_ok() && chance(faults.lost_answer_rate) {
                // Committed: the caller gives up before this answer.
                tokio::time::sleep(Duration::from_millis(faults.lost_answer_ms)).await;
            }
            written
        }
        _ => Err(ko(
            StatusCode::BAD_REQUEST,
            format!("unknown method {:?}", m.method),
        )),
    };
    result.unwrap_or_else(|r| r)
}

/// What the ERP itself refuses in a record, as the real one would: an
/// employee's availability it could not plan with.
pub(crate) fn check_fields(object: &str, body: &Map<String, Value>) -> Result<(), String> {
    let Some(availability) = body.get("availability").filter(|_| object == "employee") else {
        return Ok(());
    };
    let Some(slots) = availability.as_array() else {
        return Err("availability: must be a list of weekly slots".into());
    };
    let time = |slot: &Value, field: &str| {
        slot.get(field)
            .and_then(Value::as_str)
            .and_then(|t| chrono::NaiveTime::parse_from_str(t, "%H:%M").ok())
    };
    for (i, slot) in slots.iter().enumerate() {
        let weekday = slot.get("weekday").and_then(Value::as_i64);
        if !weekday.is_some_and(|d| (1..=7).contains(&d)) {
            return Err(format!(
                "availability[{i}].weekday: must be 1 (Monday) to 7 (Sunday)"
            ));
        }
        let Some(start) = time(slot, "start") else {
            return Err(format!("availability[{i}].start: is not a time (HH:MM)"));
        };
        let Some(end) = time(slot, "end") else {
            return Err(format!("availability[{i}].end: is not a time (HH:MM)"));
        };
        if end <= start {
            return Err(format!("availability[{i}].end: must be after start"));
        }
    }
    Ok(())
}

/// `searchCustomer` -> ("search", "customer").
pub(crate) fn split_method(method: &str) -> (&str, String) {
    for verb in ["get", "set", "rem", "search"] {
        if let Some(rest) = method.strip_prefix(verb) {
            return (verb, rest.to_lowercase());
        }
    }
    ("", String::new())
}
