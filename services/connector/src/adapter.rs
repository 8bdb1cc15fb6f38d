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
        self.fields
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
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
}

/// The ERP of one connection, whichever adapter it uses.
pub enum Erp {
    Reference(crate::reference_erp::ReferenceErpClient),
}

impl Erp {
    /// Opens the connection's adapter with its credentials; Refused when
    /// they are missing (a dead letter names the variable to set).
    pub fn open(
        c: &crate::connections::Connection,
        secrets: &Secrets,
        timeout: std::time::Duration,
    ) -> Result<Self, ErpError> {
        let secret = secrets.get(&c.secret_ref).ok_or_else(|| {
            ErpError::Refused(format!(
                "connection {}: the credentials variable {} is not set",
                c.name, c.secret_ref
            ))
        })?;
        match c.adapter {
            crate::connections::AdapterKind::ReferenceErp => {
                let (public, private) = secret.split_once(':').ok_or_else(|| {
                    ErpError::Refused(format!(
                        "connection {}: {} must be public:private",
                        c.name, c.secret_ref
                    ))
                })?;
                crate::reference_erp::ReferenceErpClient::new(&c.endpoint, public, private, timeout)
                    .map(Erp::Reference)
                    .map_err(|e| ErpError::Refused(format!("connection {}: {e}", c.name)))
            }
            other => Err(ErpError::Refused(format!(
                "connection {}: the {other:?} adapter is not available yet",
                c.name
            ))),
        }
    }
}

impl ErpAdapter for Erp {
    async fn upsert(
        &self,
        object: &str,
        id: Option<&str>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<ErpRecord, ErpError> {
        match self {
            Erp::Reference(c) => c.upsert(object, id, reference, fields).await,
        }
    }

    async fn get(&self, object: &str, id: &str) -> Result<ErpRecord, ErpError> {
        match self {
            Erp::Reference(c) => c.get(object, id).await,
        }
    }

    async fn changed_since(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError> {
        match self {
            Erp::Reference(c) => c.changed_since(object, since, page, per_page).await,
        }
    }

    async fn remove(&self, object: &str, id: &str) -> Result<(), ErpError> {
        match self {
            Erp::Reference(c) => c.remove(object, id).await,
        }
    }
}

/// Where connections' credentials come from: the environment (in
/// Kubernetes, a Secret mapped to variables), or values given in process
/// (tests, `relais dev`).
#[derive(Clone, Default)]
pub struct Secrets {
    given: std::collections::HashMap<String, String>,
}

impl Secrets {
    pub fn from_env() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.given.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.given
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    }
}
