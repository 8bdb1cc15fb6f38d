//! Billing as the customer reads it: invoices once there, the mails
//! billing sent, decoded by a real MIME parser, and PDFs' text.

use std::time::Duration;

use relais_platform::testing;
use relais_proto::{
    billing::{GetInvoiceRequest, Invoice, InvoiceStatus, ListInvoicesRequest},
    types::PageRequest,
};

use super::Relais;

impl Relais {
    // Billing, as the customer reads it.

    /// The customer's invoices once there are `n`.
    pub async fn invoices(&self, customer: &str, n: usize) -> Vec<Invoice> {
        let list = || async {
            self.billing()
                .list_invoices(self.admin(ListInvoicesRequest {
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token: String::new(),
                    }),
                    customer_id: customer.into(),
                }))
                .await
                .ok()
                .map(|r| r.into_inner().invoices)
        };
        testing::eventually(Duration::from_secs(15), || async {
            list().await.filter(|l| l.len() == n)
        })
        .await
        .unwrap_or_else(|| panic!("expected {n} invoices"))
    }

    /// The invoice once it is `status`.
    pub async fn invoice_once(&self, id: &str, status: InvoiceStatus) -> Invoice {
        testing::eventually(Duration::from_secs(15), || async {
            let i = self
                .billing()
                .get_invoice(self.admin(GetInvoiceRequest { id: id.into() }))
                .await
                .ok()?
                .into_inner()
                .invoice?;
            (i.status == status as i32).then_some(i)
        })
        .await
        .unwrap_or_else(|| panic!("invoice {id} never became {status:?}"))
    }

    /// The mails billing wrote so far whose subject mentions `about`, once
    /// there are `n`.
    pub async fn mails_about(&self, about: &str, n: usize) -> Vec<ReadMail> {
        let dir = self.mail_dir.as_ref().expect("a stack with billing's mail");
        testing::eventually(Duration::from_secs(10), || async {
            let found: Vec<ReadMail> = testing::mails_in(dir)
                .iter()
                .map(|m| read_mail(m))
                .filter(|m| m.subject.contains(about))
                .collect();
            (found.len() >= n).then_some(found)
        })
        .await
        .unwrap_or_else(|| panic!("no {n} mail(s) about {about}"))
    }
}

pub use relais_testkit::reading::{ReadMail, pdf_text_of, read_mail};
