//! Billing commands: a customer's invoices and payments, drafting a
//! month's invoices, validating a draft (which debits a saved card), the
//! PDFs, and annual tax certificates.

use std::path::PathBuf;

use clap::Subcommand;
use relais_proto::billing::{
    DraftMonthlyInvoicesRequest, DraftServiceInvoicesRequest, GetInvoiceDocumentRequest,
    GetTaxCertificateDocumentRequest, Invoice, InvoiceStatus, IssueTaxCertificateRequest,
    ListInvoicesRequest, ListPaymentsRequest, ListTaxCertificatesRequest, PaymentStatus,
    ValidateInvoiceRequest, billing_service_client::BillingServiceClient,
};
use relais_proto::types::{Money, PageRequest};
use uuid::Uuid;

use crate::{
    auth::admin_token,
    client::{authed, connect},
    demo,
};

const BILLING_ADDR: &str = "http://127.0.0.1:50054";

#[derive(Subcommand)]
pub enum BillingOp {
    /// A customer's invoices, newest first.
    Invoices {
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Uuid,
        /// Only those in this status: draft, validated, paid...
        #[arg(long)]
        status: Option<String>,
        /// Print only their ids, one a line (for scripts).
        #[arg(long)]
        ids: bool,
    },
    /// Validate a draft invoice: it gets the tenant's next number, its PDF
    /// is made and e-mailed, and a saved card is debited.
    Validate {
        #[arg(value_parser = crate::args::uuid)]
        invoice: Uuid,
    },
    /// Draft the invoices of the interventions done in a month and not
    /// invoiced yet (a month that is over is also drafted on its own).
    DraftServices {
        /// YYYY-MM, this-month or last-month; default: last month, then this one.
        #[arg(long, value_parser = crate::args::month)]
        month: Option<String>,
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Option<Uuid>,
    },
    /// Draft the residents' invoices of a month of monthly billing.
    DraftMonthly {
        /// YYYY-MM, this-month or last-month.
        #[arg(long, value_parser = crate::args::month)]
        month: String,
        #[arg(long, value_parser = crate::args::uuid)]
        residence: Option<Uuid>,
    },
    /// Payments of an invoice (or of a customer): every attempt.
    Payments {
        #[arg(long, value_parser = crate::args::uuid)]
        invoice: Option<Uuid>,
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Option<Uuid>,
    },
    /// Save the PDF of a validated invoice or credit note.
    Pdf {
        #[arg(value_parser = crate::args::uuid)]
        invoice: Uuid,
        /// Where to write it; default: its own file name, here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Issue (or read back) a customer's tax certificate for a past year.
    Certificate {
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Uuid,
        #[arg(long)]
        year: i32,
        /// Also save its PDF here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A customer's tax certificates.
    Certificates {
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Uuid,
    },
}

fn line(i: &Invoice, status: &str) -> String {
    format!(
        "{}  {:<13} {:<14} {}  {} incl. VAT",
        i.id,
        if i.number.is_empty() {
            "(draft)"
        } else {
            &i.number
        },
        status,
        if i.order_id.is_empty() {
            format!("period {}", i.period)
        } else {
            format!("order {}", i.order_id)
        },
        euros(i.total_incl_vat.as_ref())
    )
}

fn save(out: Option<PathBuf>, file_name: &str, content: &[u8]) -> anyhow::Result<()> {
    let path = out.unwrap_or_else(|| PathBuf::from(file_name));
    std::fs::write(&path, content)?;
    println!("wrote {} ({} bytes)", path.display(), content.len());
    Ok(())
}

fn euros(m: Option<&Money>) -> String {
    let c = m.map_or(0, |m| m.amount_cents);
    format!("{}.{:02} €", c / 100, c % 100)
}

pub async fn run(op: BillingOp, addr: Option<String>, tenant: Option<Uuid>) -> anyhow::Result<()> {
    let addr = addr.unwrap_or_else(|| BILLING_ADDR.to_owned());
    let token = admin_token(tenant.unwrap_or(demo::TENANT))?;
    let mut client = BillingServiceClient::new(connect(&addr).await?);
    let refused = |s: tonic::Status| anyhow::anyhow!("refused ({:?}): {}", s.code(), s.message());
    let status = |s: i32| {
        InvoiceStatus::try_from(s)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("INVOICE_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_default()
    };
    match op {
        BillingOp::Invoices {
            customer,
            status: wanted,
            ids,
        } => {
            let invoices = client
                .list_invoices(authed(
                    &token,
                    ListInvoicesRequest {
                        page: Some(PageRequest {
                            page_size: 500,
                            page_token: String::new(),
                        }),
                        customer_id: customer.to_string(),
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .invoices;
            let invoices = invoices.into_iter().filter(|i| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.eq_ignore_ascii_case(&status(i.status)))
            });
            if ids {
                for i in invoices {
                    println!("{}", i.id);
                }
            } else {
                crate::args::print_all(invoices.map(|i| line(&i, &status(i.status))));
            }
        }
        BillingOp::Validate { invoice } => {
            let i = client
                .validate_invoice(authed(
                    &token,
                    ValidateInvoiceRequest {
                        id: invoice.to_string(),
                        expected_version: 0,
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .invoice
                .ok_or_else(|| anyhow::anyhow!("no invoice in the answer"))?;
            println!(
                "invoice {} is {} as {}, {} incl. VAT (PDF: relais billing pdf {}; mail in \
                 RELAIS_MAIL_DIR, .local/mail by default)",
                i.id,
                status(i.status),
                i.number,
                euros(i.total_incl_vat.as_ref()),
                i.id
            );
        }
        BillingOp::DraftServices { month, customer } => {
            let months = match month {
                Some(m) => vec![m],
                None => vec![
                    crate::args::month("last-month").map_err(anyhow::Error::msg)?,
                    crate::args::month("this-month").map_err(anyhow::Error::msg)?,
                ],
            };
            for month in months {
                let invoices = client
                    .draft_service_invoices(authed(
                        &token,
                        DraftServiceInvoicesRequest {
                            month: month.clone(),
                            customer_id: customer.map(|c| c.to_string()).unwrap_or_default(),
                        },
                    )?)
                    .await
                    .map_err(refused)?
                    .into_inner()
                    .invoices;
                println!("{month}: {} draft(s)", invoices.len());
                for i in invoices {
                    println!("{}", line(&i, &status(i.status)));
                }
            }
        }
        BillingOp::DraftMonthly { month, residence } => {
            let invoices = client
                .draft_monthly_invoices(authed(
                    &token,
                    DraftMonthlyInvoicesRequest {
                        month,
                        residence_id: residence.map(|c| c.to_string()).unwrap_or_default(),
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .invoices;
            println!("{} draft(s)", invoices.len());
            for i in invoices {
                println!("{}", line(&i, &status(i.status)));
            }
        }
        BillingOp::Payments { invoice, customer } => {
            let payments = client
                .list_payments(authed(
                    &token,
                    ListPaymentsRequest {
                        page: Some(PageRequest {
                            page_size: 500,
                            page_token: String::new(),
                        }),
                        invoice_id: invoice.map(|c| c.to_string()).unwrap_or_default(),
                        customer_id: customer.map(|c| c.to_string()).unwrap_or_default(),
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .payments;
            let mut lines = Vec::new();
            for p in payments {
                let state = PaymentStatus::try_from(p.status)
                    .map(|s| {
                        s.as_str_name()
                            .trim_start_matches("PAYMENT_STATUS_")
                            .to_lowercase()
                    })
                    .unwrap_or_default();
                lines.push(format!(
                    "{}  invoice {}  {} #{}  {}  {:<9} {} {}",
                    p.id,
                    p.invoice_id,
                    p.kind,
                    p.attempt,
                    euros(p.amount.as_ref()),
                    state,
                    p.provider_ref,
                    p.failure_code
                ));
            }
            crate::args::print_all(lines);
        }
        BillingOp::Pdf { invoice, out } => {
            let doc = client
                .get_invoice_document(authed(
                    &token,
                    GetInvoiceDocumentRequest {
                        id: invoice.to_string(),
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner();
            save(out, &doc.file_name, &doc.content)?;
        }
        BillingOp::Certificate {
            customer,
            year,
            out,
        } => {
            let c = client
                .issue_tax_certificate(authed(
                    &token,
                    IssueTaxCertificateRequest {
                        customer_id: customer.to_string(),
                        year,
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .certificate
                .ok_or_else(|| anyhow::anyhow!("no certificate in the answer"))?;
            println!(
                "certificate {} ({}) for {}: {} paid, {} h {:02}",
                c.number,
                c.id,
                c.year,
                euros(c.amount_paid.as_ref()),
                c.minutes / 60,
                c.minutes % 60
            );
            if out.is_some() {
                let doc = client
                    .get_tax_certificate_document(authed(
                        &token,
                        GetTaxCertificateDocumentRequest { id: c.id },
                    )?)
                    .await
                    .map_err(refused)?
                    .into_inner();
                save(out, &doc.file_name, &doc.content)?;
            }
        }
        BillingOp::Certificates { customer } => {
            let list = client
                .list_tax_certificates(authed(
                    &token,
                    ListTaxCertificatesRequest {
                        customer_id: customer.to_string(),
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .certificates;
            let mut lines = Vec::new();
            for c in list {
                lines.push(format!(
                    "{}  {}  {}  {}  {} h {:02}  ({})",
                    c.id,
                    c.year,
                    c.number,
                    euros(c.amount_paid.as_ref()),
                    c.minutes / 60,
                    c.minutes % 60,
                    c.origin
                ));
            }
            crate::args::print_all(lines);
        }
    }
    Ok(())
}
