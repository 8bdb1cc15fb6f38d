//! Invoices: drafted from paid orders (the order's lines, VAT breakdown and
//! totals, as placed), numbered without gaps when validated.

use chrono::{DateTime, Datelike, Utc};
use prost::Message;
use relais_domain::money;
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    context::{Ctx, timestamp},
    error::{Error, Result},
    nats::Namespace,
    validate,
};
use relais_proto::{
    billing::{Invoice, InvoiceLine, InvoiceStatus},
    events::{InvoiceChanged, OrderStatusChanged},
    orders::{Order, OrderStatus, PaymentMode, VatAmount},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::SERVICE;

const ORDERS: &str = "orders";

/// `max_attempts`: `RELAIS_CONSUMER_MAX_DELIVER`.
pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "billing-paid-orders".into(),
        source_service: ORDERS.into(),
        filter_subjects: vec![ns.event_filter(ORDERS, "order", "confirmed")],
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

pub struct PaidOrders {
    pub ns: Namespace,
}

fn poison(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Poison(anyhow::anyhow!("{e}"))
}

impl Handler for PaidOrders {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let e = OrderStatusChanged::decode(event.payload.as_ref()).map_err(poison)?;
        let (Some(meta), Some(order)) = (e.meta, e.order) else {
            return Err(poison("event without meta or order"));
        };
        // Paid at order: products by card or on invoice, and hour packs.
        // Monthly residence billing and bookings are invoiced by period.
        let billed_now = e.to == OrderStatus::Confirmed as i32
            && (order.kind == "hour_pack"
                || (order.kind == "product"
                    && order.payment_mode != PaymentMode::ResidenceMonthly as i32));
        if !billed_now {
            return Ok(());
        }
        let ctx = Ctx {
            service: SERVICE,
            tenant: Uuid::parse_str(&meta.tenant_id).map_err(poison)?,
            origin: meta.origin.clone(),
            actor: format!("order:{}", order.id),
            ns: self.ns.clone(),
        };
        draft(tx, &ctx, &order).await.map_err(|e| match e {
            Error::InvalidArgument(_) => poison(e),
            other => HandlerError::Retry(anyhow::anyhow!("{other}")),
        })
    }
}

fn id(field: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| Error::invalid(field.to_owned(), "is not an id"))
}

fn cents(m: Option<&relais_proto::types::Money>) -> i64 {
    m.map_or(0, |m| m.amount_cents)
}

/// A draft invoice for the order, once per order.
pub async fn draft(conn: &mut PgConnection, ctx: &Ctx, order: &Order) -> Result<()> {
    let invoice_id = Uuid::now_v7();
    let inserted = sqlx::query(
        "insert into invoices (tenant_id, id, status, customer_id, customer_name, order_id,
             payment_mode, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency, origin)
         values ($1, $2, 'draft', $3, $4, $5, $6, $7, $8, $9, 'EUR', $10)
         on conflict (tenant_id, order_id) do nothing",
    )
    .bind(ctx.tenant)
    .bind(invoice_id)
    .bind(id("order.customer_id", &order.customer_id)?)
    .bind(&order.customer_name)
    .bind(id("order.id", &order.id)?)
    .bind(
        PaymentMode::try_from(order.payment_mode)
            .unwrap_or_default()
            .as_str_name(),
    )
    .bind(cents(order.total_excl_vat.as_ref()))
    .bind(cents(order.total_vat.as_ref()))
    .bind(cents(order.total_incl_vat.as_ref()))
    .bind(&ctx.origin)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    for l in &order.lines {
        sqlx::query(
            "insert into invoice_lines (tenant_id, invoice_id, line_no, item_id, reference, description,
                 quantity, unit_price_cents, vat_rate_bp, discount_bp, total_excl_vat_cents, vat_cents)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(ctx.tenant)
        .bind(invoice_id)
        .bind(l.line_no)
        .bind(id("order.lines.item_id", &l.item_id)?)
        .bind(&l.reference)
        .bind(&l.name)
        .bind(l.quantity)
        .bind(cents(l.unit_price.as_ref()))
        .bind(l.vat_rate_bp)
        .bind(l.discount_bp)
        .bind(cents(l.total_excl_vat.as_ref()))
        .bind(cents(l.vat.as_ref()))
        .execute(&mut *conn)
        .await?;
    }
    let invoice = load(conn, ctx.tenant, invoice_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {invoice_id}")))?;
    // The lines must add up to the order's totals (they were checked when
    // the order was placed; a mismatch means a corrupt event).
    let lines_total: i64 = invoice
        .lines
        .iter()
        .map(|l| cents(l.total_excl_vat.as_ref()) + cents(l.vat.as_ref()))
        .sum();
    if lines_total != cents(invoice.total_incl_vat.as_ref()) {
        return Err(Error::invalid(
            "order.lines",
            "the lines do not add up to the order's total",
        ));
    }
    publish(conn, ctx, "drafted", &invoice).await
}

async fn publish(conn: &mut PgConnection, ctx: &Ctx, event: &str, invoice: &Invoice) -> Result<()> {
    let id = Uuid::parse_str(&invoice.id).unwrap_or_default();
    let meta = ctx.meta(id, invoice.version);
    let payload = InvoiceChanged {
        meta: Some(meta.clone()),
        invoice: Some(invoice.clone()),
    };
    ctx.emit(conn, "invoice", event, &meta, &payload).await?;
    Ok(())
}

/// Draft -> validated with the tenant's next number for the year.
pub async fn validate(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    expected_version: i64,
) -> Result<Invoice> {
    let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
        "select status, number, version from invoices where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (status, number, version) = row.ok_or_else(|| Error::not_found(format!("invoice {id}")))?;
    if status != "draft" {
        return Err(Error::FailedPrecondition(format!(
            "invoice {id} is already {status} as {}",
            number.unwrap_or_default()
        )));
    }
    validate::expected_version(expected_version, version)?;
    let now = Utc::now();
    let series = now.year().to_string();
    // The counter row stays locked until this transaction ends: concurrent
    // validations take numbers one after the other, and a rollback gives
    // its number back, so the sequence has no gap.
    let taken: i64 = sqlx::query_scalar(
        "insert into invoice_sequences (tenant_id, series, next_number) values ($1, $2, 2)
         on conflict (tenant_id, series) do update set next_number = invoice_sequences.next_number + 1
         returning next_number - 1",
    )
    .bind(ctx.tenant)
    .bind(&series)
    .fetch_one(&mut *conn)
    .await?;
    let number = format!("F{series}-{taken:06}");
    sqlx::query(
        "update invoices set status = 'validated', number = $3, validated_at = $4, origin = $5,
             version = version + 1
         where tenant_id = $1 and id = $2",
    )
    .bind(ctx.tenant)
    .bind(id)
    .bind(&number)
    .bind(now)
    .bind(&ctx.origin)
    .execute(&mut *conn)
    .await?;
    let invoice = load(conn, ctx.tenant, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {id}")))?;
    publish(conn, ctx, "validated", &invoice).await?;
    Ok(invoice)
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    number: Option<String>,
    status: String,
    customer_id: Uuid,
    customer_name: String,
    order_id: Uuid,
    payment_mode: String,
    total_excl_vat_cents: i64,
    total_vat_cents: i64,
    total_incl_vat_cents: i64,
    validated_at: Option<DateTime<Utc>>,
    origin: String,
    version: i64,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    line_no: i32,
    item_id: Uuid,
    reference: String,
    description: String,
    quantity: i32,
    unit_price_cents: i64,
    vat_rate_bp: i32,
    discount_bp: i32,
    total_excl_vat_cents: i64,
    vat_cents: i64,
}

const COLS: &str = "id, number, status, customer_id, customer_name, order_id, payment_mode,
    total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, validated_at, origin, version,
    created_at";

async fn with_lines(conn: &mut PgConnection, tenant: Uuid, r: Row) -> Result<Invoice> {
    let lines: Vec<LineRow> = sqlx::query_as(
        "select line_no, item_id, reference, description, quantity, unit_price_cents, vat_rate_bp,
                discount_bp, total_excl_vat_cents, vat_cents
         from invoice_lines where tenant_id = $1 and invoice_id = $2 order by line_no",
    )
    .bind(tenant)
    .bind(r.id)
    .fetch_all(conn)
    .await?;
    let breakdown = money::breakdown(
        &lines
            .iter()
            .map(|l| (l.vat_rate_bp, l.total_excl_vat_cents, l.vat_cents))
            .collect::<Vec<_>>(),
    );
    let status = match r.status.as_str() {
        "draft" => InvoiceStatus::Draft,
        "validated" => InvoiceStatus::Validated,
        "paid" => InvoiceStatus::Paid,
        "payment_failed" => InvoiceStatus::PaymentFailed,
        _ => InvoiceStatus::Unspecified,
    };
    Ok(Invoice {
        id: r.id.to_string(),
        number: r.number.unwrap_or_default(),
        status: status as i32,
        customer_id: r.customer_id.to_string(),
        customer_name: r.customer_name,
        order_id: r.order_id.to_string(),
        lines: lines
            .into_iter()
            .map(|l| InvoiceLine {
                line_no: l.line_no,
                item_id: l.item_id.to_string(),
                reference: l.reference,
                description: l.description,
                quantity: l.quantity,
                unit_price: validate::money_out(l.unit_price_cents),
                vat_rate_bp: l.vat_rate_bp,
                discount_bp: l.discount_bp,
                total_excl_vat: validate::money_out(l.total_excl_vat_cents),
                vat: validate::money_out(l.vat_cents),
            })
            .collect(),
        vat_breakdown: breakdown
            .into_iter()
            .map(|(rate, (base, vat))| VatAmount {
                vat_rate_bp: rate,
                base: validate::money_out(base),
                vat: validate::money_out(vat),
            })
            .collect(),
        total_excl_vat: validate::money_out(r.total_excl_vat_cents),
        total_vat: validate::money_out(r.total_vat_cents),
        total_incl_vat: validate::money_out(r.total_incl_vat_cents),
        payment_mode: PaymentMode::from_str_name(&r.payment_mode).unwrap_or_default() as i32,
        validated_at: r.validated_at.map(timestamp),
        origin: r.origin,
        version: r.version,
        created_at: Some(timestamp(r.created_at)),
    })
}

pub async fn load(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Option<Invoice>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from invoices where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Some(with_lines(conn, tenant, r).await?)),
        None => Ok(None),
    }
}

/// A customer's invoices, newest first; `after` is the previous page's last.
pub async fn of_customer(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Invoice>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from invoices
         where tenant_id = $1 and customer_id = $2 and ($3::uuid is null or id < $3)
         order by id desc limit $4"
    )))
    .bind(tenant)
    .bind(customer)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(with_lines(conn, tenant, r).await?);
    }
    Ok(out)
}
