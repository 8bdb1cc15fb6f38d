//! The records, kept in Postgres: get, set (create or update, keyed by
//! the caller's reference), remove, search.

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sqlx::PgPool;

use crate::{
    faults::chance,
    reply::{ko, ok, text},
};

pub(crate) fn db_error(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "store failed");
    ko(StatusCode::INTERNAL_SERVER_ERROR, "store error")
}

/// A record as answered: its fields, with `id`, `version` and `updated_at`.
pub(crate) fn answer(id: String, data: Value, version: i64, updated: DateTime<Utc>) -> Value {
    let mut fields = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    fields.insert("id".into(), id.into());
    fields.insert("version".into(), version.into());
    fields.insert("updated_at".into(), updated.to_rfc3339().into());
    Value::Object(fields)
}

pub(crate) type Stored = (String, Value, i64, DateTime<Utc>);

pub(crate) async fn get_record(
    pool: &PgPool,
    object: &str,
    body: &Map<String, Value>,
) -> Result<Response, Response> {
    let row: Option<Stored> = sqlx::query_as(
        "select id, data, version, updated_at from records
         where object = $1 and id = $2 and not deleted",
    )
    .bind(object)
    .bind(text(body, "id"))
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    let (id, data, version, updated) = row.ok_or_else(|| {
        ko(
            StatusCode::NOT_FOUND,
            format!("no {object} {:?}", text(body, "id")),
        )
    })?;
    let mut out = Map::new();
    out.insert(object.to_owned(), answer(id, data, version, updated));
    Ok(ok(out))
}

pub(crate) const CONTROL: [&str; 7] = [
    "token",
    "id",
    "reference",
    "nbperpage",
    "pagenum",
    "updated_since",
    "version",
];

pub(crate) async fn set(
    pool: &PgPool,
    object: &str,
    prefix: &str,
    body: Map<String, Value>,
) -> Result<Response, Response> {
    let id = text(&body, "id").to_owned();
    let reference = Some(text(&body, "reference").to_owned()).filter(|r| !r.is_empty());
    let fields: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| !CONTROL.contains(&k.as_str()))
        .collect();
    let row: Option<(String, i64)> = if id.is_empty() {
        // Create, unless the reference was used: then the first record.
        let inserted: Option<(String, i64)> = sqlx::query_as(
            "insert into records (object, id, reference, data)
             values ($1, $2 || lpad(nextval('record_numbers')::text, 6, '0'), $3, $4)
             on conflict (object, reference) where reference is not null do nothing
             returning id, version",
        )
        .bind(object)
        .bind(prefix)
        .bind(&reference)
        .bind(Value::Object(fields))
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
        match inserted {
            Some(r) => Some(r),
            None => sqlx::query_as(
                "select id, version from records where object = $1 and reference = $2",
            )
            .bind(object)
            .bind(&reference)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?,
        }
    } else {
        sqlx::query_as(
            "update records set data = data || $3, version = version + 1,
                 updated_at = clock_timestamp()
             where object = $1 and id = $2 and not deleted returning id, version",
        )
        .bind(object)
        .bind(&id)
        .bind(Value::Object(fields))
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
    };
    let (id, version) =
        row.ok_or_else(|| ko(StatusCode::NOT_FOUND, format!("no {object} {id:?}")))?;
    let mut out = Map::new();
    out.insert("id".into(), id.into());
    out.insert("version".into(), version.into());
    Ok(ok(out))
}

pub(crate) async fn rem(
    pool: &PgPool,
    object: &str,
    body: &Map<String, Value>,
) -> Result<Response, Response> {
    let done = sqlx::query(
        "update records set deleted = true, version = version + 1, updated_at = clock_timestamp()
         where object = $1 and id = $2 and not deleted",
    )
    .bind(object)
    .bind(text(body, "id"))
    .execute(pool)
    .await
    .map_err(db_error)?
    .rows_affected();
    if done == 0 {
        return Err(ko(
            StatusCode::NOT_FOUND,
            format!("no {object} {:?}", text(body, "id")),
        ));
    }
    Ok(ok(Map::new()))
}

pub(crate) async fn search(
    pool: &PgPool,
    object: &str,
    body: &Map<String, Value>,
    duplicate_rate: f64,
) -> Result<Response, Response> {
    let per_page = body
        .get("nbperpage")
        .and_then(Value::as_i64)
        .unwrap_or(100)
        .clamp(1, 1000);
    let page = body
        .get("pagenum")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    let since = match body.get("updated_since").and_then(Value::as_str) {
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| ko(StatusCode::BAD_REQUEST, "updated_since must be RFC 3339"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    // Equality filters on the record's fields.
    let filter: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| !CONTROL.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The count and the page are two statements: a window count would
    // read every matching record's data for each page. Without filters the
    // count reads the (object, updated_at) index only.
    let filter = Value::Object(filter);
    let unfiltered = filter.as_object().is_some_and(Map::is_empty);
    let total: i64 = sqlx::query_scalar(
        "select count(*) from records
         where object = $1 and not deleted and ($2 or data @> $3)
           and ($4::timestamptz is null or updated_at > $4)",
    )
    .bind(object)
    .bind(unfiltered)
    .bind(&filter)
    .bind(since)
    .fetch_one(pool)
    .await
    .map_err(db_error)?;
    let rows: Vec<(String, Value, i64, DateTime<Utc>)> = sqlx::query_as(
        "select id, data, version, updated_at
         from records
         where object = $1 and not deleted and ($2 or data @> $3)
           and ($4::timestamptz is null or updated_at > $4)
         order by updated_at, id limit $5 offset $6",
    )
    .bind(object)
    .bind(unfiltered)
    .bind(&filter)
    .bind(since)
    .bind(per_page)
    .bind((page - 1) * per_page)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let mut result = Vec::new();
    for (id, data, version, updated) in rows {
        let record = answer(id, data, version, updated);
        if chance(duplicate_rate) {
            result.push(record.clone());
        }
        result.push(record);
    }
    let mut out = Map::new();
    out.insert(
        format!("array_{object}"),
        json!({ "result": result, "nbresults": total, "pagenum": page, "nbperpage": per_page }),
    );
    Ok(ok(out))
}
