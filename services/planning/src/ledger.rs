//! The hour-pack ledger (seed 002): a paid pack purchase opens a balance;
//! the interventions of bookings paid with it count as planned, then as
//! consumed (the time actually worked) when done; cancelled ones give their
//! time back. Planned and consumed are summed from the interventions
//! themselves, and the pack row is locked while time is attached, so the
//! ledger cannot drift and a pack is never over-planned.

use chrono::{DateTime, Utc};
use relais_platform::{
    context::Ctx,
    error::{Error, Result},
};
use relais_proto::{
    events::PackChanged,
    orders::Order,
    planning::{PackBalance, PackStatus},
};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    order_id: Uuid,
    customer_id: Uuid,
    hour_pack_id: Uuid,
    name: String,
    minutes_bought: i32,
    eligible: Vec<Uuid>,
    vat_rate_bp: i32,
    status: String,
    version: i64,
    planned: i64,
    consumed: i64,
    /// The bookings drawn on the pack (orders counts the others as pending).
    drawn: Vec<Uuid>,
}

const SELECT: &str = "select p.order_id, p.customer_id, p.hour_pack_id, p.name, p.minutes_bought,
        p.eligible, p.vat_rate_bp, p.status, p.version,
        coalesce((select sum(extract(epoch from i.ends_at - i.starts_at))::bigint / 60
                  from interventions i where i.tenant_id = p.tenant_id
                   and i.hour_pack_order_id = p.order_id and i.status = 'planned'), 0) as planned,
        coalesce((select sum(i.actual_minutes)::bigint
                  from interventions i where i.tenant_id = p.tenant_id
                   and i.hour_pack_order_id = p.order_id and i.status = 'done'), 0) as consumed,
        array(select distinct i.order_id from interventions i where i.tenant_id = p.tenant_id
               and i.hour_pack_order_id = p.order_id order by 1) as drawn
     from packs p";

impl Row {
    fn remaining(&self) -> i64 {
        (i64::from(self.minutes_bought) - self.planned - self.consumed).max(0)
    }

    fn balance(&self) -> PackBalance {
        let clamp = |m: i64| i32::try_from(m).unwrap_or(i32::MAX);
        PackBalance {
            pack_order_id: self.order_id.to_string(),
            customer_id: self.customer_id.to_string(),
            hour_pack_id: self.hour_pack_id.to_string(),
            name: self.name.clone(),
            bought: self.minutes_bought,
            planned: clamp(self.planned),
            consumed: clamp(self.consumed),
            remaining: clamp(self.remaining()),
            status: if self.status == "open" {
                PackStatus::Open
            } else {
                PackStatus::Exhausted
            } as i32,
            eligible_service_ids: self.eligible.iter().map(Uuid::to_string).collect(),
            vat_rate_bp: self.vat_rate_bp,
            version: self.version,
            drawn_order_ids: self.drawn.iter().map(Uuid::to_string).collect(),
        }
    }
}

async fn load(
    conn: &mut PgConnection,
    tenant: Uuid,
    pack: Uuid,
    lock: bool,
) -> Result<Option<Row>> {
    let sql = format!(
        "{SELECT} where p.tenant_id = $1 and p.order_id = $2{}",
        if lock { " for update of p" } else { "" }
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(pack)
        .fetch_optional(conn)
        .await?)
}

async fn publish(conn: &mut PgConnection, ctx: &Ctx, event: &str, b: PackBalance) -> Result<()> {
    let id = Uuid::parse_str(&b.pack_order_id).unwrap_or_default();
    let meta = ctx.meta(id, b.version);
    let payload = PackChanged {
        meta: Some(meta.clone()),
        balance: Some(b),
    };
    ctx.emit(conn, "pack", event, &meta, &payload).await?;
    Ok(())
}

/// Opens the balance of a paid pack purchase (once per order).
pub async fn open(conn: &mut PgConnection, ctx: &Ctx, order: &Order) -> Result<()> {
    let pack = order
        .hour_pack
        .as_ref()
        .ok_or_else(|| Error::invalid("order.hour_pack", "a pack order without its pack"))?;
    let id = |field: &str, s: &str| {
        Uuid::parse_str(s).map_err(|_| Error::invalid(field.to_owned(), "is not an id"))
    };
    let eligible = pack
        .eligible_service_ids
        .iter()
        .map(|s| id("order.hour_pack.eligible_service_ids", s))
        .collect::<Result<Vec<_>>>()?;
    let inserted = sqlx::query(
        "insert into packs (tenant_id, order_id, customer_id, hour_pack_id, name, minutes_bought,
             eligible, vat_rate_bp, status, price_cents)
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9) on conflict do nothing",
    )
    .bind(ctx.tenant)
    .bind(id("order.id", &order.id)?)
    .bind(id("order.customer_id", &order.customer_id)?)
    .bind(id("order.hour_pack.hour_pack_id", &pack.hour_pack_id)?)
    .bind(&pack.name)
    .bind(pack.duration_minutes)
    .bind(&eligible)
    .bind(order.lines.first().map_or(0, |l| l.vat_rate_bp))
    .bind(order.total_excl_vat.as_ref().map_or(0, |m| m.amount_cents))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1
        && let Some(row) = load(conn, ctx.tenant, id("order.id", &order.id)?, false).await?
    {
        publish(conn, ctx, "opened", row.balance()).await?;
    }
    Ok(())
}

/// A pack as planning draws on it.
pub struct Drawable {
    pub name: String,
    /// Minutes that can still be planned.
    pub remaining: i64,
    price_cents: i64,
    minutes_bought: i32,
}

impl Drawable {
    /// The pack's price for `minutes` of it, rounded half-up; checked (a
    /// price beyond the range is a corrupt record, an internal error, never
    /// a panic or a wrapped amount).
    pub fn price_of(&self, minutes: i64) -> Result<i64> {
        let bought = i64::from(self.minutes_bought.max(1));
        relais_domain::money::share(self.price_cents, minutes, bought).ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "pack \"{}\": the price of {minutes} min is beyond the range",
                self.name
            ))
        })
    }
}

/// Locks the pack and tells how many minutes can still be planned on it
/// (None: no open balance for this pack order).
pub async fn reserve(
    conn: &mut PgConnection,
    tenant: Uuid,
    pack: Uuid,
) -> Result<Option<Drawable>> {
    let price: Option<i64> =
        sqlx::query_scalar("select price_cents from packs where tenant_id = $1 and order_id = $2")
            .bind(tenant)
            .bind(pack)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(load(conn, tenant, pack, true).await?.map(|r| Drawable {
        name: r.name.clone(),
        remaining: r.remaining(),
        price_cents: price.unwrap_or(0),
        minutes_bought: r.minutes_bought,
    }))
}

/// After interventions attached to `packs` changed: marks a pack exhausted
/// when nothing is left to plan, open again when time came back, each with
/// its event.
pub async fn settle(conn: &mut PgConnection, ctx: &Ctx, packs: &[Uuid]) -> Result<()> {
    let mut packs = packs.to_vec();
    packs.sort();
    packs.dedup();
    for pack in packs {
        let Some(row) = load(conn, ctx.tenant, pack, true).await? else {
            continue;
        };
        let (status, event) = match (row.status.as_str(), row.remaining()) {
            ("open", 0) => ("exhausted", "exhausted"),
            ("exhausted", r) if r > 0 => ("open", "reopened"),
            _ => continue,
        };
        sqlx::query(
            "update packs set status = $3, version = version + 1 where tenant_id = $1 and order_id = $2",
        )
        .bind(ctx.tenant)
        .bind(pack)
        .bind(status)
        .execute(&mut *conn)
        .await?;
        if let Some(row) = load(conn, ctx.tenant, pack, false).await? {
            publish(conn, ctx, event, row.balance()).await?;
        }
    }
    Ok(())
}

pub async fn get(conn: &mut PgConnection, tenant: Uuid, pack: Uuid) -> Result<PackBalance> {
    load(conn, tenant, pack, false)
        .await?
        .map(|r| r.balance())
        .ok_or_else(|| Error::not_found(format!("pack {pack}")))
}

pub async fn of_customer(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
) -> Result<Vec<PackBalance>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where p.tenant_id = $1 and p.customer_id = $2 order by p.opened_at"
    )))
    .bind(tenant)
    .bind(customer)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(Row::balance).collect())
}

/// Minutes between two instants, for a change's pack check.
pub fn minutes(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    (end - start).num_minutes()
}
