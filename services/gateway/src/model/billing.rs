//! Invoices, credit notes and tax certificates as their customer reads
//! them (the PDFs are served as they were sent).

use chrono::{DateTime, Utc};
use relais_proto::billing as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    Money,
    orders::{PaymentMode, VatAmount, vat_breakdown},
    page, pb_enum, some, time,
};

pb_enum!(
    /// `issued` is a credit note's; `void` a draft whose order was cancelled.
    InvoiceStatus from pb::InvoiceStatus {
        Draft = Draft,
        Validated = Validated,
        Paid = Paid,
        PaymentFailed = PaymentFailed,
        Void = Void,
        Issued = Issued,
    }
);

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLine {
    pub line_no: i32,
    pub item_id: String,
    pub reference: String,
    pub description: String,
    pub quantity: i32,
    pub unit_price: Option<Money>,
    pub vat_rate_bp: i32,
    pub discount_bp: i32,
    pub total_excl_vat: Option<Money>,
    pub vat: Option<Money>,
}

/// An invoice or a credit note (`kind`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Invoice {
    pub id: String,
    /// "invoice" or "credit_note".
    #[schema(example = "invoice")]
    pub kind: String,
    /// Null while a draft; e.g. "F2026-000042".
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub customer_id: String,
    pub customer_name: String,
    /// The order billed (null for a monthly invoice, see `period`).
    pub order_id: Option<String>,
    /// Monthly invoices: YYYY-MM.
    pub period: Option<String>,
    pub lines: Vec<InvoiceLine>,
    pub vat_breakdown: Vec<VatAmount>,
    pub total_excl_vat: Option<Money>,
    pub total_vat: Option<Money>,
    pub total_incl_vat: Option<Money>,
    pub payment_mode: PaymentMode,
    pub paid_at_order: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub validated_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    /// Credit notes: the invoice credited, and why.
    pub credited_invoice_id: Option<String>,
    pub reason: Option<String>,
    pub version: i64,
}

impl From<pb::Invoice> for Invoice {
    fn from(i: pb::Invoice) -> Self {
        Self {
            id: i.id,
            kind: i.kind,
            number: some(i.number),
            status: InvoiceStatus::from_pb(i.status),
            customer_id: i.customer_id,
            customer_name: i.customer_name,
            order_id: some(i.order_id),
            period: some(i.period),
            lines: i
                .lines
                .into_iter()
                .map(|l| InvoiceLine {
                    line_no: l.line_no,
                    item_id: l.item_id,
                    reference: l.reference,
                    description: l.description,
                    quantity: l.quantity,
                    unit_price: Money::from_pb(l.unit_price),
                    vat_rate_bp: l.vat_rate_bp,
                    discount_bp: l.discount_bp,
                    total_excl_vat: Money::from_pb(l.total_excl_vat),
                    vat: Money::from_pb(l.vat),
                })
                .collect(),
            vat_breakdown: vat_breakdown(i.vat_breakdown),
            total_excl_vat: Money::from_pb(i.total_excl_vat),
            total_vat: Money::from_pb(i.total_vat),
            total_incl_vat: Money::from_pb(i.total_incl_vat),
            payment_mode: PaymentMode::from_pb(i.payment_mode),
            paid_at_order: i.paid_at_order,
            created_at: time(i.created_at),
            validated_at: time(i.validated_at),
            paid_at: time(i.paid_at),
            credited_invoice_id: some(i.credited_invoice_id),
            reason: some(i.reason),
            version: i.version,
        }
    }
}

page!(
    /// A page of invoices and credit notes, newest first.
    InvoicePage of Invoice
);

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateWorker {
    pub worker_id: String,
    pub name: String,
    pub minutes: i32,
}

/// An annual tax certificate (attestation fiscale).
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxCertificate {
    pub id: String,
    #[schema(example = "AF2026-000001")]
    pub number: String,
    pub year: i32,
    /// Paid in the year for eligible services, less credit notes.
    pub amount_paid: Option<Money>,
    /// Time worked at the customer's in the year.
    pub minutes: i32,
    pub workers: Vec<CertificateWorker>,
    pub issued_at: Option<DateTime<Utc>>,
}

impl From<pb::TaxCertificate> for TaxCertificate {
    fn from(c: pb::TaxCertificate) -> Self {
        Self {
            id: c.id,
            number: c.number,
            year: c.year,
            amount_paid: Money::from_pb(c.amount_paid),
            minutes: c.minutes,
            workers: c
                .workers
                .into_iter()
                .map(|w| CertificateWorker {
                    worker_id: w.worker_id,
                    name: w.name,
                    minutes: w.minutes,
                })
                .collect(),
            issued_at: time(c.issued_at),
        }
    }
}

/// Every certificate of the customer, newest year first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxCertificateList {
    pub items: Vec<TaxCertificate>,
}
