//! Paid orders become draft invoices, once; validation numbers them with no
//! gap, even when many are validated at once.

use std::time::Duration;

use chrono::Datelike;
use prost::Message;
use relais_platform::{
    auth::Role,
    testing::{self, with_token},
};
use relais_proto::{
    billing::{GetInvoiceRequest, InvoiceStatus, ValidateInvoiceRequest},
    events::{InvoiceChanged, OrderStatusChanged},
    orders::{
        ChangeOrderStatusRequest, OrderLineRequest, OrderStatus, PaymentMode,
        PlaceProductOrderRequest,
    },
    types::Money,
};
use tonic::Code;
use uuid::Uuid;

use crate::stack::spawn;

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
