//! What billing's tests make and read back: customers, paid orders, ERP
//! invoices; invoices once they reach a status, payments, documents, the
//! mails sent (decoded as their reader sees them) and billing's events.

use std::time::Duration;

use relais_platform::testing::{self};
use relais_proto::{
    billing::{
        GetInvoiceDocumentRequest, GetInvoiceRequest, Invoice, InvoiceStatus, ListInvoicesRequest,
        ListPaymentsRequest, Payment, RecordErpInvoiceRequest,
    },
    catalogue::{CreateProductRequest, ProductFields, SetStockRequest},
    orders::{
        Address, ChangeOrderStatusRequest, CreateCustomerRequest, CustomerFields, OrderLineRequest,
        OrderStatus, PaymentMode, PlaceProductOrderRequest,
    },
    types::{Money, PageRequest},
};

use crate::stack::Stack;

pub(crate) fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

impl Stack {
    /// A customer, a product, and `n` card orders confirmed (paid).
    pub async fn paid_orders(&self, n: usize) -> (String, Vec<String>) {
        let customer = self
            .orders
            .clone()
            .create_customer(self.admin(CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: "Paul".into(),
                    last_name: "Durand".into(),
                    email: "paul@example.org".into(),
                    billing_address: Some(Address {
                        line1: "3 rue Sala".into(),
                        postal_code: "69002".into(),
                        city: "Lyon".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
            .id;
        let product = self
            .catalogue
            .clone()
            .create_product(self.admin(CreateProductRequest {
                idempotency_key: String::new(),
                fields: Some(ProductFields {
                    sku: "ENT-001".into(),
                    designation: "Gants".into(),
                    price: Some(Money {
                        amount_cents: 1190,
                        currency: "EUR".into(),
                    }),
                    vat_rate_bp: 2000,
                    active: true,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .product
            .unwrap()
            .id;
        self.catalogue
            .clone()
            .set_stock(self.admin(SetStockRequest {
                product_id: product.clone(),
                real: 10_000,
                available: 10_000,
            }))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for _ in 0..n {
            let order = self
                .confirmed_order(&customer, &product, 3, 1000, PaymentMode::Card)
                .await;
            ids.push(order.id);
        }
        (customer, ids)
    }

    /// An order of `quantity` × `product` for `customer`, paid by `mode`,
    /// placed and confirmed.
    pub async fn confirmed_order(
        &self,
        customer: &str,
        product: &str,
        quantity: i32,
        discount_bp: i32,
        mode: PaymentMode,
    ) -> relais_proto::orders::Order {
        let mut orders = self.orders.clone();
        let order = orders
            .place_product_order(self.admin(PlaceProductOrderRequest {
                customer_id: customer.into(),
                lines: vec![OrderLineRequest {
                    item_id: product.into(),
                    quantity,
                    discount_bp,
                }],
                shipping_method: "delivery".into(),
                payment_mode: mode as i32,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        orders
            .change_order_status(self.admin(ChangeOrderStatusRequest {
                id: order.id.clone(),
                status: OrderStatus::Confirmed as i32,
                ..Default::default()
            }))
            .await
            .unwrap();
        order
    }

    /// The customer's invoices once there are `n`.
    pub async fn invoices(&self, customer: &str, n: usize) -> Vec<Invoice> {
        let list = || async {
            self.billing
                .clone()
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

    /// An online customer with `email` and a saved card `card`.
    pub(crate) async fn customer(&self, last_name: &str, email: &str, card: &str) -> String {
        self.orders
            .clone()
            .create_customer(self.admin(CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: "Claire".into(),
                    last_name: last_name.into(),
                    email: email.into(),
                    billing_address: Some(Address {
                        line1: "12 rue de la République".into(),
                        postal_code: "69001".into(),
                        city: "Lyon".into(),
                        ..Default::default()
                    }),
                    payment_method_ref: card.into(),
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
            .id
    }

    /// Ménage à domicile, 4 h at 25 € + 20 % VAT (seed 001): 120.00 €.
    pub(crate) fn erp_request(&self, number: &str, customer: &str) -> RecordErpInvoiceRequest {
        relais_testkit::erp_invoice(number, customer)
    }

    /// Records the ERP's invoice once billing knows the customer (their
    /// event may still be on its way).
    pub(crate) async fn erp_invoice(&self, number: &str, customer: &str) -> Invoice {
        testing::eventually(Duration::from_secs(10), || {
            let mut billing = self.billing.clone();
            let req = self.connector(self.erp_request(number, customer));
            async move {
                billing
                    .record_erp_invoice(req)
                    .await
                    .ok()
                    .and_then(|r| r.into_inner().invoice)
            }
        })
        .await
        .expect("the ERP's invoice is recorded")
    }

    pub(crate) async fn invoice_once(&self, id: &str, status: InvoiceStatus) -> Invoice {
        testing::eventually(Duration::from_secs(15), || {
            let mut billing = self.billing.clone();
            let req = self.admin(GetInvoiceRequest { id: id.into() });
            async move {
                let i = billing.get_invoice(req).await.ok()?.into_inner().invoice?;
                (i.status == status as i32).then_some(i)
            }
        })
        .await
        .unwrap_or_else(|| panic!("invoice {id} never became {status:?}"))
    }

    pub(crate) async fn payments(&self, invoice: &str) -> Vec<Payment> {
        let mut list = self
            .billing
            .clone()
            .list_payments(self.admin(ListPaymentsRequest {
                invoice_id: invoice.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .payments;
        list.reverse();
        list
    }

    pub(crate) async fn document_text(&self, id: &str) -> (String, String) {
        let doc = self
            .billing
            .clone()
            .get_invoice_document(self.admin(GetInvoiceDocumentRequest { id: id.into() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(doc.content_type, "application/pdf");
        (doc.file_name, pdf_text_of(&doc.content))
    }

    /// The mails written so far whose subject mentions `about`, once
    /// there are `n`.
    pub(crate) async fn mails_about(&self, about: &str, n: usize) -> Vec<ReadMail> {
        testing::eventually(Duration::from_secs(10), || async {
            let found: Vec<ReadMail> = testing::mails_in(&self.mail_dir)
                .iter()
                .map(|m| read_mail(m))
                .filter(|m| m.subject.contains(about))
                .collect();
            (found.len() >= n).then_some(found)
        })
        .await
        .unwrap_or_else(|| panic!("no {n} mail(s) about {about}"))
    }

    pub(crate) async fn billing_events(&self, at_least: usize) -> Vec<(String, Vec<u8>)> {
        testing::read_stream(
            &self.js,
            &self.ns.stream("billing"),
            at_least,
            Duration::from_secs(5),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.subject.rsplit('.').take(2).collect::<Vec<_>>().join("<"),
                m.payload.to_vec(),
            )
        })
        .collect()
    }
}

pub(crate) use relais_testkit::reading::{ReadMail, pdf_text_of, read_mail};
