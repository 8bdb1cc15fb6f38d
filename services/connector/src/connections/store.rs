//! Connections in the database.

use chrono::{DateTime, Utc};
use relais_platform::{
    error::{Error, Result, on_constraint},
    validate,
};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{
    fields::Fields,
    model::{AdapterKind, Connection},
};
use crate::secrets::Sealed;

const COLUMNS: &str = "id, tenant_id, name, adapter, endpoint, secret_ref, settings, enabled, version, created_at, updated_at, secret_key_id, secret_sealed";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    adapter: String,
    endpoint: String,
    secret_ref: String,
    settings: serde_json::Value,
    enabled: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    secret_key_id: Option<String>,
    secret_sealed: Option<Vec<u8>>,
}

fn from_row(r: Row) -> Result<Connection> {
    let settings = serde_json::from_value(r.settings)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("connection {} settings: {e}", r.id)))?;
    Ok(Connection {
        id: r.id,
        tenant: r.tenant_id,
        name: r.name,
        adapter: AdapterKind::parse(&r.adapter),
        endpoint: r.endpoint,
        secret_ref: r.secret_ref,
        sealed: match (r.secret_key_id, r.secret_sealed) {
            (Some(key_id), Some(blob)) => Some(Sealed { key_id, blob }),
            _ => None,
        },
        settings,
        enabled: r.enabled,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
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
    sealed: Option<&Sealed>,
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
    sealed: Option<&Sealed>,
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

/// Credentials stored with a connection.
pub struct StoredCredentials {
    pub tenant: Uuid,
    pub connection: Uuid,
    pub sealed: Sealed,
}

/// Stored credentials sealed under another key than the current one, for
/// re-sealing after a key rotation.
pub async fn sealed_with_old_keys(
    db: impl PgExecutor<'_>,
    current: &str,
) -> Result<Vec<StoredCredentials>> {
    let rows: Vec<(Uuid, Uuid, String, Vec<u8>)> = sqlx::query_as(
        "select tenant_id, id, secret_key_id, secret_sealed from connections
         where secret_key_id is not null and secret_key_id <> $1",
    )
    .bind(current)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, connection, key_id, blob)| StoredCredentials {
            tenant,
            connection,
            sealed: Sealed { key_id, blob },
        })
        .collect())
}

/// Replaces `old` by `new` (same credentials, another key), unless they
/// changed meanwhile; the connection's version stays.
pub async fn reseal(db: impl PgExecutor<'_>, id: Uuid, old: &Sealed, new: &Sealed) -> Result<()> {
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
