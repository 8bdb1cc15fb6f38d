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

/// A mail as its reader sees it, decoded by a real MIME parser.
#[derive(Debug)]
pub struct ReadMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// (file name, content)
    pub attachments: Vec<(String, Vec<u8>)>,
}

pub fn read_mail(raw: &str) -> ReadMail {
    use mail_parser::{MessageParser, MimeHeaders};
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a parsable mail");
    ReadMail {
        to: m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        subject: m.subject().unwrap_or_default().to_owned(),
        body: m.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
        attachments: m
            .attachments()
            .map(|a| {
                (
                    a.attachment_name().unwrap_or_default().to_owned(),
                    a.contents().to_vec(),
                )
            })
            .collect(),
    }
}

/// The text of a PDF, as a reader copies it out.
pub fn pdf_text_of(bytes: &[u8]) -> String {
    let pdf = lopdf::Document::load_mem(bytes).unwrap();
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    pdf.extract_text(&pages).unwrap()
}
