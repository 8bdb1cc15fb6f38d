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

use crate::{
    SERVICE, payments,
    pdfs::{self, Seller},
};

const ORDERS: &str = "orders";

/// `max_attempts`: `RELAIS_CONSUMER_MAX_DELIVER`.
pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "billing-paid-orders".into(),
        source_service: ORDERS.into(),
        filter_subjects: vec![
            ns.event_filter(ORDERS, "order", "confirmed"),
            ns.event_filter(ORDERS, "order", "cancelled"),
        ],
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

pub struct PaidOrders {
    pub ns: Namespace,
    pub seller: Seller,
}

impl Handler for PaidOrders {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let e = OrderStatusChanged::decode(event.payload.as_ref()).map_err(HandlerError::poison)?;
        let (Some(meta), Some(order)) = (e.meta, e.order) else {
            return Err(HandlerError::poison("event without meta or order"));
        };
        if e.to == OrderStatus::Cancelled as i32 {
            let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
                .map_err(HandlerError::poison)?;
            return cancelled(tx, &ctx, &self.seller, &order)
                .await
                .map_err(handler_error);
        }
        if order.kind == "booking" && e.to == OrderStatus::Confirmed as i32 {
            let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
                .map_err(HandlerError::poison)?;
            return crate::services::hold_booking(tx, &ctx, &order)
                .await
                .map_err(handler_error);
        }
        // Paid at order: products by card or on invoice, and hour packs.
        // Monthly residence billing and bookings are invoiced by period.
        let monthly =
            order.kind == "product" && order.payment_mode == PaymentMode::ResidenceMonthly as i32;
        let billed_now = order.kind == "hour_pack" || (order.kind == "product" && !monthly);
        if e.to != OrderStatus::Confirmed as i32 || !(billed_now || monthly) {
            return Ok(());
        }
        let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
            .map_err(HandlerError::poison)?;
        if monthly {
            let at = meta
                .occurred_at
                .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                .unwrap_or_else(Utc::now);
            return hold_monthly(tx, &ctx, &order, at)
                .await
                .map_err(handler_error);
        }
        draft(tx, &ctx, &order).await.map_err(handler_error)
    }
}

/// Bad data in an event never gets better; anything else may (a database
/// hiccup), and keeps its cause for the logs and the dead letter.
fn handler_error(e: Error) -> HandlerError {
    match e {
        Error::InvalidArgument(_) => HandlerError::poison(e),
        Error::Db(db) => HandlerError::Retry(db.into()),
        other => HandlerError::Retry(anyhow::anyhow!("{other}")),
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

async fn publish(
    conn: &mut PgConnection,
    ctx: &Ctx,
    aggregate: &str,
    event: &str,
    invoice: &Invoice,
) -> Result<()> {
    let id = Uuid::parse_str(&invoice.id).unwrap_or_default();
    let meta = ctx.meta(id, invoice.version);
    let payload = InvoiceChanged {
        meta: Some(meta.clone()),
        invoice: Some(invoice.clone()),
    };
    ctx.emit(conn, aggregate, event, &meta, &payload).await?;
    Ok(())
}

/// Draft -> validated with the tenant's next number for the year.
pub async fn validate(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
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
    after_validation(conn, ctx, seller, invoice).await
}

/// What follows a validation, ours or the ERP's (seed 001): the PDF is
/// made and kept, the customer e-mailed with it, and the invoice is paid
/// (at order) or its debit queued (saved card), all in the caller's
/// transaction.
pub async fn after_validation(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    invoice: Invoice,
) -> Result<Invoice> {
    let id = id("invoice.id", &invoice.id)?;
    pdfs::store(conn, ctx.tenant, seller, &invoice).await?;
    let total = cents(invoice.total_incl_vat.as_ref());
    let debit = matches!(
        PaymentMode::try_from(invoice.payment_mode).unwrap_or_default(),
        PaymentMode::Card | PaymentMode::Unspecified
    );
    let card: Option<String> = sqlx::query_scalar(
        "select payment_method_ref from customers
         where tenant_id = $1 and id = $2 and payment_method_ref <> ''",
    )
    .bind(ctx.tenant)
    .bind(id_of(&invoice.customer_id))
    .fetch_optional(&mut *conn)
    .await?;
    let how = if invoice.paid_at_order {
        "Elle a été réglée à la commande.".to_owned()
    } else if let (true, Some(card)) = (debit && total > 0, card.as_deref()) {
        payments::queue_charge(
            conn,
            ctx.tenant,
            id,
            id_of(&invoice.customer_id),
            total,
            card,
        )
        .await?;
        format!(
            "Son montant, {}, va être prélevé sur la carte enregistrée sur votre compte.",
            euros(total)
        )
    } else {
        format!("Montant à régler : {}.", euros(total))
    };
    payments::mail_customer(
        conn,
        ctx.tenant,
        id,
        format!("Votre facture {}", invoice.number),
        format!(
            "Bonjour {},\n\nVeuillez trouver ci-jointe votre facture {} d'un montant de {}. {}\n\n{}",
            invoice.customer_name,
            invoice.number,
            euros(total),
            how,
            seller.name
        ),
        true,
    )
    .await?;
    if invoice.paid_at_order {
        return mark_paid(conn, ctx, id).await;
    }
    Ok(invoice)
}

fn id_of(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_default()
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

/// The debit failed for good: `invoice.payment_failed`, and the customer
/// is told why and what to do.
pub async fn mark_payment_failed(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    code: &str,
    message: &str,
) -> Result<()> {
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
    let why = match code {
        "insufficient_funds" => "provision insuffisante".to_owned(),
        "expired_card" => "carte expirée".to_owned(),
        "network" => "le prestataire de paiement n'a pas répondu".to_owned(),
        _ => format!("paiement refusé ({code})"),
    };
    payments::mail_customer(
        conn,
        ctx.tenant,
        id,
        format!("Échec du paiement de votre facture {}", invoice.number),
        format!(
            "Bonjour {},\n\nLe prélèvement de {} pour votre facture {} n'a pas abouti : {}.\n\
             Merci de mettre à jour votre moyen de paiement dans votre compte ou de nous contacter.\n\n({message})",
            invoice.customer_name,
            euros(cents(invoice.total_incl_vat.as_ref())),
            invoice.number,
            why
        ),
        false,
    )
    .await?;
    Ok(())
}

/// The next number of the tenant's `prefix` series for the year, e.g.
/// "F2026-000042". The counter row stays locked until the caller's
/// transaction ends: concurrent callers take numbers one after the other,
/// and a rollback gives its number back, so the series has no gap.
pub(crate) async fn next_number(
    conn: &mut PgConnection,
    tenant: Uuid,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    let series = format!("{prefix}{}", now.year());
    let taken: i64 = sqlx::query_scalar(
        "insert into invoice_sequences (tenant_id, series, next_number) values ($1, $2, 2)
         on conflict (tenant_id, series) do update set next_number = invoice_sequences.next_number + 1
         returning next_number - 1",
    )
    .bind(tenant)
    .bind(&series)
    .fetch_one(&mut *conn)
    .await?;
    Ok(format!("{series}-{taken:06}"))
}

/// A cancelled order: its draft is voided, its validated invoice credited
/// for whatever is left.
async fn cancelled(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    order: &Order,
) -> Result<()> {
    let order_id = id("order.id", &order.id)?;
    let held: Option<Option<Uuid>> = sqlx::query_scalar(
        "select invoice_id from monthly_orders where tenant_id = $1 and order_id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(on_invoice) = held {
        return cancelled_monthly(conn, ctx, seller, order_id, on_invoice).await;
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
        None => Ok(()),
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
            publish(conn, ctx, "invoice", "voided", &voided).await
        }
        Some((invoice, status)) if status == "void" => {
            let _ = invoice;
            Ok(())
        }
        Some((invoice, _)) => {
            match credit(conn, ctx, seller, invoice, None, "order cancelled").await {
                // Already credited in full (a refund came first): nothing to do.
                Err(Error::FailedPrecondition(_)) => Ok(()),
                other => other.map(|_| ()),
            }
        }
    }
}

/// A credit note against a validated invoice: everything left to credit,
/// line by line, or `amount` (incl. VAT) as one line at its single VAT rate.
pub async fn credit(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    invoice_id: Uuid,
    amount: Option<i64>,
    reason: &str,
) -> Result<Invoice> {
    credit_with(conn, ctx, seller, invoice_id, Refund::from(amount), reason).await
}

/// What a credit note gives back.
pub enum Refund {
    /// Everything left, line by line when nothing was credited yet.
    All,
    /// This much incl. VAT, at the invoice's single VAT rate.
    Amount(i64),
    /// These lines of the invoice (a cancelled order of a monthly invoice).
    Lines(Vec<CreditLine>),
}

impl From<Option<i64>> for Refund {
    fn from(a: Option<i64>) -> Self {
        a.map_or(Refund::All, Refund::Amount)
    }
}

/// (reference, description, quantity, unit, rate, discount, net, vat)
pub type CreditLine = (String, String, i32, i64, i32, i32, i64, i64);

/// A credit line's fields and the item it came from.
type MonthLine = (String, String, i32, i64, i32, i32, i64, i64, Uuid);

async fn credit_with(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    invoice_id: Uuid,
    refund: Refund,
    reason: &str,
) -> Result<Invoice> {
    let row: Option<(String, String, Option<String>)> = sqlx::query_as(
        "select kind, status, number from invoices where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(invoice_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (kind, status, number) =
        row.ok_or_else(|| Error::not_found(format!("invoice {invoice_id}")))?;
    if kind != "invoice" {
        return Err(Error::invalid(
            "invoice_id",
            "is a credit note, not an invoice",
        ));
    }
    if !matches!(status.as_str(), "validated" | "paid" | "payment_failed") {
        return Err(Error::FailedPrecondition(format!(
            "invoice {invoice_id} is {status}: only a validated invoice is credited (a draft is voided)"
        )));
    }
    let invoice = load(conn, ctx.tenant, invoice_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("invoice {invoice_id}")))?;
    let credited: i64 = sqlx::query_scalar(
        "select coalesce(sum(total_incl_vat_cents), 0)::bigint from invoices
         where tenant_id = $1 and credited_invoice_id = $2",
    )
    .bind(ctx.tenant)
    .bind(invoice_id)
    .fetch_one(&mut *conn)
    .await?;
    let total = cents(invoice.total_incl_vat.as_ref());
    // Both are stored totals, each within ±MAX_TOTAL_CENTS: no overflow.
    let left = total - credited;
    let number = number.unwrap_or_default();
    if left <= 0 {
        return Err(Error::FailedPrecondition(format!(
            "invoice {number} is already credited in full"
        )));
    }
    let lines: Vec<CreditLine> = match refund {
        Refund::Lines(lines) => {
            let asked = money::total("lines", lines.iter().flat_map(|l| [l.6, l.7]))?;
            if asked > left {
                return Err(Error::FailedPrecondition(format!(
                    "{} is more than is left to credit on {number} ({})",
                    euros(asked),
                    euros(left)
                )));
            }
            lines
        }
        Refund::All if credited == 0 => invoice
            .lines
            .iter()
            .map(|l| {
                (
                    l.reference.clone(),
                    l.description.clone(),
                    l.quantity,
                    cents(l.unit_price.as_ref()),
                    l.vat_rate_bp,
                    l.discount_bp,
                    cents(l.total_excl_vat.as_ref()),
                    cents(l.vat.as_ref()),
                )
            })
            .collect(),
        requested => {
            let amount = match requested {
                Refund::Amount(a) => a,
                _ => left,
            };
            if amount <= 0 {
                return Err(Error::invalid("amount", "must be more than 0"));
            }
            if amount > left {
                return Err(Error::invalid(
                    "amount",
                    format!(
                        "{} is more than is left to credit on {number} ({})",
                        euros(amount),
                        euros(left)
                    ),
                ));
            }
            let [rate] = invoice
                .vat_breakdown
                .iter()
                .map(|v| v.vat_rate_bp)
                .collect::<Vec<_>>()[..]
            else {
                return Err(Error::invalid(
                    "amount",
                    "a partial credit needs an invoice with a single VAT rate: credit it in full",
                ));
            };
            let net = money::net_of(amount, rate)
                .ok_or_else(|| Error::invalid("amount", money::too_large()))?;
            vec![(
                "CREDIT".to_owned(),
                format!("Avoir sur la facture {number}"),
                1,
                net,
                rate,
                0,
                net,
                amount - net,
            )]
        }
    };
    let net = money::total("lines", lines.iter().map(|l| l.6))?;
    let vat = money::total("lines", lines.iter().map(|l| l.7))?;
    let incl = money::total("lines", [net, vat])?;
    let now = Utc::now();
    let credit_number = next_number(conn, ctx.tenant, "A", now).await?;
    let credit_id = Uuid::now_v7();
    sqlx::query(
        "insert into invoices (tenant_id, id, number, status, customer_id, customer_name, order_id,
             payment_mode, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency,
             validated_at, origin, kind, credited_invoice_id, reason)
         select tenant_id, $3, $4, 'issued', customer_id, customer_name, order_id, payment_mode,
                $5, $6, $7, currency, $8, $9, 'credit_note', id, $10
         from invoices where tenant_id = $1 and id = $2",
    )
    .bind(ctx.tenant)
    .bind(invoice_id)
    .bind(credit_id)
    .bind(&credit_number)
    .bind(net)
    .bind(vat)
    .bind(incl)
    .bind(now)
    .bind(&ctx.origin)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    insert_lines(conn, ctx.tenant, credit_id, &new_lines(lines, false)).await?;
    let note = load(conn, ctx.tenant, credit_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("credit note {credit_id}")))?;
    publish(conn, ctx, "credit_note", "issued", &note).await?;
    pdfs::store(conn, ctx.tenant, seller, &note).await?;
    // A paid debit is refunded to the card it came from.
    let refunded = status == "paid"
        && payments::queue_refund(conn, ctx.tenant, invoice_id, credit_id, incl).await?;
    let how = if refunded {
        "Ce montant va être remboursé sur la carte débitée."
    } else {
        "Ce montant vous sera remboursé ou déduit de votre prochaine facture."
    };
    payments::mail_customer(
        conn,
        ctx.tenant,
        credit_id,
        format!("Votre avoir {credit_number}"),
        format!(
            "Bonjour {},\n\nVeuillez trouver ci-joint l'avoir {credit_number} de {} sur la facture {number} ({reason}). {how}\n\n{}",
            note.customer_name,
            euros(incl),
            seller.name
        ),
        true,
    )
    .await?;
    Ok(note)
}

/// Keeps a confirmed order paid by monthly billing until its month's
/// invoice is drafted (once per order).
async fn hold_monthly(
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

/// A cancelled order of monthly billing: not invoiced yet, it is dropped;
/// on a draft, the draft is voided and its orders wait for the next run;
/// on a validated invoice, its lines are credited.
async fn cancelled_monthly(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    order_id: Uuid,
    on_invoice: Option<Uuid>,
) -> Result<()> {
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
        return drop_order(conn).await;
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
        return publish(conn, ctx, "invoice", "voided", &voided).await;
    }
    let lines: Vec<CreditLine> = sqlx::query_as(
        "select reference, description, quantity, unit_price_cents, vat_rate_bp, discount_bp,
                total_excl_vat_cents, vat_cents
         from monthly_order_lines where tenant_id = $1 and order_id = $2 order by line_no",
    )
    .bind(ctx.tenant)
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    credit_with(
        conn,
        ctx,
        seller,
        invoice_id,
        Refund::Lines(lines),
        &format!("order {order_id} cancelled"),
    )
    .await
    .map(|_| ())
}

fn new_lines(lines: Vec<CreditLine>, tax_credit: bool) -> Vec<NewLine> {
    lines
        .into_iter()
        .map(
            |(reference, description, quantity, unit, rate, discount, net, vat)| NewLine {
                item_id: None,
                reference,
                description,
                quantity,
                unit_cents: unit,
                vat_rate_bp: rate,
                discount_bp: discount,
                net_cents: net,
                vat_cents: vat,
                tax_credit,
            },
        )
        .collect()
}

/// The lines of a new invoice or credit note, numbered from 1.
async fn insert_lines(
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
            "select l.reference, to_char(m.confirmed_at at time zone 'Europe/Paris', 'DD/MM') || ' ' || l.description,
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
            .map(|l| NewLine {
                item_id: Some(l.8),
                reference: l.0,
                description: l.1,
                quantity: l.2,
                unit_cents: l.3,
                vat_rate_bp: l.4,
                discount_bp: l.5,
                net_cents: l.6,
                vat_cents: l.7,
                tax_credit: false,
            })
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

fn euros(c: i64) -> String {
    relais_domain::pdf::euros(c)
}

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

/// An ERP invoice line, checked: (reference, description, quantity, unit,
/// rate, discount, net, vat).
pub type ErpLine = CreditLine;

/// An invoice as the ERP validated it, its lines checked.
#[derive(Clone, Copy)]
pub struct ErpInvoice<'a> {
    pub number: &'a str,
    pub customer: Uuid,
    pub lines: &'a [ErpLine],
    pub validated_at: DateTime<Utc>,
    pub payment_mode: PaymentMode,
}

/// An invoice validated in the ERP (seed 001), stored under the ERP's
/// number; the same number again returns it. Then the same path as ours.
pub async fn record_erp(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    erp: &ErpInvoice<'_>,
) -> Result<Invoice> {
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
            .ok_or_else(|| Error::not_found(format!("invoice {number}")));
    }
    let name: Option<String> =
        sqlx::query_scalar("select name from customers where tenant_id = $1 and id = $2")
            .bind(ctx.tenant)
            .bind(customer)
            .fetch_optional(&mut *conn)
            .await?;
    let name = name.ok_or_else(|| Error::not_found(format!("customer {customer}")))?;
    let net = money::total("lines", lines.iter().map(|l| l.6))?;
    let vat = money::total("lines", lines.iter().map(|l| l.7))?;
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
    after_validation(conn, ctx, seller, invoice).await
}
