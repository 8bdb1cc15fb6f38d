//! What follows an invoice's validation (ours or the ERP's) and a credit
//! note's issue: its PDF, its debit or refund, its e-mail.

use relais_platform::{context::Ctx, error::Result};
use relais_proto::{billing::Invoice, orders::PaymentMode};
use sqlx::PgConnection;
use uuid::Uuid;

use super::mail::mail_customer;
use crate::{
    customers,
    invoices::{self, Recorded, Refund, cents, euros, id, id_of},
    payments,
    pdfs::{self, Seller},
};

/// Draft -> validated with the tenant's next number for the year, then
/// what follows.
pub async fn validate(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    id: Uuid,
    expected_version: i64,
) -> Result<Invoice> {
    let invoice = invoices::validate(conn, ctx, id, expected_version).await?;
    after_validation(conn, ctx, seller, invoice).await
}

/// An invoice validated in the ERP (seed 001), recorded under the ERP's
/// number; the same number again returns it as it was. Then the same path
/// as ours.
pub async fn record_erp_invoice(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    erp: &invoices::ErpInvoice<'_>,
) -> Result<Invoice> {
    match invoices::record_erp(conn, ctx, erp).await? {
        Recorded::Again(invoice) => Ok(invoice),
        Recorded::New(invoice) => after_validation(conn, ctx, seller, invoice).await,
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

/// A credit note as `refund` says, then what follows: its PDF, the refund
/// of a paid debit, the e-mail.
pub async fn credit_with(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    invoice_id: Uuid,
    refund: Refund,
    reason: &str,
) -> Result<Invoice> {
    let invoices::IssuedNote {
        note,
        id: credit_id,
        invoice_number: number,
        invoice_paid,
        amount: incl,
    } = invoices::issue_credit_note(conn, ctx, invoice_id, refund, reason).await?;
    let credit_number = note.number.clone();
    pdfs::store(conn, ctx.tenant, seller, &note).await?;
    // A paid debit is refunded to the card it came from.
    let refunded = invoice_paid
        && payments::queue_refund(conn, ctx.tenant, invoice_id, credit_id, incl).await?;
    let how = if refunded {
        "Ce montant va être remboursé sur la carte débitée."
    } else {
        "Ce montant vous sera remboursé ou déduit de votre prochaine facture."
    };
    mail_customer(
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

/// What follows a validation, ours or the ERP's (seed 001): the PDF is
/// made and kept, the customer e-mailed with it, and the invoice is paid
/// (at order) or its debit queued (saved card), all in the caller's
/// transaction.
async fn after_validation(
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
    let card = customers::saved_card(conn, ctx.tenant, id_of(&invoice.customer_id)).await?;
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
    mail_customer(
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
        return invoices::mark_paid(conn, ctx, id).await;
    }
    Ok(invoice)
}
