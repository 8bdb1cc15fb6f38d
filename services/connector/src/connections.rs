//! Connections: per tenant, one ERP (adapter, endpoint, secret reference),
//! which way each data family flows and when it is pulled, how order
//! statuses are sent, and who wins a conflict.

use chrono::{DateTime, Utc};
use relais_platform::{
    context::timestamp,
    error::{Error, Result, Violations, on_constraint},
    validate,
};
use relais_proto::connector as pb;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::cron::Schedule;

/// The data families, and the directions each can flow.
pub const FAMILIES: [(&str, &[Dir]); 8] = [
    ("customers", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("workers", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("bookings", &[Dir::Push]),
    ("planning", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("orders", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("catalogue", &[Dir::Pull]),
    ("invoices", &[Dir::Pull]),
    ("certificates", &[Dir::Pull]),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    Off,
    Pull,
    Push,
    Both,
}

impl Dir {
    fn from_pb(d: i32) -> Option<Self> {
        match pb::Direction::try_from(d).ok()? {
            pb::Direction::Off => Some(Dir::Off),
            pb::Direction::Pull => Some(Dir::Pull),
            pb::Direction::Push => Some(Dir::Push),
            pb::Direction::Both => Some(Dir::Both),
            pb::Direction::Unspecified => None,
        }
    }

    fn to_pb(self) -> pb::Direction {
        match self {
            Dir::Off => pb::Direction::Off,
            Dir::Pull => pb::Direction::Pull,
            Dir::Push => pb::Direction::Push,
            Dir::Both => pb::Direction::Both,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    ErpWins,
    ShopWins,
    Manual,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::ErpWins => "erp_wins",
            Policy::ShopWins => "shop_wins",
            Policy::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "shop_wins" => Policy::ShopWins,
            "manual" => Policy::Manual,
            _ => Policy::ErpWins,
        }
    }

    /// Which side a conflict goes to: `erp`, `shop`, or None while it waits
    /// for staff.
    pub fn winner(self) -> Option<&'static str> {
        match self {
            Policy::ErpWins => Some("erp"),
            Policy::ShopWins => Some("shop"),
            Policy::Manual => None,
        }
    }

    pub fn to_pb(self) -> pb::ConflictPolicy {
        match self {
            Policy::ErpWins => pb::ConflictPolicy::ErpWins,
            Policy::ShopWins => pb::ConflictPolicy::ShopWins,
            Policy::Manual => pb::ConflictPolicy::Manual,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Family {
    pub family: String,
    pub direction: Dir,
    pub schedule: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusRule {
    pub status: String,
    /// not_sent, quote, order.
    pub send_as: String,
}

/// What `connections.settings` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub families: Vec<Family>,
    pub order_statuses: Vec<StatusRule>,
    pub conflict_policy: Policy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterKind {
    ReferenceErp,
    Tryton,
    Csv,
}

impl AdapterKind {
    fn as_str(self) -> &'static str {
        match self {
            AdapterKind::ReferenceErp => "reference_erp",
            AdapterKind::Tryton => "tryton",
            AdapterKind::Csv => "csv",
        }
    }

    /// The families an adapter's ERP holds.
    pub fn families(self) -> Vec<&'static str> {
        match self {
            AdapterKind::ReferenceErp => FAMILIES.iter().map(|(f, _)| *f).collect(),
            // Parties, products and sales (DESIGN §2 through Tryton's models).
            AdapterKind::Tryton => vec!["customers", "catalogue", "orders"],
            // What EBP / Sage style imports and exports hold.
            AdapterKind::Csv => vec!["customers", "catalogue", "orders"],
        }
    }

    /// True when the ERP keeps a quote and the order it becomes as one
    /// record (a Tryton sale, quoted then confirmed).
    pub fn quote_is_order(self) -> bool {
        self == AdapterKind::Tryton
    }

    pub fn carries(self, family: &str) -> bool {
        self.families().contains(&family)
    }

    fn parse(s: &str) -> Self {
        match s {
            "tryton" => AdapterKind::Tryton,
            "csv" => AdapterKind::Csv,
            _ => AdapterKind::ReferenceErp,
        }
    }

    fn to_pb(self) -> pb::AdapterKind {
        match self {
            AdapterKind::ReferenceErp => pb::AdapterKind::ReferenceErp,
            AdapterKind::Tryton => pb::AdapterKind::Tryton,
            AdapterKind::Csv => pb::AdapterKind::Csv,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Connection {
    pub id: Uuid,
    pub tenant: Uuid,
    pub name: String,
    pub adapter: AdapterKind,
    pub endpoint: String,
    pub secret_ref: String,
    /// Credentials stored with the connection, sealed.
    pub sealed: Option<crate::secrets::Sealed>,
    pub settings: Settings,
    pub enabled: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Connection {
    /// The origin stamped on the changes this ERP makes in the shop.
    pub fn origin(&self) -> String {
        format!("erp:{}", self.name)
    }

    pub fn direction(&self, family: &str) -> Dir {
        self.settings
            .families
            .iter()
            .find(|f| f.family == family)
            .map_or(Dir::Off, |f| f.direction)
    }

    /// The family flows to the ERP, whether or not the connection is paused
    /// (a paused connection's writes wait in the queue).
    pub fn sends(&self, family: &str) -> bool {
        matches!(self.direction(family), Dir::Push | Dir::Both)
    }

    pub fn pushes(&self, family: &str) -> bool {
        self.enabled && matches!(self.direction(family), Dir::Push | Dir::Both)
    }

    pub fn pulls(&self, family: &str) -> bool {
        self.enabled && matches!(self.direction(family), Dir::Pull | Dir::Both)
    }

    /// How a product order in `status` (paid, validated, cancelled) is
    /// sent: `quote`, `order`, or None (not sent).
    pub fn send_as(&self, status: &str) -> Option<&'static str> {
        match self
            .settings
            .order_statuses
            .iter()
            .find(|r| r.status == status)
            .map(|r| r.send_as.as_str())
        {
            Some("quote") => Some("quote"),
            Some("order") => Some("order"),
            _ => None,
        }
    }

    /// Who wins a conflict found while pulling `family`: the policy's side,
    /// unless the shop never sends that family back (then only the ERP's
    /// version can bring both sides in step).
    pub fn pull_winner(&self, family: &str) -> Option<&'static str> {
        if self.sends(family) {
            self.policy().winner()
        } else {
            Some("erp")
        }
    }

    pub fn policy(&self) -> Policy {
        self.settings.conflict_policy
    }

    pub fn to_pb(&self) -> pb::Connection {
        let s = &self.settings;
        pb::Connection {
            id: self.id.to_string(),
            fields: Some(pb::ConnectionFields {
                name: self.name.clone(),
                adapter: self.adapter.to_pb() as i32,
                endpoint: self.endpoint.clone(),
                secret_ref: self.secret_ref.clone(),
                // Write-only: never sent back, not even to its admins.
                secret: String::new(),
                families: s
                    .families
                    .iter()
                    .map(|f| pb::FamilySettings {
                        family: f.family.clone(),
                        direction: f.direction.to_pb() as i32,
                        schedule: f.schedule.clone(),
                    })
                    .collect(),
                order_statuses: s
                    .order_statuses
                    .iter()
                    .map(|r| pb::OrderStatusRule {
                        status: r.status.clone(),
                        send_as: match r.send_as.as_str() {
                            "quote" => pb::SendAs::Quote,
                            "order" => pb::SendAs::Order,
                            _ => pb::SendAs::NotSent,
                        } as i32,
                    })
                    .collect(),
                conflict_policy: s.conflict_policy.to_pb() as i32,
                enabled: self.enabled,
            }),
            version: self.version,
            created_at: Some(timestamp(self.created_at)),
            updated_at: Some(timestamp(self.updated_at)),
            has_secret: self.sealed.is_some(),
        }
    }
}

/// A connection's fields, checked.
pub struct Fields {
    pub name: String,
    pub adapter: AdapterKind,
    pub endpoint: String,
    pub secret_ref: String,
    /// The credentials given with this call, to be sealed; empty: none
    /// given (on update: keep the stored ones).
    pub secret: String,
    pub settings: Settings,
    pub enabled: bool,
}

/// INVALID_ARGUMENT naming every bad field; `creating`: a new connection
/// needs its credentials (an update may keep the stored ones).
pub fn parse(f: Option<&pb::ConnectionFields>, creating: bool) -> Result<Fields> {
    let Some(f) = f else {
        return Err(Error::invalid("fields", "is required"));
    };
    let mut v = Violations::new();
    let name = validate::reference(&mut v, "fields.name", &f.name);
    v.check(
        !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "fields.name",
        "letters, digits, - and _ only (it becomes the origin erp:<name>)",
    );
    let adapter = match pb::AdapterKind::try_from(f.adapter) {
        Ok(pb::AdapterKind::ReferenceErp) => Some(AdapterKind::ReferenceErp),
        Ok(pb::AdapterKind::Tryton) => Some(AdapterKind::Tryton),
        Ok(pb::AdapterKind::Csv) => Some(AdapterKind::Csv),
        _ => {
            v.add("fields.adapter", "is required");
            None
        }
    };
    let endpoint = f.endpoint.trim().to_owned();
    match adapter {
        Some(AdapterKind::Csv) => v.check(
            !endpoint
                .strip_prefix("file://")
                .is_some_and(|p| p.starts_with('/') && !p.split('/').any(|s| s == "..")),
            "fields.endpoint",
            "must be a file:///absolute/path URL of the exchange folder (no ..)",
        ),
        _ => v.check(
            !(endpoint.starts_with("http://") || endpoint.starts_with("https://")),
            "fields.endpoint",
            "must be an http:// or https:// URL",
        ),
    }
    if adapter == Some(AdapterKind::Tryton) {
        let database = endpoint
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, path)| path.trim_end_matches('/'))
            .unwrap_or_default();
        v.check(
            database.is_empty() || database.contains('/'),
            "fields.endpoint",
            "a Tryton endpoint names its database: http://host:8000/<database>",
        );
    }
    v.check(
        endpoint.len() > 500,
        "fields.endpoint",
        "at most 500 characters",
    );
    let secret_ref = f.secret_ref.trim().to_owned();
    v.check(
        secret_ref.len() > 100
            || !secret_ref
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
        "fields.secret_ref",
        "a name (A-Z, 0-9, _) in the tenant's namespace of secrets, not the credentials",
    );
    let secret = f.secret.trim().to_owned();
    v.check(
        secret.chars().count() > 1000 || secret.contains(['\n', '\r', '\t']),
        "fields.secret",
        "one line of at most 1000 characters",
    );
    if adapter == Some(AdapterKind::Csv) {
        v.check(
            !secret.is_empty() || !secret_ref.is_empty(),
            "fields.secret",
            "a file exchange takes no credentials",
        );
    } else if creating && secret.is_empty() && secret_ref.is_empty() {
        v.add(
            "fields.secret",
            "the ERP's credentials are required (reference ERP: public:private; Tryton: \
             login:password)",
        );
    } else if !secret.is_empty() {
        v.check(
            !secret_ref.is_empty(),
            "fields.secret_ref",
            "give the credentials either stored (secret) or by reference (secret_ref), not both",
        );
        v.check(
            !secret.contains(':'),
            "fields.secret",
            "credentials are public:private (reference ERP) or login:password (Tryton)",
        );
    }
    let adapter = adapter.unwrap_or(AdapterKind::ReferenceErp);
    let mut families: Vec<Family> = Vec::new();
    for (i, fam) in f.families.iter().enumerate() {
        let field = |n: &str| format!("fields.families[{i}].{n}");
        let Some((known, allowed)) = FAMILIES.iter().find(|(n, _)| *n == fam.family) else {
            v.add(
                field("family"),
                format!(
                    "unknown family {:?}: one of {}",
                    fam.family,
                    FAMILIES.map(|(n, _)| n).join(", ")
                ),
            );
            continue;
        };
        if families.iter().any(|x| x.family == *known) {
            v.add(field("family"), "appears twice");
        }
        let direction = match Dir::from_pb(fam.direction) {
            Some(d) if d != Dir::Off && !adapter.carries(known) => {
                v.add(
                    field("direction"),
                    format!(
                        "the {} adapter does not carry {known} (it carries {})",
                        adapter.as_str(),
                        adapter.families().join(", ")
                    ),
                );
                d
            }
            Some(d) if d == Dir::Off || allowed.contains(&d) => d,
            Some(d) => {
                v.add(
                    field("direction"),
                    format!("{known} cannot flow {d:?} (allowed: {allowed:?})"),
                );
                Dir::Off
            }
            None => {
                v.add(field("direction"), "is required");
                Dir::Off
            }
        };
        let schedule = fam.schedule.trim().to_owned();
        if !schedule.is_empty() {
            if let Err(e) = Schedule::parse(&schedule) {
                v.add(field("schedule"), e);
            } else if !matches!(direction, Dir::Pull | Dir::Both) {
                v.add(field("schedule"), "only pulls run on a schedule");
            }
        }
        families.push(Family {
            family: (*known).to_owned(),
            direction,
            schedule,
        });
    }
    let mut order_statuses = Vec::new();
    for (i, r) in f.order_statuses.iter().enumerate() {
        let field = |n: &str| format!("fields.order_statuses[{i}].{n}");
        v.check(
            !["paid", "validated", "cancelled"].contains(&r.status.as_str()),
            &field("status"),
            "one of paid, validated, cancelled",
        );
        let send_as = match pb::SendAs::try_from(r.send_as) {
            Ok(pb::SendAs::NotSent) => "not_sent",
            Ok(pb::SendAs::Quote) => "quote",
            Ok(pb::SendAs::Order) => "order",
            _ => {
                v.add(field("send_as"), "is required");
                "not_sent"
            }
        };
        order_statuses.push(StatusRule {
            status: r.status.clone(),
            send_as: send_as.to_owned(),
        });
    }
    let conflict_policy = match pb::ConflictPolicy::try_from(f.conflict_policy) {
        Ok(pb::ConflictPolicy::ShopWins) => Policy::ShopWins,
        Ok(pb::ConflictPolicy::Manual) => Policy::Manual,
        Ok(pb::ConflictPolicy::ErpWins | pb::ConflictPolicy::Unspecified) => Policy::ErpWins,
        Err(_) => {
            v.add("fields.conflict_policy", "unknown policy");
            Policy::ErpWins
        }
    };
    v.into_result()?;
    Ok(Fields {
        name,
        adapter,
        endpoint,
        secret_ref,
        secret,
        settings: Settings {
            families,
            order_statuses,
            conflict_policy,
        },
        enabled: f.enabled,
    })
}

const COLUMNS: &str = "id, tenant_id, name, adapter, endpoint, secret_ref, settings, enabled, version, created_at, updated_at, secret_key_id, secret_sealed";

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    serde_json::Value,
    bool,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
    Option<Vec<u8>>,
);

fn from_row(r: Row) -> Result<Connection> {
    let settings = serde_json::from_value(r.6)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("connection {} settings: {e}", r.0)))?;
    Ok(Connection {
        id: r.0,
        tenant: r.1,
        name: r.2,
        adapter: AdapterKind::parse(&r.3),
        endpoint: r.4,
        secret_ref: r.5,
        sealed: match (r.11, r.12) {
            (Some(key_id), Some(blob)) => Some(crate::secrets::Sealed { key_id, blob }),
            _ => None,
        },
        settings,
        enabled: r.7,
        version: r.8,
        created_at: r.9,
        updated_at: r.10,
    })
}

fn db_error(e: sqlx::Error) -> Error {
    on_constraint(e, "connections_tenant_id_name_key", || {
        Error::AlreadyExists("a connection with this name already exists".into())
    })
}

/// Creates connection `id`, with its credentials sealed for it if given.
pub async fn create(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    f: &Fields,
    sealed: Option<&crate::secrets::Sealed>,
) -> Result<Connection> {
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into connections (tenant_id, id, name, adapter, endpoint, secret_ref, settings, enabled,
                                  secret_key_id, secret_sealed)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(&f.name)
    .bind(f.adapter.as_str())
    .bind(&f.endpoint)
    .bind(&f.secret_ref)
    .bind(serde_json::to_value(&f.settings).map_err(anyhow::Error::from)?)
    .bind(f.enabled)
    .bind(sealed.map(|s| s.key_id.clone()))
    .bind(sealed.map(|s| s.blob.clone()))
    .fetch_one(conn)
    .await
    .map_err(db_error)?;
    from_row(row)
}

/// Updates connection `id`; `sealed` replaces its stored credentials when
/// given, and giving a `secret_ref` drops them (one source at a time).
pub async fn update(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    expected_version: i64,
    f: &Fields,
    sealed: Option<&crate::secrets::Sealed>,
) -> Result<Connection> {
    let locked: Option<(i64, String, String)> = sqlx::query_as(
        "select version, name, adapter from connections where tenant_id = $1 and id = $2 for update",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (version, name, adapter) =
        locked.ok_or_else(|| Error::not_found(format!("connection {id}")))?;
    if AdapterKind::parse(&adapter) != f.adapter {
        // Its bindings hold another ERP's ids: written to this one, they
        // would land on unrelated records.
        return Err(Error::invalid(
            "fields.adapter",
            format!(
                "a connection's adapter cannot change (it is {adapter}): create a new connection"
            ),
        ));
    }
    validate::expected_version(expected_version, version)?;
    if name != f.name {
        // Its changes in flight carry erp:<name>: a new name would let them
        // echo back.
        return Err(Error::invalid(
            "fields.name",
            format!(
                "a connection's name is the origin of its changes and cannot change (it is {name:?})"
            ),
        ));
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update connections set name = $3, adapter = $4, endpoint = $5, secret_ref = $6,
             settings = $7, enabled = $8, version = version + 1, updated_at = now(),
             secret_key_id = case when $9::text is not null then $9
                                  when $6 <> '' then null else secret_key_id end,
             secret_sealed = case when $9::text is not null then $10
                                  when $6 <> '' then null else secret_sealed end
         where tenant_id = $1 and id = $2 returning {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(&f.name)
    .bind(f.adapter.as_str())
    .bind(&f.endpoint)
    .bind(&f.secret_ref)
    .bind(serde_json::to_value(&f.settings).map_err(anyhow::Error::from)?)
    .bind(f.enabled)
    .bind(sealed.map(|s| s.key_id.clone()))
    .bind(sealed.map(|s| s.blob.clone()))
    .fetch_one(conn)
    .await
    .map_err(db_error)?;
    from_row(row)
}

/// NOT_FOUND for another tenant's connection too.
pub async fn get(db: impl PgExecutor<'_>, tenant: Uuid, id: Uuid) -> Result<Connection> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from connections where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or_else(|| Error::not_found(format!("connection {id}")))?)
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Connection> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from connections where id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or_else(|| Error::not_found(format!("connection {id}")))?)
}

pub async fn list(db: impl PgExecutor<'_>, tenant: Uuid) -> Result<Vec<Connection>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from connections where tenant_id = $1 order by name"
    )))
    .bind(tenant)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Every enabled connection, for the scheduler.
pub async fn all_enabled(db: impl PgExecutor<'_>) -> Result<Vec<Connection>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from connections where enabled order by id"
    )))
    .fetch_all(db)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Stored credentials sealed under another key than the current one, for
/// re-sealing after a key rotation.
pub async fn sealed_with_old_keys(
    db: impl PgExecutor<'_>,
    current: &str,
) -> Result<Vec<(Uuid, Uuid, crate::secrets::Sealed)>> {
    let rows: Vec<(Uuid, Uuid, String, Vec<u8>)> = sqlx::query_as(
        "select tenant_id, id, secret_key_id, secret_sealed from connections
         where secret_key_id is not null and secret_key_id <> $1",
    )
    .bind(current)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(t, id, key_id, blob)| (t, id, crate::secrets::Sealed { key_id, blob }))
        .collect())
}

/// Replaces `old` by `new` (same credentials, another key), unless they
/// changed meanwhile; the connection's version stays.
pub async fn reseal(
    db: impl PgExecutor<'_>,
    id: Uuid,
    old: &crate::secrets::Sealed,
    new: &crate::secrets::Sealed,
) -> Result<()> {
    sqlx::query(
        "update connections set secret_key_id = $3, secret_sealed = $4
         where id = $1 and secret_sealed = $2",
    )
    .bind(id)
    .bind(&old.blob)
    .bind(&new.key_id)
    .bind(&new.blob)
    .execute(db)
    .await?;
    Ok(())
}
