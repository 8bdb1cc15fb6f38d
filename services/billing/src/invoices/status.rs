//! An invoice's status: validated (numbered), paid, payment failed.

use chrono::Utc;
use relais_platform::{
    context::Ctx,
    error::{Error, Result},
    validate,
};
use relais_proto::billing::Invoice;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{load, next_number, publish};

/// Draft -> validated with the tenant's next number for the year (what
/// follows is crate::flows::issue::after_validation).
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
    let number = next_number(conn, ctx.tenant, "F", now).await?;
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
    publish(conn, ctx, "invoice", "validated", &invoice).await?;
    Ok(invoice)
}

/// A validated invoice is paid (its debit went through, or it was paid at
/// order): `invoice.paid`.
pub async fn mark_paid(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Invoice> {
    sqlx::query(
        "update invoices set status = 'paid', paid_at = now(), version = version + 1
         where tenant_id = $1 and id = $2 and status in ('validated', 'payment_failed')",
    )
    .bind(ctx.tenant)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let invoice = load(conn, ctx.tenant, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {id}")))?;
    publish(conn, ctx, "invoice", "paid", &invoice).await?;
    Ok(invoice)
}

/// The debit failed for good: `invoice.payment_failed` (the customer is
/// told by crate::flows::settle).
pub async fn mark_payment_failed(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Invoice> {
    sqlx::query(
        "update invoices set status = 'payment_failed', version = version + 1
         where tenant_id = $1 and id = $2 and status = 'validated'",
    )
    .bind(ctx.tenant)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let invoice = load(conn, ctx.tenant, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {id}")))?;
    publish(conn, ctx, "invoice", "payment_failed", &invoice).await?;
    Ok(invoice)
}
