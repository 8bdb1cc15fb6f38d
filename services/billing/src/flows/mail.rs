//! E-mails about an invoice or credit note, to its customer.

use relais_platform::{
    error::Result,
    mail::{Mail, MailAttachment},
};
use sqlx::PgConnection;
use uuid::Uuid;

/// Queues an e-mail about an invoice to its customer (or the address its
/// order gave); nothing when there is none (the document stays in their
/// account).
pub(super) async fn mail_customer(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Uuid,
    subject: String,
    body: String,
    attach: bool,
) -> Result<bool> {
    let row: Option<(Uuid, String)> =
        sqlx::query_as("select customer_id, email from invoices where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(invoice)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((customer, fallback)) = row else {
        return Ok(false);
    };
    let attachment = if attach {
        let doc: Option<(String, Vec<u8>)> = sqlx::query_as(
            "select file_name, content from documents where tenant_id = $1 and invoice_id = $2",
        )
        .bind(tenant)
        .bind(invoice)
        .fetch_optional(&mut *conn)
        .await?;
        doc.map(|(name, bytes)| MailAttachment {
            name,
            content_type: "application/pdf".into(),
            bytes,
        })
    } else {
        None
    };
    crate::customers::mail(
        conn,
        tenant,
        customer,
        &fallback,
        Mail {
            subject,
            body,
            attachment,
            about: format!("invoice:{invoice}"),
            ..Default::default()
        },
    )
    .await
}
