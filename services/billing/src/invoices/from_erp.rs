//! Invoices validated in the ERP (seed 001), recorded under its numbers.

use chrono::{DateTime, Utc};
use relais_domain::money;
use relais_platform::{
    context::Ctx,
    error::{Error, Result},
};
use relais_proto::{billing::Invoice, orders::PaymentMode};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    PricedLine,
    drafts::{insert_lines, new_lines},
    load, publish,
};

/// An invoice as the ERP validated it, its lines checked.
#[derive(Clone, Copy)]
pub struct ErpInvoice<'a> {
    pub number: &'a str,
    pub customer: Uuid,
    pub lines: &'a [PricedLine],
    pub validated_at: DateTime<Utc>,
    pub payment_mode: PaymentMode,
}

/// An ERP invoice, as recorded now or before.
pub enum Recorded {
    /// Recorded now: what follows a validation is still to do.
    New(Invoice),
    /// The same number again: as it was recorded.
    Again(Invoice),
}

/// An invoice validated in the ERP (seed 001), stored under the ERP's
/// number; the same number again returns it. Then the same path as ours
/// (crate::flows::issue::record_erp_invoice).
pub async fn record_erp(
    conn: &mut PgConnection,
    ctx: &Ctx,
    erp: &ErpInvoice<'_>,
) -> Result<Recorded> {
    let ErpInvoice {
        number,
        customer,
        lines,
        validated_at,
        payment_mode,
    } = *erp;
    let existing: Option<(Uuid, String)> =
        sqlx::query_as("select id, origin from invoices where tenant_id = $1 and number = $2")
            .bind(ctx.tenant)
            .bind(number)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((id, origin)) = existing {
        if !origin.starts_with("erp") {
            return Err(Error::FailedPrecondition(format!(
                "number {number} is already an invoice of the shop's own series"
            )));
        }
        return load(conn, ctx.tenant, id)
            .await?
            .map(Recorded::Again)
            .ok_or_else(|| Error::not_found(format!("invoice {number}")));
    }
    let name: Option<String> =
        sqlx::query_scalar("select name from customers where tenant_id = $1 and id = $2")
            .bind(ctx.tenant)
            .bind(customer)
            .fetch_optional(&mut *conn)
            .await?;
    let name = name.ok_or_else(|| Error::not_found(format!("customer {customer}")))?;
    let net = money::total("lines", lines.iter().map(|l| l.net_cents))?;
    let vat = money::total("lines", lines.iter().map(|l| l.vat_cents))?;
    let incl = money::total("lines", [net, vat])?;
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into invoices (tenant_id, id, number, status, customer_id, customer_name, period,
             payment_mode, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency,
             validated_at, origin)
         values ($1, $2, $3, 'validated', $4, $5, $6, $7, $8, $9, $10, 'EUR', $11, $12)",
    )
    .bind(ctx.tenant)
    .bind(id)
    .bind(number)
    .bind(customer)
    .bind(&name)
    // An ERP invoice bills what the ERP decided: its period is its date.
    .bind(validated_at.format("%Y-%m").to_string())
    .bind(payment_mode.as_str_name())
    .bind(net)
    .bind(vat)
    .bind(incl)
    .bind(validated_at)
    .bind(&ctx.origin)
    .execute(&mut *conn)
    .await?;
    // The ERP invoices the agency's services (seed 001).
    insert_lines(conn, ctx.tenant, id, &new_lines(lines.to_vec(), true)).await?;
    let invoice = load(conn, ctx.tenant, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {id}")))?;
    publish(conn, ctx, "invoice", "validated", &invoice).await?;
    Ok(Recorded::New(invoice))
}
