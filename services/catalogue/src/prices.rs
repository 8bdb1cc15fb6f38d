//! Price lists per customer family (price group) and the price query other
//! services use: what a family pays for each item.

use chrono::{DateTime, Utc};
use relais_platform::error::{Error, Result, Violations};
use relais_platform::{
    context::{Ctx, timestamp},
    validate::{self, MAX_PRICE_CENTS},
};
use relais_proto::{
    catalogue::{ItemPrice, PriceListEntry},
    events::PriceListEntryChanged,
    types::Money,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    customer_family: String,
    item_id: Uuid,
    price_cents: i64,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl From<&Row> for PriceListEntry {
    fn from(r: &Row) -> Self {
        PriceListEntry {
            customer_family: r.customer_family.clone(),
            item_id: r.item_id.to_string(),
            price: validate::money_out(r.price_cents),
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

pub fn family(v: &mut Violations, value: &str) -> String {
    validate::reference(v, "customer_family", value)
}

/// `product` or `service`, or an error naming `field`.
async fn item_kind(
    conn: &mut PgConnection,
    tenant: Uuid,
    field: &str,
    id: Uuid,
) -> Result<&'static str> {
    let kind: Option<String> = sqlx::query_scalar(
        "select 'product' from products where tenant_id = $1 and id = $2
         union all select 'service' from services where tenant_id = $1 and id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    match kind.as_deref() {
        Some("product") => Ok("product"),
        Some(_) => Ok("service"),
        None => Err(Error::invalid(field, "no such product or service")),
    }
}

/// The id of the product with this SKU or the service with this code.
pub async fn item_by_reference(
    conn: &mut PgConnection,
    tenant: Uuid,
    reference: &str,
) -> Result<Uuid> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "select id from products where tenant_id = $1 and sku = $2
         union all select id from services where tenant_id = $1 and code = $2 limit 1",
    )
    .bind(tenant)
    .bind(reference.trim())
    .fetch_optional(conn)
    .await?;
    id.ok_or_else(|| {
        Error::invalid(
            "item_reference",
            format!("no product or service {reference:?}"),
        )
    })
}

pub async fn set(
    conn: &mut PgConnection,
    ctx: &Ctx,
    family_code: &str,
    item_id: Uuid,
    price: Option<&Money>,
) -> Result<PriceListEntry> {
    let mut v = Violations::new();
    let family_code = family(&mut v, family_code);
    let cents = validate::money(&mut v, "price", price, MAX_PRICE_CENTS);
    v.into_result()?;
    let kind = item_kind(conn, ctx.tenant, "item_id", item_id).await?;
    let row: Row = sqlx::query_as(
        "insert into price_list_entries (tenant_id, customer_family, item_id, item_kind, price_cents, currency)
         values ($1, $2, $3, $4, $5, 'EUR')
         on conflict (tenant_id, customer_family, item_id) do update
         set price_cents = excluded.price_cents, version = price_list_entries.version + 1, updated_at = now()
         returning customer_family, item_id, price_cents, version, updated_at",
    )
    .bind(ctx.tenant)
    .bind(&family_code)
    .bind(item_id)
    .bind(kind)
    .bind(cents)
    .fetch_one(&mut *conn)
    .await?;
    let entry = PriceListEntry::from(&row);
    publish(conn, ctx, "set", &row, false).await?;
    Ok(entry)
}

pub async fn remove(
    conn: &mut PgConnection,
    ctx: &Ctx,
    family_code: &str,
    item_id: Uuid,
) -> Result<()> {
    let row: Option<Row> = sqlx::query_as(
        "delete from price_list_entries where tenant_id = $1 and customer_family = $2 and item_id = $3
         returning customer_family, item_id, price_cents, version + 1 as version, now() as updated_at",
    )
    .bind(ctx.tenant)
    .bind(family_code.trim())
    .bind(item_id)
    .fetch_optional(&mut *conn)
    .await?;
    let row = row.ok_or_else(|| {
        Error::not_found(format!(
            "price of item {item_id} for family {family_code:?}"
        ))
    })?;
    publish(conn, ctx, "removed", &row, true).await
}

pub async fn list(pool: &PgPool, tenant: Uuid, family_code: &str) -> Result<Vec<PriceListEntry>> {
    let rows: Vec<Row> = sqlx::query_as(
        "select customer_family, item_id, price_cents, version, updated_at from price_list_entries
         where tenant_id = $1 and ($2 = '' or customer_family = $2)
         order by customer_family, item_id",
    )
    .bind(tenant)
    .bind(family_code.trim())
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(PriceListEntry::from).collect())
}

#[derive(sqlx::FromRow)]
struct PriceRow {
    id: Uuid,
    kind: String,
    reference: String,
    name: String,
    base_cents: i64,
    list_cents: Option<i64>,
    vat_rate_bp: i32,
    active: bool,
    tax_credit_eligible: bool,
    stock_available: i64,
}

/// What `family` pays for each of `ids`, in the order asked. An id that is
/// no product or service of the tenant is NOT_FOUND.
pub async fn prices(
    pool: &PgPool,
    tenant: Uuid,
    family_code: &str,
    ids: &[Uuid],
) -> Result<Vec<ItemPrice>> {
    if ids.len() > 1000 {
        return Err(Error::invalid("item_ids", "at most 1000 items per call"));
    }
    let rows: Vec<PriceRow> = sqlx::query_as(
        "with items as (
             select id, 'product' as kind, sku as reference, designation as name, price_cents as base_cents,
                    vat_rate_bp, active, false as tax_credit_eligible, stock_available
             from products where tenant_id = $1 and id = any($2)
             union all
             select id, 'service', code, name, hourly_price_cents, vat_rate_bp, active, tax_credit_eligible, 0::bigint
             from services where tenant_id = $1 and id = any($2)
         )
         select i.*, p.price_cents as list_cents from items i
         left join price_list_entries p
           on p.tenant_id = $1 and p.customer_family = $3 and p.item_id = i.id",
    )
    .bind(tenant)
    .bind(ids)
    .bind(family_code.trim())
    .fetch_all(pool)
    .await?;
    ids.iter()
        .map(|id| {
            let r = rows
                .iter()
                .find(|r| r.id == *id)
                .ok_or_else(|| Error::not_found(format!("product or service {id}")))?;
            Ok(ItemPrice {
                item_id: r.id.to_string(),
                kind: r.kind.clone(),
                reference: r.reference.clone(),
                name: r.name.clone(),
                base_price: validate::money_out(r.base_cents),
                price: validate::money_out(r.list_cents.unwrap_or(r.base_cents)),
                vat_rate_bp: r.vat_rate_bp,
                active: r.active,
                tax_credit_eligible: r.tax_credit_eligible,
                stock_available: r.stock_available,
            })
        })
        .collect()
}

async fn publish(
    conn: &mut PgConnection,
    ctx: &Ctx,
    event: &str,
    row: &Row,
    removed: bool,
) -> Result<()> {
    let meta = ctx.meta(row.item_id, row.version);
    let payload = PriceListEntryChanged {
        meta: Some(meta.clone()),
        entry: Some(PriceListEntry::from(row)),
        removed,
    };
    ctx.emit(conn, "price", event, &meta, &payload).await?;
    Ok(())
}
