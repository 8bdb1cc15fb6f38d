//! The reference ERP: a small management-software API modelled on Ogust
//! Manager's v2 API (../shared/ERP-APIS.md), with its own Postgres store,
//! for the connector's tests and the demo.
//!
//! - One endpoint, `POST /api/v2/apiogust.php?method=<name>`, a JSON body,
//!   answers `{"status": "OK", ...}` or `{"status": "KO", "message": ...}`.
//! - `getToken`: `key`, `request` = `GET_TOKEN`, `time` =
//!   `YYYYMMDDHHmmss.<random>` (UTC, within 5 minutes of the server's), and
//!   `api_signature` = upper-case hex HMAC-SHA1 of `key + GET_TOKEN + time`
//!   under the private key; the token lasts `token_ttl` (10 minutes) and is
//!   sent as `token` in every later body.
//! - `get<Object>` (`id`), `set<Object>` (create, or update with `id`),
//!   `rem<Object>` (`id`), `search<Object>` (equality filters on fields,
//!   `updated_since` RFC 3339, `nbperpage`, `pagenum`; results in
//!   `array_<object>.result`, oldest change first) for the objects customer,
//!   employee, tariff, service (an intervention), quote, invoice,
//!   taxcertificate, and for product sales family (of articles), article
//!   and order.
//! - An employee may carry `availability`, its weekly hours (Ogust's
//!   "disponibilités"): `[{"weekday": 1..7 (Monday = 1), "start": "HH:MM",
//!   "end": "HH:MM"}]`, start before end; `setEmployee` refuses anything
//!   else with the field named (`availability[0].end: ...`).
//! - A `set` without `id` but with a `reference` already used for that
//!   object returns the first record: the connector's idempotency reference,
//!   so a retry never creates a second record.
//! - `POST /_faults` (and `GET`) injects faults for tests: the ERP down,
//!   a share of errors, slow answers, answers lost after the commit, and
//!   search pages that deliver records twice. It has no authentication, so
//!   it exists only when `Config::faults` (`REFERENCE_ERP_FAULTS=1`) says
//!   so; otherwise it answers 404 like any unknown path.

use std::{
    collections::HashMap,
    net::SocketAddr,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::{PgPool, postgres::PgConnectOptions, postgres::PgPoolOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub const SERVICE: &str = "reference_erp";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8800";

/// The objects it keeps, and the prefix of their ids.
const OBJECTS: [(&str, &str); 10] = [
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

#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL`: an admin connection; the ERP keeps its records in
    /// its own role and schema (`reference_erp`).
    pub database_url: String,
    /// `RELAIS_DB_PASSWORD`: its role's password (in development, derived
    /// from `RELAIS_DEV_SEED` when unset, as every service's is).
    pub db_password: String,
    /// `REFERENCE_ERP_ADDR` (default 127.0.0.1:8800).
    pub addr: SocketAddr,
    /// `REFERENCE_ERP_KEYS`: `public:private` pairs, comma-separated
    /// (default `demo-public:demo-private`).
    pub keys: HashMap<String, String>,
    /// `REFERENCE_ERP_TOKEN_TTL_SECS` (default 600).
    pub token_ttl: Duration,
    /// `REFERENCE_ERP_FAULTS` (default false): serve `/_faults`, through
    /// which anyone who reaches the ERP can make it fail. Tests that inject
    /// faults set it.
    pub faults: bool,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        use relais_platform::config::var;
        Ok(Self {
            database_url: var(
                "DATABASE_URL",
                "postgres://relais:relais@127.0.0.1:55432/relais".into(),
            )?,
            db_password: relais_platform::config::resolve_db_password(
                &var("RELAIS_DB_PASSWORD", String::new())?,
                &relais_platform::config::dev_seed()?,
                SERVICE,
            )?,
            addr: var("REFERENCE_ERP_ADDR", DEFAULT_ADDR.parse()?)?,
            keys: parse_keys(&var(
                "REFERENCE_ERP_KEYS",
                "demo-public:demo-private".to_owned(),
            )?)?,
            token_ttl: Duration::from_secs(var("REFERENCE_ERP_TOKEN_TTL_SECS", 600)?),
            faults: flag(&var("REFERENCE_ERP_FAULTS", String::new())?)
                .context("REFERENCE_ERP_FAULTS must be 1/true or 0/false")?,
        })
    }
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`/empty; anything else
/// is a mistake worth stopping for, not a silent "off".
fn flag(v: &str) -> anyhow::Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        other => anyhow::bail!("{other:?} is not a flag"),
    }
}

pub fn parse_keys(s: &str) -> anyhow::Result<HashMap<String, String>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once(':')
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .with_context(|| format!("REFERENCE_ERP_KEYS: {p:?} is not public:private"))
        })
        .collect()
}

/// Faults to inject, set over `POST /_faults`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Every call answers 503.
    pub down: bool,
    /// Share of calls (0..1) answering 500 KO before doing anything.
    pub error_rate: f64,
    /// Every answer waits this long.
    pub delay_ms: u64,
    /// Share of writes that commit, then answer only after `lost_answer_ms`
    /// (clients time out: the write happened, the answer is lost).
    pub lost_answer_rate: f64,
    pub lost_answer_ms: u64,
    /// Share of records a search page delivers twice.
    pub duplicate_rate: f64,
}

struct Token {
    key: String,
    expires: DateTime<Utc>,
}

#[derive(Clone)]
struct Erp {
    pool: PgPool,
    keys: Arc<HashMap<String, String>>,
    tokens: Arc<Mutex<HashMap<String, Token>>>,
    faults: Arc<Mutex<Faults>>,
    token_ttl: Duration,
}

pub struct App {
    erp: Erp,
    listener: TcpListener,
    faults: bool,
}

impl App {
    pub async fn build(cfg: Config) -> anyhow::Result<Self> {
        let admin =
            PgConnectOptions::from_str(&cfg.database_url).context("invalid DATABASE_URL")?;
        relais_platform::db::provision(&admin, SERVICE, &cfg.db_password).await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(
                admin
                    .username(&relais_platform::db::role_name(SERVICE))
                    .password(&cfg.db_password)
                    .options([("search_path", SERVICE)]),
            )
            .await
            .context("failed to connect to Postgres as the reference ERP")?;
        MIGRATIONS
            .run(&pool)
            .await
            .context("reference ERP migrations")?;
        let listener = TcpListener::bind(cfg.addr).await?;
        Ok(Self {
            erp: Erp {
                pool,
                keys: Arc::new(cfg.keys),
                tokens: Arc::default(),
                faults: Arc::default(),
                token_ttl: cfg.token_ttl,
            },
            listener,
            faults: cfg.faults,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut router = Router::new()
            .route("/api/v2/apiogust.php", post(api))
            .route("/livez", get(|| async { "ok" }));
        if self.faults {
            tracing::warn!("fault injection is on: POST /_faults can make this ERP fail");
            router = router.route("/_faults", get(get_faults).post(set_faults));
        }
        let router = router.with_state(self.erp);
        tracing::info!(addr = %self.listener.local_addr()?, "reference ERP serving");
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        Ok(())
    }
}

async fn get_faults(State(erp): State<Erp>) -> Json<Faults> {
    Json(erp.faults.lock().map(|f| f.clone()).unwrap_or_default())
}

async fn set_faults(State(erp): State<Erp>, Json(faults): Json<Faults>) -> Json<Faults> {
    if let Ok(mut f) = erp.faults.lock() {
        *f = faults.clone();
    }
    tracing::info!(?faults, "faults set");
    Json(faults)
}

#[derive(Deserialize)]
struct Method {
    method: String,
}

fn ko(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "status": "KO", "message": message.into() })),
    )
        .into_response()
}

fn ok(mut body: Map<String, Value>) -> Response {
    body.insert("status".into(), "OK".into());
    Json(Value::Object(body)).into_response()
}

fn chance(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}

async fn api(State(erp): State<Erp>, Query(m): Query<Method>, body: axum::body::Bytes) -> Response {
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
fn check_fields(object: &str, body: &Map<String, Value>) -> Result<(), String> {
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
fn split_method(method: &str) -> (&str, String) {
    for verb in ["get", "set", "rem", "search"] {
        if let Some(rest) = method.strip_prefix(verb) {
            return (verb, rest.to_lowercase());
        }
    }
    ("", String::new())
}

type HmacSha1 = Hmac<sha1::Sha1>;

/// The signature a client sends: upper-case hex HMAC-SHA1 of
/// `key + GET_TOKEN + time` under the private key.
pub fn signature(public: &str, private: &str, time: &str) -> String {
    let Ok(mut mac) = HmacSha1::new_from_slice(private.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{public}GET_TOKEN{time}").as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

fn text<'a>(body: &'a Map<String, Value>, field: &str) -> &'a str {
    body.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn get_token(erp: &Erp, body: &Map<String, Value>) -> Response {
    let (key, time, sig) = (
        text(body, "key"),
        text(body, "time"),
        text(body, "api_signature"),
    );
    if text(body, "request") != "GET_TOKEN" {
        return ko(StatusCode::BAD_REQUEST, "request must be GET_TOKEN");
    }
    let Some(private) = erp.keys.get(key) else {
        return ko(StatusCode::UNAUTHORIZED, "unknown key");
    };
    let stamp = time.split('.').next().unwrap_or_default();
    let Ok(at) = NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S") else {
        return ko(
            StatusCode::BAD_REQUEST,
            "time must be YYYYMMDDHHmmss.<random>",
        );
    };
    if (Utc::now() - at.and_utc()).num_seconds().abs() > 300 {
        return ko(StatusCode::UNAUTHORIZED, "time is more than 5 minutes off");
    }
    if !sig.eq_ignore_ascii_case(&signature(key, private, time)) {
        return ko(StatusCode::UNAUTHORIZED, "bad api_signature");
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let expires = Utc::now() + chrono::Duration::from_std(erp.token_ttl).unwrap_or_default();
    if let Ok(mut tokens) = erp.tokens.lock() {
        tokens.retain(|_, t| t.expires > Utc::now());
        tokens.insert(
            token.clone(),
            Token {
                key: key.to_owned(),
                expires,
            },
        );
    }
    let mut out = Map::new();
    out.insert("token".into(), token.into());
    out.insert("expires_at".into(), expires.to_rfc3339().into());
    ok(out)
}

fn check_token(erp: &Erp, body: &Map<String, Value>) -> Result<(), Box<Response>> {
    let token = text(body, "token");
    let valid = erp.tokens.lock().ok().and_then(|t| {
        t.get(token)
            .map(|t| (t.expires > Utc::now(), t.key.clone()))
    });
    match valid {
        Some((true, _)) => Ok(()),
        Some((false, _)) => Err(Box::new(ko(StatusCode::UNAUTHORIZED, "token expired"))),
        None => Err(Box::new(ko(StatusCode::UNAUTHORIZED, "invalid token"))),
    }
}

fn db_error(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "store failed");
    ko(StatusCode::INTERNAL_SERVER_ERROR, "store error")
}

/// A record as answered: its fields, with `id`, `version` and `updated_at`.
fn answer(id: String, data: Value, version: i64, updated: DateTime<Utc>) -> Value {
    let mut fields = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    fields.insert("id".into(), id.into());
    fields.insert("version".into(), version.into());
    fields.insert("updated_at".into(), updated.to_rfc3339().into());
    Value::Object(fields)
}

type Stored = (String, Value, i64, DateTime<Utc>);

async fn get_record(
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

const CONTROL: [&str; 7] = [
    "token",
    "id",
    "reference",
    "nbperpage",
    "pagenum",
    "updated_since",
    "version",
];

async fn set(
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

async fn rem(pool: &PgPool, object: &str, body: &Map<String, Value>) -> Result<Response, Response> {
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

async fn search(
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_faults_flag_is_off_by_default_and_strict() {
        assert!(!flag("").unwrap());
        assert!(!flag("0").unwrap());
        assert!(flag("1").unwrap());
        assert!(flag("true").unwrap());
        assert!(flag("maybe").is_err());
    }
}
