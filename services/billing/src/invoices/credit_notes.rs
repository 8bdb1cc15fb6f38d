//! Credit notes: what is left to credit on an invoice, line by line, an
//! amount at its single VAT rate, or given lines; numbered in their own
//! series.

use chrono::Utc;
use relais_domain::money;
use relais_platform::{
    context::Ctx,
    error::{Error, Result},
};
use relais_proto::billing::Invoice;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    PricedLine, cents,
    drafts::{insert_lines, new_lines},
    euros, load, next_number, publish,
};

/// What a credit note gives back.
pub enum Refund {
    /// Everything left, line by line when nothing was credited yet.
    All,
    /// This much incl. VAT, at the invoice's single VAT rate.
    Amount(i64),
    /// These lines of the invoice (a cancelled order of a monthly invoice).
    Lines(Vec<PricedLine>),
}

impl From<Option<i64>> for Refund {
    fn from(a: Option<i64>) -> Self {
        a.map_or(Refund::All, Refund::Amount)
    }
}

/// What a cancelled order leaves to credit, by crate::flows (which also
/// refunds and e-mails).
pub enum ToCredit {
    Nothing,
    /// Whatever is left on this invoice, for "order cancelled".
    Rest(Uuid),
    /// These lines of a monthly invoice.
    Lines {
        invoice: Uuid,
        lines: Vec<PricedLine>,
        reason: String,
    },
}

/// A credit note issued, and what crate::flows needs to refund and tell.
pub struct IssuedNote {
    pub note: Invoice,
    pub id: Uuid,
    /// The credited invoice's number.
    pub invoice_number: String,
    /// Whether the credited invoice was paid (then a debit may be refunded).
    pub invoice_paid: bool,
    /// The credit note's total incl. VAT.
    pub amount: i64,
}

/// A credit note against a validated invoice, numbered and published
/// (`credit_note.issued`); its PDF, refund and e-mail are crate::flows'.
pub async fn issue_credit_note(
    conn: &mut PgConnection,
    ctx: &Ctx,
    invoice_id: Uuid,
    refund: Refund,
    reason: &str,
) -> Result<IssuedNote> {
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
    let lines: Vec<PricedLine> = match refund {
        Refund::Lines(lines) => {
            let asked = money::total(
                "lines",
                lines.iter().flat_map(|l| [l.net_cents, l.vat_cents]),
            )?;
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
            .map(|l| PricedLine {
                reference: l.reference.clone(),
                description: l.description.clone(),
                quantity: l.quantity,
                unit_cents: cents(l.unit_price.as_ref()),
                vat_rate_bp: l.vat_rate_bp,
                discount_bp: l.discount_bp,
                net_cents: cents(l.total_excl_vat.as_ref()),
                vat_cents: cents(l.vat.as_ref()),
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
            vec![PricedLine {
                reference: "CREDIT".to_owned(),
                description: format!("Avoir sur la facture {number}"),
                quantity: 1,
                unit_cents: net,
                vat_rate_bp: rate,
                discount_bp: 0,
                net_cents: net,
                vat_cents: amount - net,
            }]
        }
    };
    let net = money::total("lines", lines.iter().map(|l| l.net_cents))?;
    let vat = money::total("lines", lines.iter().map(|l| l.vat_cents))?;
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
    Ok(IssuedNote {
        note,
        id: credit_id,
        invoice_number: number,
        invoice_paid: status == "paid",
        amount: incl,
    })
}
