//! Interventions as stored: reading them (by filter, for a customer, for
//! a pack), publishing their changes, and the per-tenant lock every
//! planning change takes.

use chrono::{DateTime, Utc};
use relais_domain::address;
use relais_platform::{
    context::{Ctx, timestamp},
    error::Result,
};
use relais_proto::{
    events::InterventionChanged,
    planning::{Intervention, InterventionStatus},
};
use sqlx::PgConnection;
use uuid::Uuid;

/// One planning change at a time per tenant, so two bookings (or a booking
/// and a reassignment) never pick the same free worker for the same slot.
pub async fn lock_tenant(conn: &mut PgConnection, tenant: Uuid) -> Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('planning:' || $1::text, 0))")
        .bind(tenant)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn publish(
    conn: &mut PgConnection,
    ctx: &Ctx,
    event: &str,
    i: &Intervention,
) -> Result<()> {
    let id = Uuid::parse_str(&i.id).unwrap_or_default();
    let meta = ctx.meta(id, i.version);
    let payload = InterventionChanged {
        meta: Some(meta.clone()),
        intervention: Some(i.clone()),
    };
    ctx.emit(conn, "intervention", event, &meta, &payload)
        .await?;
    Ok(())
}

pub const COLS: &str =
    "id, order_id, occurrence, customer_id, service_id, worker_id, address, starts_at,
    ends_at, status, hour_pack_order_id, unassigned_reason, origin, version, actual_minutes,
    status_reason, pack_note, price_cents";

#[derive(sqlx::FromRow)]
pub struct Row {
    pub id: Uuid,
    pub order_id: Uuid,
    pub occurrence: i32,
    customer_id: Uuid,
    pub service_id: Uuid,
    pub worker_id: Option<Uuid>,
    address: serde_json::Value,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub hour_pack_order_id: Option<Uuid>,
    unassigned_reason: String,
    origin: String,
    pub version: i64,
    actual_minutes: Option<i32>,
    status_reason: String,
    pack_note: String,
    price_cents: i64,
}

impl From<Row> for Intervention {
    fn from(r: Row) -> Self {
        let status = match r.status.as_str() {
            "planned" => InterventionStatus::Planned,
            "done" => InterventionStatus::Done,
            "cancelled" => InterventionStatus::Cancelled,
            _ => InterventionStatus::Unspecified,
        };
        Intervention {
            id: r.id.to_string(),
            order_id: r.order_id.to_string(),
            occurrence: r.occurrence,
            customer_id: r.customer_id.to_string(),
            service_id: r.service_id.to_string(),
            worker_id: r.worker_id.map(|w| w.to_string()).unwrap_or_default(),
            address: Some(address::from_json(&r.address)),
            start: Some(timestamp(r.starts_at)),
            end: Some(timestamp(r.ends_at)),
            status: status as i32,
            hour_pack_order_id: r
                .hour_pack_order_id
                .map(|p| p.to_string())
                .unwrap_or_default(),
            unassigned_reason: r.unassigned_reason,
            origin: r.origin,
            version: r.version,
            actual_minutes: r.actual_minutes.unwrap_or_default(),
            status_reason: r.status_reason,
            pack_note: r.pack_note,
            price: relais_platform::validate::money_out(r.price_cents),
        }
    }
}

pub struct Filter {
    pub worker: Option<Uuid>,
    pub customer: Option<Uuid>,
    pub order: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only residents of these residences (staff: relais_platform::access).
    pub residences: Option<Vec<Uuid>>,
    /// Only planned ones nobody is assigned to (the office's to-do list).
    pub unassigned_only: bool,
}

/// In start order; `after` is the (start, id) of the previous page's last.
pub async fn list(
    conn: &mut PgConnection,
    tenant: Uuid,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Intervention>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from interventions i
         where tenant_id = $1
           and ($2::uuid is null or worker_id = $2)
           and ($3::uuid is null or customer_id = $3)
           and ($4::uuid is null or order_id = $4)
           and ($5::timestamptz is null or starts_at >= $5)
           and ($6::timestamptz is null or starts_at < $6)
           and ($7::uuid is null or (starts_at, id) > (select starts_at, id from interventions
                                                     where tenant_id = $1 and id = $7))
           and ($9::uuid[] is null or customer_id in (select customer_id from access_customers
                                                     where tenant_id = $1 and residence_id = any($9)))
           and (not $10 or (worker_id is null and status = 'planned'))
         order by starts_at, id limit $8"
    )))
    .bind(tenant)
    .bind(f.worker)
    .bind(f.customer)
    .bind(f.order)
    .bind(f.from)
    .bind(f.to)
    .bind(after)
    .bind(limit)
    .bind(&f.residences)
    .bind(f.unassigned_only)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Intervention::from).collect())
}

/// The customer an intervention is for, if it exists.
pub async fn customer_of(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar(
            "select customer_id from interventions where tenant_id = $1 and id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(conn)
        .await?,
    )
}

/// The live interventions a pack pays for, in start order.
pub async fn of_pack(
    conn: &mut PgConnection,
    tenant: Uuid,
    pack: Uuid,
) -> Result<Vec<Intervention>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from interventions
         where tenant_id = $1 and hour_pack_order_id = $2 and status <> 'cancelled'
         order by starts_at, id"
    )))
    .bind(tenant)
    .bind(pack)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Intervention::from).collect())
}
