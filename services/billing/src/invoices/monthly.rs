//! Residents' monthly billing: an order paid by monthly billing is held
//! when confirmed, and drafted with the others of its month on one
//! invoice per resident.

use chrono::{DateTime, Utc};
use relais_platform::{
    context::Ctx,
    error::{Error, Result},
};
use relais_proto::{
    billing::Invoice,
    orders::{Order, PaymentMode},
};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    NewInvoice, NewLine, PricedLine, ToCredit, cents, id, insert_draft, load, month_bounds, publish,
};

/// Keeps a confirmed order paid by monthly billing until its month's
/// invoice is drafted (once per order).
pub async fn hold_monthly(
    conn: &mut PgConnection,
    ctx: &Ctx,
    order: &Order,
    confirmed_at: DateTime<Utc>,
) -> Result<()> {
    let order_id = id("order.id", &order.id)?;
    let held = sqlx::query(
        "insert into monthly_orders (tenant_id, order_id, customer_id, customer_name, residence_id,
             confirmed_at)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
    )
    .bind(ctx.tenant)
    .bind(order_id)
    .bind(id("order.customer_id", &order.customer_id)?)
    .bind(&order.customer_name)
    .bind(Uuid::parse_str(&order.residence_id).ok())
    .bind(confirmed_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if held == 0 {
        return Ok(());
    }
    for l in &order.lines {
        sqlx::query(
            "insert into monthly_order_lines (tenant_id, order_id, line_no, item_id, reference,
                 description, quantity, unit_price_cents, vat_rate_bp, discount_bp,
                 total_excl_vat_cents, vat_cents)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(ctx.tenant)
        .bind(order_id)
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
    Ok(())
}

/// A held order's line and the item it came from.
#[derive(sqlx::FromRow)]
struct MonthLine {
    #[sqlx(flatten)]
    line: PricedLine,
    item_id: Uuid,
}

/// One draft per resident with orders of monthly billing confirmed in the
/// month starting `month` (Europe/Paris) and not invoiced yet.
pub async fn draft_monthly(
    conn: &mut PgConnection,
    ctx: &Ctx,
    month: chrono::NaiveDate,
    residence: Option<Uuid>,
) -> Result<Vec<Invoice>> {
    let (from, to) = month_bounds(month)?;
    let period = month.format("%Y-%m").to_string();
    let pending: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "select order_id, customer_id, customer_name from monthly_orders
         where tenant_id = $1 and invoice_id is null and confirmed_at >= $2 and confirmed_at < $3
           and ($4::uuid is null or residence_id = $4)
         order by customer_id, confirmed_at
         for update",
    )
    .bind(ctx.tenant)
    .bind(from)
    .bind(to)
    .bind(residence)
    .fetch_all(&mut *conn)
    .await?;
    let mut customers: Vec<(Uuid, String, Vec<Uuid>)> = Vec::new();
    for (order, customer, name) in pending {
        match customers.last_mut() {
            Some((c, _, orders)) if *c == customer => orders.push(order),
            _ => customers.push((customer, name, vec![order])),
        }
    }
    let mut out = Vec::new();
    for (customer, name, orders) in customers {
        let lines: Vec<MonthLine> = sqlx::query_as(
            "select l.reference, to_char(m.confirmed_at at time zone 'Europe/Paris', 'DD/MM') || ' ' || l.description as description,
                    l.quantity, l.unit_price_cents, l.vat_rate_bp, l.discount_bp,
                    l.total_excl_vat_cents, l.vat_cents, l.item_id
             from monthly_order_lines l
             join monthly_orders m on m.tenant_id = l.tenant_id and m.order_id = l.order_id
             where l.tenant_id = $1 and l.order_id = any($2)
             order by m.confirmed_at, l.order_id, l.line_no",
        )
        .bind(ctx.tenant)
        .bind(&orders)
        .fetch_all(&mut *conn)
        .await?;
        let lines: Vec<NewLine> = lines
            .into_iter()
            .map(|l| l.line.into_new(Some(l.item_id), false))
            .collect();
        let invoice = insert_draft(
            conn,
            ctx,
            NewInvoice {
                customer,
                customer_name: &name,
                email: "",
                period: &period,
                payment_mode: PaymentMode::ResidenceMonthly,
                lines: &lines,
            },
        )
        .await?;
        let invoice_id = id("invoice.id", &invoice.id)?;
        sqlx::query(
            "update monthly_orders set invoice_id = $3 where tenant_id = $1 and order_id = any($2)",
        )
        .bind(ctx.tenant)
        .bind(&orders)
        .bind(invoice_id)
        .execute(&mut *conn)
        .await?;
        out.push(invoice);
    }
    Ok(out)
}

/// A cancelled order of monthly billing: not invoiced yet, it is dropped;
/// on a draft, the draft is voided and its orders wait for the next run;
/// on a validated invoice, its lines are left to credit.
pub(super) async fn cancel_monthly(
    conn: &mut PgConnection,
    ctx: &Ctx,
    order_id: Uuid,
    on_invoice: Option<Uuid>,
) -> Result<ToCredit> {
    let drop_order = async |conn: &mut PgConnection| -> Result<()> {
        for table in ["monthly_order_lines", "monthly_orders"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "delete from {table} where tenant_id = $1 and order_id = $2"
            )))
            .bind(ctx.tenant)
            .bind(order_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    };
    let Some(invoice_id) = on_invoice else {
        drop_order(conn).await?;
        return Ok(ToCredit::Nothing);
    };
    let status: String = sqlx::query_scalar(
        "select status from invoices where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(invoice_id)
    .fetch_one(&mut *conn)
    .await?;
    if status == "draft" {
        sqlx::query(
            "update monthly_orders set invoice_id = null where tenant_id = $1 and invoice_id = $2",
        )
        .bind(ctx.tenant)
        .bind(invoice_id)
        .execute(&mut *conn)
        .await?;
        drop_order(conn).await?;
        sqlx::query(
            "update invoices set status = 'void', version = version + 1, origin = $3,
                 reason = 'an order it billed was cancelled'
             where tenant_id = $1 and id = $2",
        )
        .bind(ctx.tenant)
        .bind(invoice_id)
        .bind(&ctx.origin)
        .execute(&mut *conn)
        .await?;
        let voided = load(conn, ctx.tenant, invoice_id)
            .await?
            .ok_or_else(|| Error::not_found(format!("invoice {invoice_id}")))?;
        publish(conn, ctx, "invoice", "voided", &voided).await?;
        return Ok(ToCredit::Nothing);
    }
    let lines: Vec<PricedLine> = sqlx::query_as(
        "select reference, description, quantity, unit_price_cents, vat_rate_bp, discount_bp,
                total_excl_vat_cents, vat_cents
         from monthly_order_lines where tenant_id = $1 and order_id = $2 order by line_no",
    )
    .bind(ctx.tenant)
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ToCredit::Lines {
        invoice: invoice_id,
        lines,
        reason: format!("order {order_id} cancelled"),
    })
}
