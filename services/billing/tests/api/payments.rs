//! Validation of an invoice (ours or the ERP's) debits the customer's saved
//! card through the payment provider, keeps the PDF and e-mails it; every
//! decline path ends where a customer and staff expect; a credit note on a
//! debited invoice is refunded.

use std::time::Duration;

use prost::Message;
use relais_platform::testing::{self};
use relais_proto::{
    billing::{
        CreateCreditNoteRequest, GetInvoiceDocumentRequest, InvoiceStatus, ListInvoicesRequest,
        PaymentStatus, ValidateInvoiceRequest,
    },
    events::InvoiceChanged,
};
use tonic::Code;

use crate::stack::{spawn, spawn_with};

use crate::helpers::{eur, pdf_text_of, read_mail};

#[tokio::test]
async fn a_debit_whose_answer_was_lost_is_asked_again_and_charged_once() {
    let stack = spawn().await;
    let claire = stack
        .customer("Lost", "lost@example.org", "pm_card_networkError")
        .await;
    let invoice = stack.erp_invoice("OG-1", &claire).await;
    stack.invoice_once(&invoice.id, InvoiceStatus::Paid).await;
    let payments = stack.payments(&invoice.id).await;
    // One attempt, sent twice with its idempotency key: one charge.
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].calls, 2);
    assert_eq!(payments[0].status, PaymentStatus::Succeeded as i32);
    assert_eq!(stack.provider.charges().len(), 1);
    assert_eq!(stack.provider.calls(), 2);
}

#[tokio::test]
async fn declined_cards_fail_the_invoice_or_are_tried_again() {
    let stack = spawn().await;
    let hard = stack
        .customer("Declined", "declined@example.org", "pm_card_chargeDeclined")
        .await;
    let expired = stack
        .customer(
            "Expired",
            "expired@example.org",
            "pm_card_chargeDeclinedExpiredCard",
        )
        .await;
    let broke = stack
        .customer(
            "Broke",
            "broke@example.org",
            "pm_card_chargeDeclinedInsufficientFunds",
        )
        .await;
    let later = stack
        .customer(
            "Later",
            "later@example.org",
            "pm_card_insufficientFundsOnce",
        )
        .await;
    let hard_inv = stack.erp_invoice("OG-H", &hard).await;
    let expired_inv = stack.erp_invoice("OG-E", &expired).await;
    let broke_inv = stack.erp_invoice("OG-B", &broke).await;
    let later_inv = stack.erp_invoice("OG-L", &later).await;

    // A hard decline fails at once, and the customer is told.
    stack
        .invoice_once(&hard_inv.id, InvoiceStatus::PaymentFailed)
        .await;
    let p = stack.payments(&hard_inv.id).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].failure_code, "generic_decline");
    stack
        .invoice_once(&expired_inv.id, InvoiceStatus::PaymentFailed)
        .await;
    assert_eq!(
        stack.payments(&expired_inv.id).await[0].failure_code,
        "expired_card"
    );

    // Insufficient funds is soft: new attempts (new keys) until the last.
    stack
        .invoice_once(&broke_inv.id, InvoiceStatus::PaymentFailed)
        .await;
    let p = stack.payments(&broke_inv.id).await;
    assert_eq!(
        p.iter().map(|p| p.attempt).collect::<Vec<_>>(),
        [1, 2, 3],
        "three attempts (the test config's maximum)"
    );
    assert!(p.iter().all(|p| p.failure_code == "insufficient_funds"));

    // Funds arrived before the second attempt: paid.
    stack.invoice_once(&later_inv.id, InvoiceStatus::Paid).await;
    let p = stack.payments(&later_inv.id).await;
    assert_eq!(
        p.iter().map(|p| p.status).collect::<Vec<_>>(),
        [
            PaymentStatus::Failed as i32,
            PaymentStatus::Succeeded as i32
        ]
    );
    // Only the paid one was charged.
    let charged: Vec<String> = stack
        .provider
        .charges()
        .into_iter()
        .map(|c| c.invoice_id)
        .collect();
    assert_eq!(charged, std::slice::from_ref(&later_inv.id));

    // Failures are published, and mailed to each customer.
    let events = stack.billing_events(12).await;
    let failed: Vec<String> = events
        .iter()
        .filter(|(n, _)| n == "payment_failed<invoice")
        .map(|(_, p)| {
            InvoiceChanged::decode(p.as_slice())
                .unwrap()
                .invoice
                .unwrap()
                .number
        })
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    for (to, number, why) in [
        (
            "declined@example.org",
            "OG-H",
            "paiement refusé (generic_decline)",
        ),
        ("expired@example.org", "OG-E", "carte expirée"),
        ("broke@example.org", "OG-B", "provision insuffisante"),
    ] {
        let mail = stack
            .mails_about(&format!("Échec du paiement de votre facture {number}"), 1)
            .await
            .remove(0);
        assert_eq!(mail.to, to);
        assert!(mail.body.contains(why), "{mail:?}");
    }
    // The customer whose second attempt passed got no failure mail.
    assert!(
        testing::mails_in(&stack.mail_dir)
            .iter()
            .map(|m| read_mail(m))
            .all(|m| !(m.to == "later@example.org" && m.subject.starts_with("Échec")))
    );
}

#[tokio::test]
async fn a_credit_note_on_a_debited_invoice_is_refunded_to_the_card() {
    let stack = spawn().await;
    let claire = stack
        .customer("Refund", "refund@example.org", "pm_card_visa")
        .await;
    let invoice = stack.erp_invoice("OG-R", &claire).await;
    stack.invoice_once(&invoice.id, InvoiceStatus::Paid).await;
    let note = stack
        .billing
        .clone()
        .create_credit_note(stack.admin(CreateCreditNoteRequest {
            idempotency_key: "refund-1".into(),
            invoice_id: invoice.id.clone(),
            amount: eur(3_000),
            reason: "intervention écourtée".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .credit_note
        .unwrap();
    let refund = testing::eventually(Duration::from_secs(10), || async {
        stack
            .payments(&invoice.id)
            .await
            .into_iter()
            .find(|p| p.kind == "refund" && p.status == PaymentStatus::Succeeded as i32)
    })
    .await
    .expect("a refund");
    assert_eq!(refund.credit_note_id, note.id);
    assert_eq!(refund.amount.unwrap().amount_cents, 3_000);
    assert_eq!(stack.provider.charges()[0].refunded_cents, 3_000);
    let (file, text) = stack.document_text(&note.id).await;
    assert_eq!(file, format!("{}.pdf", note.number));
    assert!(text.contains(&format!("Avoir {}", note.number)), "{text}");
    assert!(text.contains("Avoir sur la facture OG-R"), "{text}");
    assert!(text.contains("30,00 €"), "{text}");
    let mail = stack.mails_about(&note.number, 1).await.remove(0);
    assert_eq!(mail.to, "refund@example.org");
    assert!(mail.body.contains("remboursé sur la carte"), "{mail:?}");
    assert_eq!(mail.attachments[0].0, format!("{}.pdf", note.number));
}

#[tokio::test]
async fn erp_invoices_that_do_not_add_up_or_belong_elsewhere_are_refused() {
    let stack = spawn().await;
    let claire = stack
        .customer("Strict", "s@example.org", "pm_card_visa")
        .await;
    // Known to billing first (a good invoice), so refusals are about input.
    stack.erp_invoice("OG-OK", &claire).await;
    let mut billing = stack.billing.clone();

    let mut wrong_total = stack.erp_request("OG-X1", &claire);
    wrong_total.total_incl_vat = eur(11_999);
    let err = billing
        .record_erp_invoice(stack.connector(wrong_total))
        .await
        .unwrap_err();
    testing::assert_bad_field(&err, "total_incl_vat");

    let mut wrong_line = stack.erp_request("OG-X2", &claire);
    wrong_line.lines[0].total_excl_vat = eur(9_000);
    let err = billing
        .record_erp_invoice(stack.connector(wrong_line))
        .await
        .unwrap_err();
    testing::assert_bad_field(&err, "lines[0].total_excl_vat");

    let err = billing
        .record_erp_invoice(stack.admin(stack.erp_request("OG-X3", &claire)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Another tenant's customer is unknown here.
    let stranger = uuid::Uuid::now_v7().to_string();
    let err = billing
        .record_erp_invoice(stack.connector(stack.erp_request("OG-X4", &stranger)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Nothing was stored or charged for any of them.
    let listed = billing
        .list_invoices(stack.admin(ListInvoicesRequest {
            customer_id: claire.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert_eq!(
        listed.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(),
        ["OG-OK"]
    );
}

#[tokio::test]
async fn an_order_paid_by_card_is_paid_on_validation_and_mailed_over_smtp() {
    let sink = testing::SmtpSink::start().await.unwrap();
    let stack = spawn_with(Some(sink.url())).await;
    let (customer, _) = stack.paid_orders(1).await;
    let draft = stack.invoices(&customer, 1).await.remove(0);
    assert!(draft.paid_at_order);
    // A draft has no document yet.
    let err = stack
        .billing
        .clone()
        .get_invoice_document(stack.admin(GetInvoiceDocumentRequest {
            id: draft.id.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let validated = stack
        .billing
        .clone()
        .validate_invoice(stack.admin(ValidateInvoiceRequest {
            id: draft.id.clone(),
            expected_version: 0,
        }))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    // Paid at checkout: nothing to debit.
    assert_eq!(validated.status, InvoiceStatus::Paid as i32);
    assert!(stack.payments(&draft.id).await.is_empty());
    assert!(stack.provider.charges().is_empty());
    let (_, text) = stack.document_text(&draft.id).await;
    assert!(text.contains("Payée à la commande"), "{text}");
    assert!(text.contains("Gants (remise 10 %)"), "{text}");
    let mail = testing::eventually(Duration::from_secs(10), || async {
        sink.received()
            .iter()
            .map(|m| read_mail(m))
            .find(|m| m.subject.contains(&validated.number))
    })
    .await
    .expect("the invoice reaches the SMTP server");
    assert_eq!(mail.to, "paul@example.org");
    assert!(mail.body.contains("réglée à la commande"), "{mail:?}");
    assert_eq!(mail.attachments[0].0, format!("{}.pdf", validated.number));
    assert!(pdf_text_of(&mail.attachments[0].1).contains(&validated.number));
    assert!(testing::mails_in(&stack.mail_dir).is_empty());
}

#[tokio::test]
async fn an_invoice_validated_event_from_the_connector_follows_the_same_path_once() {
    use relais_proto::events::{ErpInvoiceValidated, EventMeta};
    let stack = spawn().await;
    let claire = stack
        .customer("Event", "event@example.org", "pm_card_visa")
        .await;
    // Billing knows Claire once an API call for her goes through.
    stack.erp_invoice("OG-API", &claire).await;
    stack
        .ns
        .ensure_stream(&stack.js, "connector")
        .await
        .unwrap();
    let publish = |number: &str, total: i64| {
        let mut request = stack.erp_request(number, &claire);
        request.total_incl_vat = eur(total);
        let event_id = uuid::Uuid::now_v7();
        let payload = ErpInvoiceValidated {
            meta: Some(EventMeta {
                event_id: event_id.to_string(),
                tenant_id: stack.tenant.to_string(),
                origin: "erp:demo-erp".into(),
                actor: "connector".into(),
                ..Default::default()
            }),
            invoice: Some(request),
        }
        .encode_to_vec();
        let subject = stack
            .ns
            .subject("connector", stack.tenant, "invoice", "validated");
        let js = stack.js.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
            js.publish_with_headers(subject, headers, payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    // The same invoice twice (the connector retried), and one whose lines
    // do not add up.
    publish("OG-EV-1", 12_000).await;
    publish("OG-EV-1", 12_000).await;
    publish("OG-EV-BAD", 1).await;
    let paid = testing::eventually(Duration::from_secs(15), || async {
        stack
            .billing
            .clone()
            .list_invoices(stack.admin(ListInvoicesRequest {
                customer_id: claire.clone(),
                ..Default::default()
            }))
            .await
            .ok()?
            .into_inner()
            .invoices
            .into_iter()
            .find(|i| i.number == "OG-EV-1" && i.status == InvoiceStatus::Paid as i32)
    })
    .await
    .expect("the event's invoice is recorded and paid");
    assert_eq!(paid.origin, "erp:demo-erp");
    // Later events handled too: the bad one went to the dead letters.
    let dead = testing::read_stream(
        &stack.js,
        &stack.ns.dead_letter_stream(),
        1,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(dead.len(), 1);
    let invoices = stack.invoices(&claire, 2).await;
    assert_eq!(invoices.iter().filter(|i| i.number == "OG-EV-1").count(), 1);
    let charged: i64 = stack
        .provider
        .charges()
        .iter()
        .filter(|c| c.invoice_id == paid.id)
        .map(|c| c.amount_cents)
        .sum();
    assert_eq!(charged, 12_000, "charged once");
    let mail = stack.mails_about("OG-EV-1", 1).await;
    assert_eq!(mail.len(), 1);
}
