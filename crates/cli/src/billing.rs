//! Billing commands: a customer's invoices, and validating a draft.

use clap::Subcommand;
use relais_proto::billing::{
    InvoiceStatus, ListInvoicesRequest, ValidateInvoiceRequest,
    billing_service_client::BillingServiceClient,
};
use relais_proto::types::{Money, PageRequest};
use uuid::Uuid;

use crate::{admin_token, authed, connect, demo};

const BILLING_ADDR: &str = "http://127.0.0.1:50054";

#[derive(Subcommand)]
pub enum BillingOp {
    /// A customer's invoices, newest first.
    Invoices {
        #[arg(long)]
        customer: Uuid,
    },
    /// Validate a draft invoice: it gets the tenant's next number.
    Validate { invoice: Uuid },
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
        BillingOp::Invoices { customer } => {
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
            for i in invoices {
                println!(
                    "{}  {:<13} {:<10} order {}  {} incl. VAT",
                    i.id,
                    if i.number.is_empty() {
                        "(draft)"
                    } else {
                        &i.number
                    },
                    status(i.status),
                    i.order_id,
                    euros(i.total_incl_vat.as_ref())
                );
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
                "invoice {} is {} as {}, {} incl. VAT",
                i.id,
                status(i.status),
                i.number,
                euros(i.total_incl_vat.as_ref())
            );
        }
    }
    Ok(())
}
