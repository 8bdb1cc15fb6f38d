//! Reading orders back: the paged list for each role, the traceability
//! export of seed 003 ("who bought what for whom, when, for how much") as
//! CSV, and totals per item, residence, kind or period.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use relais_domain::{
    csv::{cell, decimal},
    schedule::DEFAULT_TIME_ZONE,
};
use relais_platform::{
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::orders::{
    Order, OrderFilter, OrderStatus, PaymentMode, StatisticsDimension, StatisticsRow,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    access::Scope,
    stored_orders::{self, KINDS, ORDER_COLS, OrderRow, status_name},
};

/// A checked filter, with the caller's scope folded in.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    customer_id: Option<Uuid>,
    residence_ids: Option<Vec<Uuid>>,
    kind: Option<String>,
    status: Option<&'static str>,
    placed_by: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

impl Filter {
    pub fn parse(f: Option<&OrderFilter>, scope: &Scope) -> Result<Self> {
        let f = f.cloned().unwrap_or_default();
        let mut v = Violations::new();
        let customer_id = validate::optional_id(&mut v, "filter.customer_id", &f.customer_id);
        let residence_id = validate::optional_id(&mut v, "filter.residence_id", &f.residence_id);
        v.check(
            !f.kind.is_empty() && !KINDS.contains(&f.kind.as_str()),
            "filter.kind",
            "must be product, booking or hour_pack",
        );
        let status = OrderStatus::try_from(f.status).unwrap_or(OrderStatus::Unspecified);
        v.check(
            f.status != 0 && status == OrderStatus::Unspecified,
            "filter.status",
            "is not a known status",
        );
        v.check(
            f.placed_by.chars().count() > validate::MAX_TEXT,
            "filter.placed_by",
            "at most 200 characters",
        );
        let from = time(f.placed_from.as_ref());
        let to = time(f.placed_to.as_ref());
        v.check(
            f.placed_from.is_some() && from.is_none(),
            "filter.placed_from",
            "is not a valid time",
        );
        v.check(
            f.placed_to.is_some() && to.is_none(),
            "filter.placed_to",
            "is not a valid time",
        );
        if let (Some(a), Some(b)) = (from, to) {
            v.check(b < a, "filter.placed_to", "is before placed_from");
        }
        v.into_result()?;
        // Staff see their residences only; naming another one is NOT_FOUND
        // so that it tells nothing about that residence.
        let (customer_id, residence_ids) = match scope {
            Scope::Tenant => (customer_id, residence_id.map(|r| vec![r])),
            Scope::Residences(mine) => match residence_id {
                Some(r) if mine.contains(&r) => (customer_id, Some(vec![r])),
                Some(r) => return Err(Error::not_found(format!("residence {r}"))),
                None => (customer_id, Some(mine.clone())),
            },
            Scope::Customer(me) => match customer_id {
                Some(c) if c != *me => return Err(Error::not_found(format!("customer {c}"))),
                _ => (Some(*me), residence_id.map(|r| vec![r])),
            },
        };
        Ok(Self {
            customer_id,
            residence_ids,
            kind: (!f.kind.is_empty()).then_some(f.kind),
            status: (status != OrderStatus::Unspecified).then(|| status_name(status)),
            placed_by: (!f.placed_by.is_empty()).then_some(f.placed_by),
            from,
            to,
        })
    }
}

/// The filter's conditions on `o`, binding $2 to $8 ($1 is the tenant).
const WHERE: &str = "o.tenant_id = $1
    and ($2::uuid is null or o.customer_id = $2)
    and ($3::uuid[] is null or o.residence_id = any($3))
    and ($4::text is null or o.kind = $4)
    and ($5::text is null or o.status = $5)
    and ($6::text is null or o.placed_by = $6)
    and ($7::timestamptz is null or o.placed_at >= $7)
    and ($8::timestamptz is null or o.placed_at < $8)";

macro_rules! bind_filter {
    ($q:expr, $tenant:expr, $f:expr) => {
        $q.bind($tenant)
            .bind($f.customer_id)
            .bind($f.residence_ids.clone())
            .bind($f.kind.clone())
            .bind($f.status)
            .bind($f.placed_by.clone())
            .bind($f.from)
            .bind($f.to)
    };
}

/// Newest first; `after` is the last id of the previous page.
pub async fn list(
    conn: &mut PgConnection,
    tenant: Uuid,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Order>> {
    let cols = ORDER_COLS.replace('\n', " ");
    let cols: Vec<String> = cols.split(',').map(|c| format!("o.{}", c.trim())).collect();
    let sql = format!(
        "select {} from orders o where {WHERE}
           and ($9::uuid is null or o.id < $9)
         order by o.id desc limit $10",
        cols.join(", ")
    );
    let rows: Vec<OrderRow> = bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), tenant, f)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    stored_orders::with_lines(conn, tenant, rows).await
}

pub const CSV_HEADER: &[&str] = &[
    "placed_at",
    "order_id",
    "kind",
    "status",
    "placed_by",
    "placed_by_role",
    "customer_id",
    "customer_name",
    "residence_id",
    "residence_name",
    "payment_mode",
    "line_no",
    "reference",
    "item",
    "quantity",
    "unit_price",
    "discount_percent",
    "vat_rate_percent",
    "total_excl_vat",
    "vat",
    "total_incl_vat",
    "currency",
];

#[derive(sqlx::FromRow)]
struct TraceRow {
    id: Uuid,
    placed_at: DateTime<Utc>,
    kind: String,
    status: String,
    placed_by: String,
    placed_by_role: String,
    customer_id: Uuid,
    customer_name: String,
    residence_id: Option<Uuid>,
    residence_name: Option<String>,
    payment_mode: String,
    line_no: i32,
    reference: String,
    name: String,
    quantity: i32,
    unit_price_cents: i64,
    discount_bp: i32,
    vat_rate_bp: i32,
    total_excl_vat_cents: i64,
    vat_cents: i64,
    currency: String,
}

/// Rows per page of the export: each page is one CSV chunk.
pub const EXPORT_PAGE: i64 = 1000;

/// One page of the export (newest first, by order then line), as CSV, and
/// the (order, line) to continue after. The header is on the first page.
pub async fn export_page(
    conn: &mut PgConnection,
    tenant: Uuid,
    f: &Filter,
    after: Option<(Uuid, i32)>,
) -> Result<(Vec<u8>, Option<(Uuid, i32)>)> {
    let sql = format!(
        "select o.id, o.placed_at, o.kind, o.status, o.placed_by, o.placed_by_role, o.customer_id,
                o.customer_name, o.residence_id, r.name as residence_name, o.payment_mode, l.line_no,
                l.reference, l.name, l.quantity, l.unit_price_cents, l.discount_bp, l.vat_rate_bp,
                l.total_excl_vat_cents, l.vat_cents, o.currency
         from orders o
         join order_lines l on l.tenant_id = o.tenant_id and l.order_id = o.id
         left join residences r on r.tenant_id = o.tenant_id and r.id = o.residence_id
         where {WHERE}
           and ($9::uuid is null or (o.id, -l.line_no) < ($9, -$10::int))
         order by o.id desc, l.line_no
         limit $11"
    );
    let rows: Vec<TraceRow> = bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), tenant, f)
        .bind(after.map(|a| a.0))
        .bind(after.map_or(0, |a| a.1))
        .bind(EXPORT_PAGE)
        .fetch_all(&mut *conn)
        .await?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let bad = |e: csv::Error| Error::Unexpected(anyhow::anyhow!("csv: {e}"));
    if after.is_none() {
        w.write_record(CSV_HEADER).map_err(bad)?;
    }
    let next = if i64::try_from(rows.len()).unwrap_or(0) == EXPORT_PAGE {
        rows.last().map(|r| (r.id, r.line_no))
    } else {
        None
    };
    for r in rows {
        let mode = PaymentMode::from_str_name(&r.payment_mode)
            .map(|m| {
                m.as_str_name()
                    .trim_start_matches("PAYMENT_MODE_")
                    .to_lowercase()
            })
            .unwrap_or(r.payment_mode);
        w.write_record([
            r.placed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            r.id.to_string(),
            r.kind,
            r.status,
            cell(&r.placed_by),
            r.placed_by_role,
            r.customer_id.to_string(),
            cell(&r.customer_name),
            r.residence_id.map(|x| x.to_string()).unwrap_or_default(),
            cell(r.residence_name.as_deref().unwrap_or_default()),
            mode,
            r.line_no.to_string(),
            cell(&r.reference),
            cell(&r.name),
            r.quantity.to_string(),
            decimal(r.unit_price_cents, 2),
            decimal(i64::from(r.discount_bp), 2),
            decimal(i64::from(r.vat_rate_bp), 2),
            decimal(r.total_excl_vat_cents, 2),
            decimal(r.vat_cents, 2),
            decimal(r.total_excl_vat_cents + r.vat_cents, 2),
            r.currency,
        ])
        .map_err(bad)?;
    }
    let data = w
        .into_inner()
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("csv: {e}")))?;
    Ok((data, next))
}

pub fn time_zone(v: &str) -> Result<String> {
    if v.trim().is_empty() {
        return Ok(DEFAULT_TIME_ZONE.to_owned());
    }
    v.trim()
        .parse::<Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| Error::invalid("time_zone", "is not an IANA time zone such as Europe/Paris"))
}

#[derive(sqlx::FromRow)]
struct StatRow {
    key: String,
    label: String,
    orders: i64,
    quantity: i64,
    excl: i64,
    incl: i64,
}

pub async fn statistics(
    conn: &mut PgConnection,
    tenant: Uuid,
    f: &Filter,
    dimension: StatisticsDimension,
    tz: &str,
) -> Result<Vec<StatisticsRow>> {
    use StatisticsDimension as D;
    let local = "(o.placed_at at time zone $9)";
    let (key, label) = match dimension {
        D::Item => (
            "l.item_id::text".to_owned(),
            "max(l.reference || ' ' || l.name)".to_owned(),
        ),
        D::Residence => (
            "coalesce(o.residence_id::text, '')".to_owned(),
            "coalesce(max(r.name), '(no residence)')".to_owned(),
        ),
        D::Kind => ("o.kind".to_owned(), "o.kind".to_owned()),
        D::Day => (
            format!("to_char(date_trunc('day', {local}), 'YYYY-MM-DD')"),
            format!("to_char(date_trunc('day', {local}), 'YYYY-MM-DD')"),
        ),
        D::Week => (
            format!("to_char(date_trunc('week', {local}), 'YYYY-MM-DD')"),
            format!("to_char(date_trunc('week', {local}), 'IYYY-\"W\"IW')"),
        ),
        D::Month => (
            format!("to_char(date_trunc('month', {local}), 'YYYY-MM-DD')"),
            format!("to_char(date_trunc('month', {local}), 'YYYY-MM')"),
        ),
        D::Unspecified => {
            return Err(Error::invalid(
                "dimension",
                "choose item, residence, kind, day, week or month",
            ));
        }
    };
    // Unless a status is asked for, what was sold: no cancelled orders and
    // no quotes still waiting for an answer.
    let sql = format!(
        "select {key} as key, {label} as label, count(distinct o.id) as orders,
                sum(l.quantity)::bigint as quantity,
                sum(l.total_excl_vat_cents)::bigint as excl,
                sum(l.total_excl_vat_cents + l.vat_cents)::bigint as incl
         from orders o
         join order_lines l on l.tenant_id = o.tenant_id and l.order_id = o.id
         left join residences r on r.tenant_id = o.tenant_id and r.id = o.residence_id
         where {WHERE}
           and ($5::text is not null or o.status not in ('cancelled', 'quote'))
           and $9::text is not null
         group by 1 {group_label}
         order by 1",
        group_label = if matches!(dimension, D::Kind | D::Day | D::Week | D::Month) {
            ", 2"
        } else {
            ""
        }
    );
    let rows: Vec<StatRow> = bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), tenant, f)
        .bind(tz)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| StatisticsRow {
            key: r.key,
            label: r.label,
            orders: r.orders,
            quantity: r.quantity,
            total_excl_vat: validate::money_out(r.excl),
            total_incl_vat: validate::money_out(r.incl),
        })
        .collect())
}
