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

/// A page of changes, oldest first; `next` continues it.
#[derive(Clone, Debug)]
pub struct Changes {
    pub records: Vec<ErpRecord>,
    pub total: i64,
    pub next: Option<i64>,
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
    /// record it made.
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
}
