//! Paid orders become draft invoices, once; validation numbers them with no
//! gap, even when many are validated at once.

use std::time::Duration;

use chrono::Datelike;
use prost::Message;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    billing::{
        GetInvoiceRequest, Invoice, InvoiceStatus, ListInvoicesRequest, ValidateInvoiceRequest,
        billing_service_client::BillingServiceClient,
    },
    catalogue::{
        CreateProductRequest, ProductFields, SetStockRequest,
        catalogue_service_client::CatalogueServiceClient,
    },
    events::{InvoiceChanged, OrderStatusChanged},
    orders::{
        Address, ChangeOrderStatusRequest, CreateCustomerRequest, CustomerFields, OrderLineRequest,
        OrderStatus, PaymentMode, PlaceProductOrderRequest,
        orders_service_client::OrdersServiceClient,
    },
    types::{Money, PageRequest},
};
use tonic::{Code, transport::Channel};
use uuid::Uuid;

pub(crate) struct Stack {
    pub tenant: Uuid,
    pub orders: OrdersServiceClient<Channel>,
    pub catalogue: CatalogueServiceClient<Channel>,
    pub billing: BillingServiceClient<Channel>,
    pub planning: relais_proto::planning::planning_service_client::PlanningServiceClient<Channel>,
    pub js: async_nats::jetstream::Context,
    pub ns: relais_platform::nats::Namespace,
    /// Where the service writes the mails it sends.
    pub mail_dir: std::path::PathBuf,
    /// The payment provider behind billing (in process unless `spawn_with`
    /// was given another).
    pub provider: relais_billing::Simulator,
    _kit: relais_testkit::Stack,
}

pub(crate) async fn spawn() -> Stack {
    spawn_with(None).await
}

/// The stack with billing's mail sent to `smtp` (a URL) instead of the
/// folder.
pub(crate) async fn spawn_with(smtp: Option<String>) -> Stack {
    let simulator = relais_billing::Simulator::new();
    let provider: std::sync::Arc<dyn relais_billing::PaymentProvider> =
        std::sync::Arc::new(simulator.clone());
    let (mail_dir_tx, mail_dir) = std::sync::mpsc::channel();
    let kit = relais_testkit::Stack::builder()
        .orders()
        .payment_provider(provider)
        .with_billing(move |cfg| {
            cfg.platform.mail.smtp_url = smtp;
            let _ = mail_dir_tx.send(cfg.platform.mail.dir.clone());
        })
        .spawn()
        .await
        .unwrap();
    Stack {
        tenant: kit.tenant,
        orders: kit.orders(),
        catalogue: kit.catalogue(),
        billing: kit.billing(),
        planning: kit.planning(),
        js: kit.jetstream().await,
        ns: kit.ns.clone(),
        mail_dir: mail_dir.recv().unwrap(),
        provider: simulator,
        _kit: kit,
    }
}

impl Stack {
    pub fn token(&self, role: Role, customer: Option<Uuid>) -> String {
        testing::token_with(&Claims {
            sub: "tester".into(),
            tenant: self.tenant,
            role,
            customer_id: customer,
            residences: vec![],
            connection: None,
            exp: chrono::Utc::now().timestamp() + 600,
        })
    }

    pub fn admin<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(&self.token(Role::Admin, None), msg)
    }

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
}

#[tokio::test]
async fn a_paid_order_becomes_one_draft_invoice_then_a_numbered_one() {
    let stack = spawn().await;
    let (customer, orders) = stack.paid_orders(1).await;
    let invoices = stack.invoices(&customer, 1).await;
    let draft = &invoices[0];
    assert_eq!(draft.order_id, orders[0]);
    assert_eq!(draft.status, InvoiceStatus::Draft as i32);
    assert_eq!(draft.number, "");
    // 3 × 11.90 less 10 % = 32.13, VAT 20 % = 6.43 (half-up): the order's.
    assert_eq!(draft.total_excl_vat.as_ref().unwrap().amount_cents, 3213);
    assert_eq!(draft.total_vat.as_ref().unwrap().amount_cents, 643);
    assert_eq!(draft.lines[0].description, "Gants");
    assert_eq!(draft.vat_breakdown[0].vat_rate_bp, 2000);

    // The confirmation delivered again under another id bills nothing twice.
    let confirmed = testing::read_stream(
        &stack.js,
        &stack.ns.stream("orders"),
        1,
        Duration::from_secs(5),
    )
    .await
    .unwrap()
    .into_iter()
    .find(|m| {
        m.subject.ends_with(".order.confirmed")
            && OrderStatusChanged::decode(m.payload.as_ref()).is_ok()
    })
    .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", Uuid::now_v7().to_string().as_str());
    stack
        .js
        .publish_with_headers(
            confirmed.subject.clone(),
            headers,
            confirmed.payload.clone(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    // The consumer takes events in order: once an order confirmed after the
    // copy has its invoice, the copy has been handled too.
    let product = stack
        .catalogue
        .clone()
        .list_products(stack.admin(relais_proto::catalogue::ListProductsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .products[0]
        .id
        .clone();
    let later = stack
        .orders
        .clone()
        .place_product_order(stack.admin(PlaceProductOrderRequest {
            customer_id: customer.clone(),
            lines: vec![OrderLineRequest {
                item_id: product,
                quantity: 1,
                discount_bp: 0,
            }],
            shipping_method: "delivery".into(),
            payment_mode: PaymentMode::Card as i32,
            terms_accepted: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: later.id.clone(),
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    let both = stack.invoices(&customer, 2).await;
    assert_eq!(both.iter().filter(|i| i.order_id == orders[0]).count(), 1);
    assert!(both.iter().any(|i| i.order_id == later.id));

    let mut billing = stack.billing.clone();
    let validated = billing
        .validate_invoice(stack.admin(ValidateInvoiceRequest {
            id: draft.id.clone(),
            expected_version: 1,
        }))
        .await
        .expect("validated")
        .into_inner()
        .invoice
        .unwrap();
    let year = chrono::Utc::now().year();
    assert_eq!(validated.number, format!("F{year}-000001"));
    // Paid by card at checkout: validated and paid at once.
    assert_eq!(validated.status, InvoiceStatus::Paid as i32);
    assert!(validated.validated_at.is_some() && validated.paid_at.is_some());
    let err = billing
        .validate_invoice(stack.admin(ValidateInvoiceRequest {
            id: draft.id.clone(),
            expected_version: 0,
        }))
        .await
        .expect_err("twice");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains(&validated.number),
        "{}",
        err.message()
    );

    // The customer reads it; another customer, or another tenant, cannot.
    let me = stack.token(Role::Customer, Some(Uuid::parse_str(&customer).unwrap()));
    billing
        .get_invoice(with_token(
            &me,
            GetInvoiceRequest {
                id: draft.id.clone(),
            },
        ))
        .await
        .expect("their own");
    let stranger = stack.token(Role::Customer, Some(Uuid::now_v7()));
    let err = billing
        .get_invoice(with_token(
            &stranger,
            GetInvoiceRequest {
                id: draft.id.clone(),
            },
        ))
        .await
        .expect_err("someone else's");
    assert_eq!(err.code(), Code::NotFound);
    let other_tenant = testing::token(Uuid::now_v7(), Role::Admin);
    let err = billing
        .validate_invoice(with_token(
            &other_tenant,
            ValidateInvoiceRequest {
                id: draft.id.clone(),
                expected_version: 0,
            },
        ))
        .await
        .expect_err("another tenant");
    assert_eq!(err.code(), Code::NotFound);

    // Subscribers: drafted once, validated once.
    let events = testing::read_stream(
        &stack.js,
        &stack.ns.stream("billing"),
        3,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let names: Vec<String> = events
        .iter()
        .map(|m| m.subject.rsplit('.').next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["drafted", "drafted", "validated", "paid"]);
    let last = InvoiceChanged::decode(events[2].payload.as_ref()).unwrap();
    assert_eq!(last.invoice.unwrap().number, validated.number);
}

#[tokio::test]
async fn concurrent_validations_number_without_gaps_or_duplicates() {
    let stack = spawn().await;
    let (customer, _) = stack.paid_orders(12).await;
    let drafts = stack.invoices(&customer, 12).await;
    let calls = drafts.iter().map(|d| {
        let mut billing = stack.billing.clone();
        let req = stack.admin(ValidateInvoiceRequest {
            id: d.id.clone(),
            expected_version: 0,
        });
        async move { billing.validate_invoice(req).await }
    });
    let mut numbers: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("validated").into_inner().invoice.unwrap().number)
        .collect();
    numbers.sort();
    let year = chrono::Utc::now().year();
    let expected: Vec<String> = (1..=12).map(|n| format!("F{year}-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn refunds_and_cancellations_are_credit_notes_never_edits() {
    use relais_proto::billing::CreateCreditNoteRequest;
    let stack = spawn().await;
    let (customer, orders) = stack.paid_orders(2).await;
    let drafts = stack.invoices(&customer, 2).await;
    let by_order = |o: &str| drafts.iter().find(|d| d.order_id == o).unwrap().clone();
    let (first, second) = (by_order(&orders[0]), by_order(&orders[1]));
    let mut billing = stack.billing.clone();
    let validated = billing
        .validate_invoice(stack.admin(ValidateInvoiceRequest {
            id: first.id.clone(),
            expected_version: 0,
        }))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    let credit = |amount: Option<i64>, key: &str| CreateCreditNoteRequest {
        idempotency_key: key.into(),
        invoice_id: validated.id.clone(),
        amount: amount.map(|a| Money {
            amount_cents: a,
            currency: "EUR".into(),
        }),
        reason: "gants abîmés".into(),
    };
    // 38.56 incl. VAT was billed: 50.00 cannot be refunded.
    let err = billing
        .create_credit_note(stack.admin(credit(Some(5000), "c1")))
        .await
        .expect_err("too much");
    testing::assert_bad_field(&err, "amount");
    let year = chrono::Utc::now().year();
    let partial = billing
        .create_credit_note(stack.admin(credit(Some(1200), "c2")))
        .await
        .expect("partial refund")
        .into_inner()
        .credit_note
        .unwrap();
    assert_eq!(partial.number, format!("A{year}-000001"));
    assert_eq!(partial.kind, "credit_note");
    assert_eq!(partial.credited_invoice_id, validated.id);
    // 12.00 incl. 20 %: 10.00 + 2.00.
    assert_eq!(partial.total_excl_vat.as_ref().unwrap().amount_cents, 1000);
    assert_eq!(partial.total_vat.as_ref().unwrap().amount_cents, 200);
    // The invoice itself is unchanged.
    let invoice = billing
        .get_invoice(stack.admin(GetInvoiceRequest {
            id: validated.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(invoice.total_incl_vat, validated.total_incl_vat);
    assert_eq!(invoice.version, validated.version);

    // Cancelling the orders: the validated one is credited for what is left
    // (38.56 - 12.00 = 26.56), the draft is voided and never numbered.
    for o in &orders {
        stack
            .orders
            .clone()
            .change_order_status(stack.admin(ChangeOrderStatusRequest {
                id: o.clone(),
                status: OrderStatus::Cancelled as i32,
                reason: "client parti".into(),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    let all = stack.invoices(&customer, 4).await;
    let rest = all
        .iter()
        .find(|i| i.number == format!("A{year}-000002"))
        .expect("the rest credited");
    assert_eq!(
        rest.total_incl_vat.as_ref().unwrap().amount_cents,
        3856 - 1200
    );
    let void = testing::eventually(Duration::from_secs(10), || async {
        let mut b = stack.billing.clone();
        let i = b
            .get_invoice(stack.admin(GetInvoiceRequest {
                id: second.id.clone(),
            }))
            .await
            .ok()?
            .into_inner()
            .invoice?;
        (i.status == InvoiceStatus::Void as i32).then_some(i)
    })
    .await
    .expect("voided");
    assert_eq!(void.number, "");
    // Nothing is left to credit.
    let err = billing
        .create_credit_note(stack.admin(credit(None, "c3")))
        .await
        .expect_err("nothing left");
    assert_eq!(err.code(), Code::FailedPrecondition);
}
