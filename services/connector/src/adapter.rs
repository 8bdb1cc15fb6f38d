//! What the connector asks of an ERP, whatever its API: write a record
//! once (an idempotency reference makes a retry find the first one), read
//! one, list what changed since a point, remove one. Errors say whether a
//! later retry may succeed, so the flows retry with backoff or dead-letter.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A record as the ERP holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ErpRecord {
    /// The ERP's id.
    pub id: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub fields: Map<String, Value>,
}

impl ErpRecord {
    /// A text field, trimmed; empty when missing or not text.
    pub fn text(&self, field: &str) -> String {
        self.fields.get(field).map(text_in).unwrap_or_default()
    }
}

/// A text value, trimmed; empty when not text.
fn text_in(v: &Value) -> String {
    v.as_str().unwrap_or_default().trim().to_owned()
}

/// A text field of a JSON object, trimmed; empty when missing or not text.
pub(crate) fn text(v: &Value, field: &str) -> String {
    v.get(field).map(text_in).unwrap_or_default()
}

/// A page of changes, oldest first; `next` continues it.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub records: Vec<ErpRecord>,
    pub total: i64,
    pub next: Option<i64>,
    /// Input the adapter could not read as a record (a malformed line of
    /// an exchange file), each with where it was and why: reported in the
    /// run, never retried.
    pub rejected: Vec<String>,
    /// On the first page of an ERP listed by id: its newest change time
    /// then, by its own clock (the run's cursor stops there, so a change
    /// made behind the pages being read comes next time).
    pub high_water: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ErpError {
    /// The ERP may answer later (down, timeout, server error): try again,
    /// with the same idempotency reference.
    #[error("ERP unavailable: {0}")]
    Unavailable(String),
    /// The ERP refused the request itself; the same request fails again.
    #[error("ERP refused: {0}")]
    Refused(String),
    #[error("not in the ERP: {0}")]
    NotFound(String),
}

impl ErpError {
    pub fn retryable(&self) -> bool {
        matches!(self, ErpError::Unavailable(_))
    }
}

/// One ERP, one connection's credentials. Objects are the connector's
/// names (customer, employee, tariff, service, quote, invoice,
/// taxcertificate); an adapter maps them to its ERP's.
#[allow(async_fn_in_trait)]
pub trait ErpAdapter: Send + Sync {
    /// Creates the record, or updates `id` when given. `reference` is the
    /// idempotency reference of a creation: the same one again returns the
    /// record it made. The answer carries the ERP's id and version; its
    /// fields are those written (an update's other fields are not read back).
    async fn upsert(
        &self,
        object: &str,
        id: Option<&str>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<ErpRecord, ErpError>;

    async fn get(&self, object: &str, id: &str) -> Result<ErpRecord, ErpError>;

    /// Records changed after `since` (all when `None`), a page at a time.
    async fn changed_since(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError>;

    async fn remove(&self, object: &str, id: &str) -> Result<(), ErpError>;

    /// False when the ERP cannot be read (a file exchange): a write is then
    /// not read back, and conflicts are only seen when the ERP's changes
    /// come in.
    fn reads_back(&self) -> bool {
        true
    }

    /// True when `current`, as the ERP shows it, already holds `wanted` (a
    /// write whose answer was lost, or nothing of the shop's changed). An
    /// ERP that keeps records in its own shape compares what it shows of
    /// them.
    fn holds(&self, _object: &str, wanted: &Map<String, Value>, current: &ErpRecord) -> bool {
        wanted.iter().all(|(k, v)| current.fields.get(k) == Some(v))
    }

    /// True when the ERP shows a record with the fields the connector
    /// writes (the reference ERP): both sides are then merged field by
    /// field (reconcile/). An ERP that keeps records in its own shape
    /// (Tryton) is compared whole, by `holds` and versions.
    fn merges_fields(&self) -> bool {
        true
    }

    /// True when the ERP itself answers a create whose reference it saw
    /// before with the record it made then, even to two creates at once
    /// (the reference ERP), or when the same reference always makes the
    /// same record (files): the connector then need not claim a creation
    /// before making it.
    fn keeps_references(&self) -> bool {
        false
    }

    /// True when `changed_since` pages by record id (`page` is where the
    /// next page starts, given by `next`) rather than by change time; the
    /// puller then keeps its `since` for the whole run.
    fn pages_by_id(&self) -> bool {
        false
    }

    /// Everything of `object` changed up to `through` is in the shop: an
    /// adapter that hands over changes as files archives those files.
    async fn acknowledge(&self, _object: &str, _through: DateTime<Utc>) -> Result<(), ErpError> {
        Ok(())
    }
}
