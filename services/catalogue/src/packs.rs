//! Hour packs (seed 002): a number of hours at a reduced price, for the
//! tenant's services or only some. Every eligible service shares the pack's
//! one VAT rate. Once created, only the eligible services may change; a pack
//! can be deactivated and deleted.

use chrono::{DateTime, Utc};
use relais_platform::error::{Error, Result, Violations};
use relais_platform::{
    context::{Ctx, timestamp},
    validate::{self, MAX_PRICE_CENTS},
};
use relais_proto::{
    catalogue::{CreateHourPackRequest, HourPack},
    events::HourPackChanged,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// 1,000 hours: more is a typo.
const MAX_MINUTES: i32 = 60_000;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    duration_minutes: i32,
    price_cents: i64,
    vat_rate_bp: i32,
    eligible_service_ids: Vec<Uuid>,
    active: bool,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl From<Row> for HourPack {
    fn from(r: Row) -> Self {
        HourPack {
            id: r.id.to_string(),
            name: r.name,
            duration_minutes: r.duration_minutes,
            price: validate::money_out(r.price_cents),
            vat_rate_bp: r.vat_rate_bp,
            eligible_service_ids: r.eligible_service_ids.iter().map(Uuid::to_string).collect(),
            active: r.active,
            version: r.version,
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

const COLS: &str = "id, name, duration_minutes, price_cents, vat_rate_bp, eligible_service_ids, active, version, updated_at";

fn service_ids(v: &mut Violations, ids: &[String]) -> Vec<Uuid> {
    let mut out = Vec::with_capacity(ids.len());
    for (i, s) in ids.iter().enumerate() {
        match Uuid::parse_str(s.trim()) {
            Ok(id) if !out.contains(&id) => out.push(id),
            Ok(_) => v.add(format!("eligible_service_ids[{i}]"), "listed twice"),
            Err(_) => v.add(format!("eligible_service_ids[{i}]"), "must be a UUID"),
        }
    }
    out
}

/// The one VAT rate of `ids`; an unknown service or two rates is an error.
async fn shared_vat(conn: &mut PgConnection, tenant: Uuid, ids: &[Uuid]) -> Result<Option<i32>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let rows: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "select id, code, vat_rate_bp from services where tenant_id = $1 and id = any($2) order by code",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut v = Violations::new();
    for (i, id) in ids.iter().enumerate() {
        v.check(
            !rows.iter().any(|r| r.0 == *id),
            &format!("eligible_service_ids[{i}]"),
            "no such service",
        );
    }
    v.into_result()?;
    let first = rows[0].2;
    if rows.iter().any(|r| r.2 != first) {
        let rates = rows
            .iter()
            .map(|r| format!("{} at {} bp", r.1, r.2))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::invalid(
            "eligible_service_ids",
            format!("the services of a pack must share one VAT rate; got {rates}"),
        ));
    }
    Ok(Some(first))
}

pub async fn create(
    conn: &mut PgConnection,
    ctx: &Ctx,
    req: &CreateHourPackRequest,
) -> Result<HourPack> {
    let mut v = Violations::new();
    let name = validate::name(&mut v, "name", &req.name);
    v.check(
        req.duration_minutes <= 0 || req.duration_minutes > MAX_MINUTES,
        "duration_minutes",
        format!("must be between 1 and {MAX_MINUTES}"),
    );
    let price = validate::money(&mut v, "price", req.price.as_ref(), MAX_PRICE_CENTS);
    if let Some(bp) = req.vat_rate_bp {
        validate::vat(&mut v, "vat_rate_bp", bp);
    }
    let ids = service_ids(&mut v, &req.eligible_service_ids);
    v.check(
        ids.is_empty() && req.vat_rate_bp.is_none(),
        "vat_rate_bp",
        "is required when the pack is for every service",
    );
    v.into_result()?;
    let vat = match (shared_vat(conn, ctx.tenant, &ids).await?, req.vat_rate_bp) {
        (Some(services), Some(given)) if services != given => {
            return Err(Error::invalid(
                "vat_rate_bp",
                format!("{given} bp differs from the eligible services' rate of {services} bp"),
            ));
        }
        (Some(services), _) => services,
        (None, given) => given.unwrap_or_default(),
    };
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into hour_packs (tenant_id, id, name, duration_minutes, price_cents, currency,
             vat_rate_bp, eligible_service_ids, active, origin)
         values ($1, $2, $3, $4, $5, 'EUR', $6, $7, $8, $9) returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(Uuid::now_v7())
    .bind(&name)
    .bind(req.duration_minutes)
    .bind(price)
    .bind(vat)
    .bind(&ids)
    .bind(req.active_on_creation)
    .bind(&ctx.origin)
    .fetch_one(&mut *conn)
    .await?;
    let pack = HourPack::from(row);
    publish(conn, ctx, "created", &pack, false).await?;
    Ok(pack)
}

async fn lock(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<i32> {
    let vat: Option<i32> = sqlx::query_scalar(
        "select vat_rate_bp from hour_packs where tenant_id = $1 and id = $2 and deleted_at is null for update",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    vat.ok_or_else(|| Error::not_found(format!("hour pack {id}")))
}

pub async fn update_services(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    ids: &[String],
) -> Result<HourPack> {
    let mut v = Violations::new();
    let ids = service_ids(&mut v, ids);
    v.into_result()?;
    let pack_vat = lock(conn, ctx.tenant, id).await?;
    if let Some(vat) = shared_vat(conn, ctx.tenant, &ids).await?
        && vat != pack_vat
    {
        return Err(Error::invalid(
            "eligible_service_ids",
            format!("these services are at {vat} bp VAT; the pack is at {pack_vat} bp"),
        ));
    }
    change(conn, ctx, id, "eligible_service_ids = $3", ids).await
}

pub async fn set_active(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    active: bool,
) -> Result<HourPack> {
    lock(conn, ctx.tenant, id).await?;
    change(conn, ctx, id, "active = $3", active).await
}

pub async fn delete(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<()> {
    lock(conn, ctx.tenant, id).await?;
    // Kept as a tombstone: packs already sold still name it.
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update hour_packs set deleted_at = now(), active = false, version = version + 1, updated_at = now()
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    publish(conn, ctx, "deleted", &HourPack::from(row), true).await
}

async fn change<T>(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    set: &str,
    value: T,
) -> Result<HourPack>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update hour_packs set {set}, version = version + 1, updated_at = now()
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .bind(value)
    .fetch_one(&mut *conn)
    .await?;
    let pack = HourPack::from(row);
    publish(conn, ctx, "updated", &pack, false).await?;
    Ok(pack)
}

pub async fn get(pool: &PgPool, tenant: Uuid, id: Uuid) -> Result<HourPack> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from hour_packs where tenant_id = $1 and id = $2 and deleted_at is null"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(HourPack::from)
        .ok_or_else(|| Error::not_found(format!("hour pack {id}")))
}

pub async fn list(pool: &PgPool, tenant: Uuid, include_inactive: bool) -> Result<Vec<HourPack>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from hour_packs where tenant_id = $1 and deleted_at is null and ($2 or active)
         order by name, id"
    )))
    .bind(tenant)
    .bind(include_inactive)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(HourPack::from).collect())
}

async fn publish(
    conn: &mut PgConnection,
    ctx: &Ctx,
    event: &str,
    p: &HourPack,
    deleted: bool,
) -> Result<()> {
    let meta = ctx.meta(Uuid::parse_str(&p.id).unwrap_or_default(), p.version);
    let payload = HourPackChanged {
        meta: Some(meta.clone()),
        hour_pack: Some(p.clone()),
        deleted,
    };
    ctx.emit(conn, "hour_pack", event, &meta, &payload).await?;
    Ok(())
}
