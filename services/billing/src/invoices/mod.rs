//! Invoices and credit notes as billing keeps them: drafted from paid
//! orders (the order's lines, VAT breakdown and totals, as placed), from
//! residents' months and from services done, numbered without gaps when
//! validated, credited, recorded as the ERP validated them.
//!
//! What follows a validation or a credit in other modules (the PDF, the
//! e-mail, the debit or the refund) is done above, in crate::flows: this
//! module imports none of them.

mod credit_notes;
mod drafts;
mod from_erp;
mod monthly;
mod numbering;
mod orders;
mod rows;
mod status;

use relais_platform::{
    context::Ctx,
    error::{Error, Result},
};
use relais_proto::{billing::Invoice, events::InvoiceChanged};
use sqlx::PgConnection;
use uuid::Uuid;

pub use credit_notes::{IssuedNote, Refund, ToCredit, issue_credit_note};
pub use drafts::{NewInvoice, NewLine, PricedLine, insert_draft, month_bounds};
pub use from_erp::{ErpInvoice, Recorded, record_erp};
pub use monthly::{draft_monthly, hold_monthly};
pub(crate) use numbering::next_number;
pub use orders::{cancel, draft};
pub use rows::{load, of_customer};
pub use status::{mark_paid, mark_payment_failed, validate};

pub(crate) fn id(field: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| Error::invalid(field.to_owned(), "is not an id"))
}

pub(crate) fn cents(m: Option<&relais_proto::types::Money>) -> i64 {
    m.map_or(0, |m| m.amount_cents)
}

pub(crate) fn id_of(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_default()
}

pub(crate) fn euros(c: i64) -> String {
    relais_domain::pdf::euros(c)
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
