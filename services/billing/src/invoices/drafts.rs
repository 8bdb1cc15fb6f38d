//! Writing an invoice's lines, and a draft billing a period.

use chrono::{DateTime, Utc};
use relais_domain::money;
use relais_platform::{
    context::Ctx,
    error::{Error, Result},
};
use relais_proto::{billing::Invoice, orders::PaymentMode};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{load, publish};

/// A line of a draft billing a period.
pub struct NewLine {
    pub item_id: Option<Uuid>,
    pub reference: String,
    pub description: String,
    pub quantity: i32,
    pub unit_cents: i64,
    pub vat_rate_bp: i32,
    pub discount_bp: i32,
    pub net_cents: i64,
    pub vat_cents: i64,
    pub tax_credit: bool,
}

/// A draft billing a period (a residence's month, a month of services).
pub struct NewInvoice<'a> {
    pub customer: Uuid,
    pub customer_name: &'a str,
    pub email: &'a str,
    pub period: &'a str,
    pub payment_mode: PaymentMode,
    pub lines: &'a [NewLine],
}

/// A line as billed, without the item it came from or its tax credit:
/// a credit note's line, an ERP invoice's line, a monthly order's line.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PricedLine {
    pub reference: String,
    pub description: String,
    pub quantity: i32,
    #[sqlx(rename = "unit_price_cents")]
    pub unit_cents: i64,
    pub vat_rate_bp: i32,
    pub discount_bp: i32,
    /// Excluding VAT.
    #[sqlx(rename = "total_excl_vat_cents")]
    pub net_cents: i64,
    pub vat_cents: i64,
}

impl PricedLine {
    pub(super) fn into_new(self, item_id: Option<Uuid>, tax_credit: bool) -> NewLine {
        NewLine {
            item_id,
            reference: self.reference,
            description: self.description,
            quantity: self.quantity,
            unit_cents: self.unit_cents,
            vat_rate_bp: self.vat_rate_bp,
            discount_bp: self.discount_bp,
            net_cents: self.net_cents,
            vat_cents: self.vat_cents,
            tax_credit,
        }
    }
}

pub(super) fn new_lines(lines: Vec<PricedLine>, tax_credit: bool) -> Vec<NewLine> {
    lines
        .into_iter()
        .map(|l| l.into_new(None, tax_credit))
        .collect()
}

/// The lines of a new invoice or credit note, numbered from 1.
pub(super) async fn insert_lines(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Uuid,
    lines: &[NewLine],
) -> Result<()> {
    for (no, l) in lines.iter().enumerate() {
        sqlx::query(
            "insert into invoice_lines (tenant_id, invoice_id, line_no, item_id, reference, description,
                 quantity, unit_price_cents, vat_rate_bp, discount_bp, total_excl_vat_cents, vat_cents,
                 tax_credit)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(tenant)
        .bind(invoice)
        .bind(i32::try_from(no + 1).unwrap_or(i32::MAX))
        .bind(l.item_id)
        .bind(&l.reference)
        .bind(&l.description)
        .bind(l.quantity)
        .bind(l.unit_cents)
        .bind(l.vat_rate_bp)
        .bind(l.discount_bp)
        .bind(l.net_cents)
        .bind(l.vat_cents)
        .bind(l.tax_credit)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Inserts the draft and its lines, and publishes `invoice.drafted`.
pub async fn insert_draft(
    conn: &mut PgConnection,
    ctx: &Ctx,
    new: NewInvoice<'_>,
) -> Result<Invoice> {
    let invoice_id = Uuid::now_v7();
    let net = money::total("lines", new.lines.iter().map(|l| l.net_cents))?;
    let vat = money::total("lines", new.lines.iter().map(|l| l.vat_cents))?;
    let incl = money::total("lines", [net, vat])?;
    sqlx::query(
        "insert into invoices (tenant_id, id, status, customer_id, customer_name, order_id, period,
             payment_mode, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency,
             origin, email)
         values ($1, $2, 'draft', $3, $4, null, $5, $6, $7, $8, $9, 'EUR', $10, $11)",
    )
    .bind(ctx.tenant)
    .bind(invoice_id)
    .bind(new.customer)
    .bind(new.customer_name)
    .bind(new.period)
    .bind(new.payment_mode.as_str_name())
    .bind(net)
    .bind(vat)
    .bind(incl)
    .bind(&ctx.origin)
    .bind(new.email)
    .execute(&mut *conn)
    .await?;
    insert_lines(conn, ctx.tenant, invoice_id, new.lines).await?;
    let invoice = load(conn, ctx.tenant, invoice_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {invoice_id}")))?;
    publish(conn, ctx, "invoice", "drafted", &invoice).await?;
    Ok(invoice)
}

/// The instants a month starts and ends in Europe/Paris, the tenants'
/// zone for periods.
pub fn month_bounds(month: chrono::NaiveDate) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    use chrono::TimeZone;
    let bound = |d: chrono::NaiveDate| {
        chrono_tz::Europe::Paris
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| Error::invalid("month", "has no start in Europe/Paris"))
    };
    let next = month
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| Error::invalid("month", "is out of range"))?;
    Ok((bound(month)?, bound(next)?))
}
