//! Bindings: a shop record and its ERP record, per connection, unique both
//! ways, with each side's version as last synced (docs/architecture.md §5).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use relais_platform::{
    context::timestamp,
    error::{Error, Result},
};
use relais_proto::connector as pb;
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct Binding {
    pub entity: String,
    pub internal_id: String,
    pub external_id: String,
    pub shop_version: i64,
    pub erp_version: i64,
    pub synced_at: DateTime<Utc>,
    /// The mapped fields both sides last agreed on (merge.rs), when kept.
    pub agreed: Option<serde_json::Map<String, serde_json::Value>>,
    /// The open manual conflict holding the record on both sides.
    pub held_by: Option<Uuid>,
    /// What a merge not yet agreed was writing to the ERP, and to the shop.
    pub sent_erp: Option<serde_json::Map<String, serde_json::Value>>,
    pub sent_shop: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Binding {
    pub fn to_pb(&self) -> pb::Binding {
        pb::Binding {
            entity: self.entity.clone(),
            internal_id: self.internal_id.clone(),
            external_id: self.external_id.clone(),
            shop_version: self.shop_version,
            erp_version: self.erp_version,
            synced_at: Some(timestamp(self.synced_at)),
        }
    }
}

type Row = (
    String,
    String,
    String,
    i64,
    i64,
    DateTime<Utc>,
    Option<serde_json::Value>,
    Option<Uuid>,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
);

fn object(v: Option<serde_json::Value>) -> Option<serde_json::Map<String, serde_json::Value>> {
    match v {
        Some(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn from_row(r: Row) -> Binding {
    Binding {
        entity: r.0,
        internal_id: r.1,
        external_id: r.2,
        shop_version: r.3,
        erp_version: r.4,
        synced_at: r.5,
        agreed: object(r.6),
        held_by: r.7,
        sent_erp: object(r.8),
        sent_shop: object(r.9),
    }
}

const COLUMNS: &str =
    "entity, internal_id, external_id, shop_version, erp_version, synced_at, agreed, held_by,
     sent_erp, sent_shop";

pub async fn by_internal(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    internal_id: &str,
) -> Result<Option<Binding>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bindings
         where connection_id = $1 and entity = $2 and internal_id = $3"
    )))
    .bind(connection)
    .bind(entity)
    .bind(internal_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(from_row))
}

pub async fn by_external(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    external_id: &str,
) -> Result<Option<Binding>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bindings
         where connection_id = $1 and entity = $2 and external_id = $3"
    )))
    .bind(connection)
    .bind(entity)
    .bind(external_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(from_row))
}

/// Records that both sides are in step at these versions. A record is
/// bound to one counterpart for good: a second external id for the same
/// record (or the reverse) is refused by the unique keys.
pub async fn record(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    internal_id: &str,
    external_id: &str,
    shop_version: i64,
    erp_version: i64,
) -> Result<()> {
    sqlx::query(
        "insert into bindings (connection_id, entity, internal_id, external_id, shop_version, erp_version)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (connection_id, entity, internal_id) do update
         set shop_version = greatest(bindings.shop_version, excluded.shop_version),
             erp_version = greatest(bindings.erp_version, excluded.erp_version),
             synced_at = now()
         where bindings.external_id = excluded.external_id",
    )
    .bind(connection)
    .bind(entity)
    .bind(internal_id)
    .bind(external_id)
    .bind(shop_version)
    .bind(erp_version)
    .execute(db)
    .await?;
    Ok(())
}

/// Both sides hold `agreed` now, at these versions (exactly: the caller
/// holds the record's lock), and nothing holds the record any more.
#[allow(clippy::too_many_arguments)]
pub async fn agree(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    internal_id: &str,
    shop_version: i64,
    erp_version: i64,
    agreed: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    sqlx::query(
        "update bindings set shop_version = $4, erp_version = $5, agreed = $6, held_by = null,
             sent_erp = null, sent_shop = null, synced_at = now()
         where connection_id = $1 and entity = $2 and internal_id = $3",
    )
    .bind(connection)
    .bind(entity)
    .bind(internal_id)
    .bind(shop_version)
    .bind(erp_version)
    .bind(serde_json::Value::Object(agreed.clone()))
    .execute(db)
    .await?;
    Ok(())
}

/// What a merge is about to write to each side (kept until `agree`).
pub async fn sending(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    internal_id: &str,
    to_erp: &serde_json::Map<String, serde_json::Value>,
    to_shop: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    sqlx::query(
        // Added to what an earlier unfinished merge sent: that may have
        // landed too.
        "update bindings set sent_erp = coalesce(sent_erp, '{}') || $4,
             sent_shop = coalesce(sent_shop, '{}') || $5
         where connection_id = $1 and entity = $2 and internal_id = $3",
    )
    .bind(connection)
    .bind(entity)
    .bind(internal_id)
    .bind(serde_json::Value::Object(to_erp.clone()))
    .bind(serde_json::Value::Object(to_shop.clone()))
    .execute(db)
    .await?;
    Ok(())
}

/// Holds the record on both sides for the open conflict `conflict`.
pub async fn hold(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    internal_id: &str,
    conflict: Uuid,
) -> Result<()> {
    sqlx::query(
        "update bindings set held_by = $4
         where connection_id = $1 and entity = $2 and internal_id = $3",
    )
    .bind(connection)
    .bind(entity)
    .bind(internal_id)
    .bind(conflict)
    .execute(db)
    .await?;
    Ok(())
}

/// Sets both sides' versions as given, lower or not (`record` never goes
/// back): staff settling a conflict say which versions count as synced.
pub async fn set_versions(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    internal_id: &str,
    shop_version: i64,
    erp_version: i64,
) -> Result<()> {
    sqlx::query(
        "update bindings set shop_version = $4, erp_version = $5, synced_at = now()
         where connection_id = $1 and entity = $2 and internal_id = $3",
    )
    .bind(connection)
    .bind(entity)
    .bind(internal_id)
    .bind(shop_version)
    .bind(erp_version)
    .execute(db)
    .await?;
    Ok(())
}

/// A page of the connection's bindings (of `entity`, or all when empty) by
/// entity then shop id, after `after` (a [`page_token`]'s key).
pub async fn list(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    entity: &str,
    after: Option<(String, String)>,
    limit: i64,
) -> Result<Vec<Binding>> {
    let (after_entity, after_id) = after.unzip();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bindings
         where connection_id = $1 and ($2 = '' or entity = $2)
           and ($3::text is null or (entity, internal_id) > ($3, $4))
         order by entity, internal_id limit $5"
    )))
    .bind(connection)
    .bind(entity)
    .bind(after_entity)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The next page's token after `b`: its key, opaque to the caller.
pub fn page_token(b: &Binding) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}\n{}", b.entity, b.internal_id))
}

/// The key a [`page_token`] holds; INVALID_ARGUMENT for anything else.
pub fn page_key(token: &str) -> Result<Option<(String, String)>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("page.page_token", "is not a token from a previous page");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (entity, id) = text.split_once('\n').ok_or_else(bad)?;
    Ok(Some((entity.to_owned(), id.to_owned())))
}

/// The ERP tariff a shop service maps to.
pub async fn tariff_of(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    service_id: &str,
) -> Result<Option<String>> {
    let Ok(service) = Uuid::parse_str(service_id) else {
        return Ok(None);
    };
    Ok(sqlx::query_scalar(
        "select tariff_id from tariff_mappings where connection_id = $1 and service_id = $2",
    )
    .bind(connection)
    .bind(service)
    .fetch_optional(db)
    .await?)
}

/// The shop service an ERP tariff maps to.
pub async fn service_of(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    tariff_id: &str,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "select service_id from tariff_mappings where connection_id = $1 and tariff_id = $2",
    )
    .bind(connection)
    .bind(tariff_id)
    .fetch_optional(db)
    .await?)
}

pub async fn set_tariff(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    service_id: Uuid,
    tariff_id: &str,
) -> Result<()> {
    if tariff_id.is_empty() {
        sqlx::query("delete from tariff_mappings where connection_id = $1 and service_id = $2")
            .bind(connection)
            .bind(service_id)
            .execute(db)
            .await?;
    } else {
        sqlx::query(
            "insert into tariff_mappings (connection_id, service_id, tariff_id) values ($1, $2, $3)
             on conflict (connection_id, service_id) do update set tariff_id = excluded.tariff_id",
        )
        .bind(connection)
        .bind(service_id)
        .bind(tariff_id)
        .execute(db)
        .await
        .map_err(|e| {
            relais_platform::error::on_constraint(e, "tariff_mappings_tariff_key", || {
                relais_platform::error::Error::AlreadyExists(format!(
                    "tariff {tariff_id} is already mapped to another service"
                ))
            })
        })?;
    }
    Ok(())
}

pub async fn tariffs(db: impl PgExecutor<'_>, connection: Uuid) -> Result<Vec<(Uuid, String)>> {
    Ok(sqlx::query_as(
        "select service_id, tariff_id from tariff_mappings where connection_id = $1 order by tariff_id",
    )
    .bind(connection)
    .fetch_all(db)
    .await?)
}
