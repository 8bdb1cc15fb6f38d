//! Tryton's JSON for the values the connector reads and writes: ids,
//! datetimes, decimals, change times.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use serde_json::{Map, Value, json};

use crate::adapter::{ErpError, ErpRecord};

pub(super) fn objects(v: Value) -> Vec<Map<String, Value>> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn id_of(v: &Value) -> Option<i64> {
    v.as_i64()
}

pub(super) fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

pub(super) fn parse_id(id: &str) -> Result<i64, ErpError> {
    id.parse()
        .map_err(|_| ErpError::Refused(format!("{id:?} is not a Tryton id")))
}

/// Tryton's JSON for a datetime (naive, UTC).
fn datetime(t: DateTime<Utc>) -> Value {
    json!({
        "__class__": "datetime",
        "year": t.year(), "month": t.month(), "day": t.day(),
        "hour": t.hour(), "minute": t.minute(), "second": t.second(),
        "microsecond": t.timestamp_subsec_micros(),
    })
}

pub(super) fn from_datetime(v: &Value) -> Option<DateTime<Utc>> {
    if v.get("__class__")?.as_str()? != "datetime" {
        return None;
    }
    let n = |k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as u32);
    let date = NaiveDate::from_ymd_opt(v.get("year")?.as_i64()? as i32, n("month")?, n("day")?)?;
    let time = date.and_hms_micro_opt(n("hour")?, n("minute")?, n("second")?, n("microsecond")?)?;
    Some(Utc.from_utc_datetime(&time))
}

pub(super) fn decimal(cents: i64, scale: u32) -> Value {
    let sign = if cents < 0 { "-" } else { "" };
    let div = 10i64.pow(scale);
    let abs = cents.unsigned_abs();
    json!({
        "__class__": "Decimal",
        "decimal": format!("{sign}{}.{:0width$}", abs / div as u64, abs % div as u64, width = scale as usize),
    })
}

/// A Decimal (or number) times 10^scale, rounded half away from zero.
pub(super) fn scaled(v: &Value, scale: u32) -> Option<i64> {
    let s = match v {
        Value::Object(o) => o.get("decimal")?.as_str()?.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let f: f64 = s.trim().parse().ok()?;
    Some((f * 10f64.powi(scale as i32)).round() as i64)
}

/// The change time Tryton gives a record: its last write, else its creation.
pub(super) fn changed_at(r: &Map<String, Value>, prefix: &str) -> Option<DateTime<Utc>> {
    let get = |k: &str| r.get(&format!("{prefix}{k}")).and_then(from_datetime);
    get("write_date")
        .into_iter()
        .chain(get("create_date"))
        .max()
}

/// Records changed after `since`: created or written.
pub(super) fn changed_domain(since: Option<DateTime<Utc>>, prefixes: &[&str]) -> Value {
    let Some(since) = since else {
        return json!([]);
    };
    let mut or = vec![json!("OR")];
    for p in prefixes {
        or.push(json!([format!("{p}create_date"), ">", datetime(since)]));
        or.push(json!([format!("{p}write_date"), ">", datetime(since)]));
    }
    Value::Array(or)
}

pub(super) fn record(id: i64, updated_at: DateTime<Utc>, fields: Map<String, Value>) -> ErpRecord {
    ErpRecord {
        id: id.to_string(),
        version: updated_at.timestamp_micros(),
        updated_at,
        fields,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decimals_round_trip() {
        assert_eq!(decimal(1250, 2)["decimal"], "12.50");
        assert_eq!(decimal(-5, 2)["decimal"], "-0.05");
        assert_eq!(decimal(1000, 4)["decimal"], "0.1000");
        assert_eq!(scaled(&decimal(1250, 2), 2), Some(1250));
        assert_eq!(
            scaled(&json!({"__class__": "Decimal", "decimal": "0.2000"}), 4),
            Some(2000)
        );
    }

    #[test]
    fn datetimes_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 13, 31, 15).unwrap()
            + chrono::Duration::microseconds(371_065);
        assert_eq!(from_datetime(&datetime(t)), Some(t));
        assert_eq!(from_datetime(&json!({"__class__": "date"})), None);
    }
}
