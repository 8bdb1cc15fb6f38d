//! The adapters, and how a connection's is opened: one `Erp` per
//! connection, whichever ERP it speaks to, kept open in `Erps` (an adapter
//! keeps its ERP token).

pub mod csv_exchange;
pub mod reference_erp;
pub mod tryton;

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{
    adapter::{Changes, ErpAdapter, ErpError, ErpRecord},
    connections::{AdapterKind, Connection},
    credentials::Credentials,
    egress::EgressPolicy,
};

/// Sends one request to an ERP as a client hop of the trace (`erp <system>
/// <method>`, under the push or sync run that makes it), with the hop's W3C
/// headers on the request, so that an ERP which traces continues the trace.
pub(crate) async fn traced_send(
    request: reqwest::RequestBuilder,
    system: &'static str,
    method: &str,
) -> reqwest::Result<reqwest::Response> {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "erp",
        otel.name = %format!("erp {system} {method}"),
        otel.kind = "client",
        relais.service = crate::SERVICE,
        erp.system = system,
        erp.method = %method,
        http.response.status_code = tracing::field::Empty,
    );
    let mut request = request;
    for (k, v) in relais_platform::telemetry::context_headers(&span) {
        request = request.header(k, v);
    }
    let answer = request.send().instrument(span.clone()).await;
    if let Ok(r) = &answer {
        span.record("http.response.status_code", r.status().as_u16());
    }
    answer
}

/// The ERP of one connection, whichever adapter it uses.
pub enum Erp {
    Reference(reference_erp::ReferenceErpClient),
    Tryton(tryton::TrytonClient),
    Csv(csv_exchange::CsvExchange),
}

/// Runs `$call` on whichever adapter `$erp` holds.
macro_rules! each {
    ($erp:expr, $c:ident => $call:expr) => {
        match $erp {
            Erp::Reference($c) => $call,
            Erp::Tryton($c) => $call,
            Erp::Csv($c) => $call,
        }
    };
}

impl Erp {
    /// Opens the connection's adapter with its own credentials, reaching
    /// only where `egress` allows; Refused when the credentials are missing
    /// or the endpoint is out of bounds (a dead letter says which).
    pub fn open(
        c: &Connection,
        credentials: &Credentials,
        egress: &EgressPolicy,
        exchange_root: &std::path::Path,
        timeout: std::time::Duration,
    ) -> Result<Self, ErpError> {
        let pair = |what: &str| {
            credentials
                .of(c)
                .map_err(|why| ErpError::Refused(format!("connection {}: {why}", c.name)))?
                .split_once(':')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| {
                    ErpError::Refused(format!(
                        "connection {}: its credentials must be {what}",
                        c.name
                    ))
                })
        };
        let refused = |e: anyhow::Error| ErpError::Refused(format!("connection {}: {e:#}", c.name));
        let http = || {
            egress
                .check_literal(&c.endpoint)
                .map_err(|why| anyhow::anyhow!("endpoint {}: {why}", c.endpoint))?;
            egress.client(timeout)
        };
        match c.adapter {
            AdapterKind::ReferenceErp => {
                let (public, private) = pair("public:private")?;
                reference_erp::ReferenceErpClient::with_client(
                    &c.endpoint,
                    &public,
                    &private,
                    http().map_err(refused)?,
                )
                .map(Erp::Reference)
                .map_err(refused)
            }
            AdapterKind::Tryton => {
                let (login, password) = pair("login:password")?;
                tryton::TrytonClient::with_client(
                    &c.endpoint,
                    &login,
                    &password,
                    http().map_err(refused)?,
                )
                .map(Erp::Tryton)
                .map_err(refused)
            }
            // Files need no credentials: the tenant's own folder guards it.
            AdapterKind::Csv => {
                let folder = csv_exchange::tenant_folder(exchange_root, c.tenant, &c.endpoint)
                    .map_err(|e| ErpError::Refused(format!("connection {}: {e}", c.name)))?;
                csv_exchange::CsvExchange::open(exchange_root, c.tenant, &folder).map(Erp::Csv)
            }
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
        each!(self, c => c.upsert(object, id, reference, fields).await)
    }

    async fn get(&self, object: &str, id: &str) -> Result<ErpRecord, ErpError> {
        each!(self, c => c.get(object, id).await)
    }

    async fn changed_since(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError> {
        each!(self, c => c.changed_since(object, since, page, per_page).await)
    }

    async fn remove(&self, object: &str, id: &str) -> Result<(), ErpError> {
        each!(self, c => c.remove(object, id).await)
    }

    fn reads_back(&self) -> bool {
        each!(self, c => c.reads_back())
    }

    fn holds(&self, object: &str, wanted: &Map<String, Value>, current: &ErpRecord) -> bool {
        each!(self, c => c.holds(object, wanted, current))
    }

    fn pages_by_id(&self) -> bool {
        each!(self, c => c.pages_by_id())
    }

    fn merges_fields(&self) -> bool {
        each!(self, c => c.merges_fields())
    }

    fn keeps_references(&self) -> bool {
        each!(self, c => c.keeps_references())
    }

    async fn acknowledge(&self, object: &str, through: DateTime<Utc>) -> Result<(), ErpError> {
        each!(self, c => c.acknowledge(object, through).await)
    }
}

/// An open adapter and the connection version it was opened for.
type OpenErp = (i64, Arc<Erp>);

/// One open adapter per connection (it keeps its ERP token), reopened when
/// the connection's settings change.
#[derive(Clone)]
pub struct Erps {
    credentials: Credentials,
    egress: EgressPolicy,
    exchange_root: std::path::PathBuf,
    open: Arc<Mutex<HashMap<Uuid, OpenErp>>>,
}

impl Erps {
    pub fn new(
        credentials: Credentials,
        egress: EgressPolicy,
        exchange_root: std::path::PathBuf,
    ) -> Self {
        Self {
            credentials,
            egress,
            exchange_root,
            open: Arc::default(),
        }
    }

    /// Where connections may reach.
    pub fn egress(&self) -> &EgressPolicy {
        &self.egress
    }

    /// The keys that seal connections' credentials.
    pub fn keys(&self) -> &crate::secrets::SecretKeys {
        &self.credentials.keys
    }

    /// Where CSV connections' folders lie (one folder per tenant).
    pub fn exchange_root(&self) -> &std::path::Path {
        &self.exchange_root
    }

    pub async fn get(&self, c: &Connection, timeout: Duration) -> Result<Arc<Erp>, ErpError> {
        let mut open = self.open.lock().await;
        if let Some((version, erp)) = open.get(&c.id)
            && *version == c.version
        {
            return Ok(erp.clone());
        }
        let erp = Arc::new(Erp::open(
            c,
            &self.credentials,
            &self.egress,
            &self.exchange_root,
            timeout,
        )?);
        open.insert(c.id, (c.version, erp.clone()));
        Ok(erp)
    }
}
