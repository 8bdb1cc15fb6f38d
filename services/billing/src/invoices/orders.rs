//! The invoice of an order paid at order (products by card or on invoice,
//! hour packs), and what cancelling an order does to its invoice.

use relais_domain::money;
use relais_platform::{
    context::Ctx,
    error::{Error, Result},
};
use relais_proto::orders::{Order, PaymentMode};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    NewLine, ToCredit, cents, drafts::insert_lines, id, load, monthly::cancel_monthly, publish,
};

/// A draft invoice for the order, once per order.
pub async fn draft(conn: &mut PgConnection, ctx: &Ctx, order: &Order) -> Result<()> {
    let invoice_id = Uuid::now_v7();
    let inserted = sqlx::query(
        "insert into invoices (tenant_id, id, status, customer_id, customer_name, order_id,
             payment_mode, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency, origin,
             paid_at_order, email)
         values ($1, $2, 'draft', $3, $4, $5, $6, $7, $8, $9, 'EUR', $10, $11, $12)
         on conflict (tenant_id, order_id) where kind = 'invoice' do nothing",
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
    // Confirmed means paid for these: by card at checkout, and hour packs
    // are paid at order (seed 002). On invoice, it is paid after.
    .bind(order.kind == "hour_pack" || order.payment_mode == PaymentMode::Card as i32)
    .bind(&order.confirmation_email)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    // Hour packs are prepaid services (tax credit, seed 002); products never.
    let tax_credit = order.kind == "hour_pack";
    let lines = order
        .lines
        .iter()
        .map(|l| {
            Ok(NewLine {
                item_id: Some(id("order.lines.item_id", &l.item_id)?),
                reference: l.reference.clone(),
                description: l.name.clone(),
                quantity: l.quantity,
                unit_cents: cents(l.unit_price.as_ref()),
                vat_rate_bp: l.vat_rate_bp,
                discount_bp: l.discount_bp,
                net_cents: cents(l.total_excl_vat.as_ref()),
                vat_cents: cents(l.vat.as_ref()),
                tax_credit,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    insert_lines(conn, ctx.tenant, invoice_id, &lines).await?;
    let invoice = load(conn, ctx.tenant, invoice_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {invoice_id}")))?;
    // The lines must add up to the order's totals (they were checked when
    // the order was placed; a mismatch means a corrupt event).
    let lines_total = money::total(
        "order.lines",
        invoice
            .lines
            .iter()
            .flat_map(|l| [cents(l.total_excl_vat.as_ref()), cents(l.vat.as_ref())]),
    )?;
    if lines_total != cents(invoice.total_incl_vat.as_ref()) {
        return Err(Error::invalid(
            "order.lines",
            "the lines do not add up to the order's total",
        ));
    }
    publish(conn, ctx, "invoice", "drafted", &invoice).await
}

/// A cancelled order: its draft is voided; its validated invoice is left
/// to credit for whatever is left.
pub async fn cancel(conn: &mut PgConnection, ctx: &Ctx, order: &Order) -> Result<ToCredit> {
    let order_id = id("order.id", &order.id)?;
    let held: Option<Option<Uuid>> = sqlx::query_scalar(
        "select invoice_id from monthly_orders where tenant_id = $1 and order_id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(on_invoice) = held {
        return cancel_monthly(conn, ctx, order_id, on_invoice).await;
    }
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "select id, status from invoices
         where tenant_id = $1 and order_id = $2 and kind = 'invoice' for update",
    )
    .bind(ctx.tenant)
    .bind(id("order.id", &order.id)?)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(ToCredit::Nothing),
        Some((invoice, status)) if status == "draft" => {
            sqlx::query(
                "update invoices set status = 'void', version = version + 1, origin = $3,
                     reason = 'order cancelled'
                 where tenant_id = $1 and id = $2",
            )
            .bind(ctx.tenant)
            .bind(invoice)
            .bind(&ctx.origin)
            .execute(&mut *conn)
            .await?;
            let voided = load(conn, ctx.tenant, invoice)
                .await?
                .ok_or_else(|| Error::not_found(format!("invoice {invoice}")))?;
            publish(conn, ctx, "invoice", "voided", &voided).await?;
            Ok(ToCredit::Nothing)
        }
        Some((invoice, status)) if status == "void" => {
            let _ = invoice;
            Ok(ToCredit::Nothing)
        }
        Some((invoice, _)) => Ok(ToCredit::Rest(invoice)),
    }
}
