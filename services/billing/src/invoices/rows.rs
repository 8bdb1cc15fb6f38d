//! Invoices as stored, read back as the API's `Invoice` (lines, VAT
//! breakdown, totals, status).

use chrono::{DateTime, Utc};
use relais_domain::money;
use relais_platform::{context::timestamp, error::Result, validate};
use relais_proto::{
    billing::{Invoice, InvoiceLine, InvoiceStatus},
    orders::{PaymentMode, VatAmount},
};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    number: Option<String>,
    status: String,
    customer_id: Uuid,
    customer_name: String,
    order_id: Option<Uuid>,
    payment_mode: String,
    total_excl_vat_cents: i64,
    total_vat_cents: i64,
    total_incl_vat_cents: i64,
    validated_at: Option<DateTime<Utc>>,
    origin: String,
    version: i64,
    created_at: DateTime<Utc>,
    kind: String,
    credited_invoice_id: Option<Uuid>,
    reason: String,
    period: Option<String>,
    paid_at: Option<DateTime<Utc>>,
    paid_at_order: bool,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    line_no: i32,
    item_id: Option<Uuid>,
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
    created_at, kind, credited_invoice_id, reason, period, paid_at, paid_at_order";

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
    )
    // Stored lines were bounded when written; a sum beyond is corruption.
    .ok_or_else(|| anyhow::anyhow!("invoice {}: its lines add up beyond the range", r.id))?;
    let status = match r.status.as_str() {
        "draft" => InvoiceStatus::Draft,
        "validated" => InvoiceStatus::Validated,
        "paid" => InvoiceStatus::Paid,
        "payment_failed" => InvoiceStatus::PaymentFailed,
        "void" => InvoiceStatus::Void,
        "issued" => InvoiceStatus::Issued,
        _ => InvoiceStatus::Unspecified,
    };
    Ok(Invoice {
        id: r.id.to_string(),
        number: r.number.unwrap_or_default(),
        status: status as i32,
        customer_id: r.customer_id.to_string(),
        customer_name: r.customer_name,
        order_id: r.order_id.map(|o| o.to_string()).unwrap_or_default(),
        lines: lines
            .into_iter()
            .map(|l| InvoiceLine {
                line_no: l.line_no,
                item_id: l.item_id.map(|i| i.to_string()).unwrap_or_default(),
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
        kind: r.kind,
        credited_invoice_id: r
            .credited_invoice_id
            .map(|i| i.to_string())
            .unwrap_or_default(),
        reason: r.reason,
        period: r.period.unwrap_or_default(),
        paid_at: r.paid_at.map(timestamp),
        paid_at_order: r.paid_at_order,
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
