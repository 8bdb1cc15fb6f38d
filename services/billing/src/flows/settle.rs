//! What a payment's outcome does to its invoice (payments::Settle).

use relais_platform::{context::Ctx, error::Result};
use sqlx::PgConnection;
use uuid::Uuid;

use super::mail::mail_customer;
use crate::{
    invoices::{self, cents, euros},
    payments::Settle,
};

/// Marks the invoice of a charge paid, or failed and tells its customer.
pub struct InvoiceSettler;

impl Settle for InvoiceSettler {
    /// A validated invoice is paid (its debit went through): `invoice.paid`.
    async fn paid(&self, conn: &mut PgConnection, ctx: &Ctx, invoice: Uuid) -> Result<()> {
        invoices::mark_paid(conn, ctx, invoice).await?;
        Ok(())
    }

    /// The debit failed for good: `invoice.payment_failed`, and the customer
    /// is told why and what to do.
    async fn failed(
        &self,
        conn: &mut PgConnection,
        ctx: &Ctx,
        id: Uuid,
        code: &str,
        message: &str,
    ) -> Result<()> {
        let invoice = invoices::mark_payment_failed(conn, ctx, id).await?;
        let why = match code {
            "insufficient_funds" => "provision insuffisante".to_owned(),
            "expired_card" => "carte expirée".to_owned(),
            "network" => "le prestataire de paiement n'a pas répondu".to_owned(),
            _ => format!("paiement refusé ({code})"),
        };
        mail_customer(
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
}
