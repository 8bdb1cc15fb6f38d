//! Seed 001: an invoice the ERP validated reaches billing through the
//! connector once (a draft waits; one for a customer the shop does not know
//! is reported), the customer's saved card is debited through the payment
//! provider's HTTP API, the invoice is paid, and the customer gets it by
//! e-mail with its PDF; subscribers see it validated, debited and paid.

use std::time::Duration;

use prost::Message;
use relais_connector::adapter::ErpAdapter;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    billing::{GetInvoiceDocumentRequest, InvoiceStatus, ListPaymentsRequest, PaymentStatus},
    connector::ConflictPolicy,
    events::InvoiceChanged,
};
use serde_json::json;

use crate::support::{fields, pdf_text_of, spawn_with_billing, text};

/// The payment simulator served over HTTP, and billing's Stripe adapter
/// calling it.
async fn provider_over_http() -> (
    relais_billing::Simulator,
    std::sync::Arc<dyn relais_billing::PaymentProvider>,
) {
    let simulator = relais_billing::Simulator::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Served until the test's runtime ends.
    tokio::spawn(axum::serve(listener, simulator.router()).into_future());
    let stripe =
        relais_billing::StripeProvider::new(&format!("http://{addr}"), "sk_test_relais").unwrap();
    (simulator, std::sync::Arc::new(stripe))
}

/// Ménage à domicile, 4 h at 25 € + 20 % VAT, as the ERP holds it: 120.00 €.
fn erp_invoice(customer: &str, number: &str, status: &str) -> serde_json::Value {
    json!({
        "number": number, "customer": customer, "status": status,
        "validated_at": "2026-11-30T10:00:00Z", "payment_mode": "card", "currency": "EUR",
        "lines": [{
            "reference": "MEN-H", "description": "Ménage à domicile, novembre", "quantity": 4,
            "unit_price_cents": 2500, "vat_rate_bp": 2000, "discount_bp": 0,
            "total_excl_vat_cents": 10_000,
        }],
        "total_incl_vat_cents": 12_000,
    })
}

#[tokio::test]
async fn an_invoice_validated_in_the_erp_is_debited_mailed_and_paid() {
    let (simulator, provider) = provider_over_http().await;
    let stack = spawn_with_billing(
        relais_testkit::Stack::builder()
            .connector()
            .erp()
            .payment_provider(provider),
    )
    .await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let claire = stack
        .customer("Claire", "Moreau", "claire@example.org", "pm_card_visa")
        .await;
    let mut erp_claire_record = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == claire)
        .await;
    // Bound before the documents naming it are pulled, or they are parked.
    stack
        .bound(&connection, "customer", &erp_claire_record)
        .await;
    let erp_claire = erp_claire_record.remove(0).id;
    let erp = stack.erp();
    let stranger = erp
        .upsert(
            "customer",
            None,
            "erp-only",
            &fields(json!({ "last_name": "Inconnu" })),
        )
        .await
        .unwrap()
        .id;

    // A draft waits.
    let draft = erp
        .upsert(
            "invoice",
            None,
            "inv-42",
            &fields(erp_invoice(&erp_claire, "OG-2026-0042", "draft")),
        )
        .await
        .unwrap();
    let run = stack.run(&connection, "invoices").await;
    assert_eq!((run.applied, run.skipped), (0, 1), "a draft waits: {run:?}");

    // Validated in the ERP, with another for a customer the shop does not
    // know: that one is reported.
    erp.upsert(
        "invoice",
        Some(&draft.id),
        "",
        &fields(json!({ "status": "validated" })),
    )
    .await
    .unwrap();
    erp.upsert(
        "invoice",
        None,
        "inv-43",
        &fields(erp_invoice(&stranger, "OG-2026-0043", "validated")),
    )
    .await
    .unwrap();
    let run = stack.run(&connection, "invoices").await;
    assert_eq!((run.applied, run.failed), (1, 1), "{run:?}");
    assert!(
        run.errors
            .iter()
            .any(|e| e.contains(&stranger) && e.contains("not bound")),
        "{:?}",
        run.errors
    );
    let recorded = stack.invoices(&claire, 1).await.remove(0);
    assert_eq!(recorded.number, "OG-2026-0042");
    assert_eq!(recorded.origin, "erp:test-erp");
    assert_eq!(recorded.customer_name, "Claire Moreau");
    assert_eq!(
        recorded.total_incl_vat.as_ref().unwrap().amount_cents,
        12_000
    );

    // Debited from the saved card, and paid.
    let paid = stack.invoice_once(&recorded.id, InvoiceStatus::Paid).await;
    assert!(paid.paid_at.is_some());
    let payments = stack
        .billing()
        .list_payments(stack.admin(ListPaymentsRequest {
            invoice_id: recorded.id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .payments;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Succeeded as i32);
    assert_eq!(payments[0].amount.as_ref().unwrap().amount_cents, 12_000);
    assert!(payments[0].provider_ref.starts_with("pi_"));
    let charges = simulator.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(
        (charges[0].invoice_id.as_str(), charges[0].amount_cents),
        (recorded.id.as_str(), 12_000)
    );

    // Sent once: the next run skips it; and were the connector to send it
    // again (a redelivery), billing knows its number: no new debit.
    let again = stack.run(&connection, "invoices").await;
    assert_eq!(again.applied, 0, "{again:?}");
    let as_connector = relais_testkit::sign(&Claims {
        sub: "connector".into(),
        connection: Some("test-erp".into()),
        ..stack.claims(Role::Connector)
    });
    let redelivered = stack
        .billing()
        .record_erp_invoice(with_token(
            &as_connector,
            relais_testkit::erp_invoice("OG-2026-0042", &claire),
        ))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(redelivered.id, recorded.id);
    assert_eq!(simulator.charges().len(), 1);

    // The document, as the customer reads it.
    let doc = stack
        .billing()
        .get_invoice_document(stack.admin(GetInvoiceDocumentRequest {
            id: recorded.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(doc.content_type, "application/pdf");
    assert_eq!(doc.file_name, "OG-2026-0042.pdf");
    let text = pdf_text_of(&doc.content);
    for expected in [
        "Facture OG-2026-0042",
        "Claire Moreau",
        "12 rue de la République",
        "Ménage à domicile, novembre",
        "25,00 €",
        "TVA 20 % sur 100,00 €",
        "Total TTC",
        "120,00 €",
        "Prélevée sur la carte",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    // The e-mail, with the same PDF attached.
    let mail = stack.mails_about("OG-2026-0042", 1).await.remove(0);
    assert_eq!(mail.to, "claire@example.org");
    assert_eq!(mail.subject, "Votre facture OG-2026-0042");
    assert!(
        mail.body.contains("va être prélevé sur la carte"),
        "{mail:?}"
    );
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].0, "OG-2026-0042.pdf");
    assert!(pdf_text_of(&mail.attachments[0].1).contains("120,00 €"));

    // Subscribers: validated, debited, paid.
    let events = testing::read_stream(
        &stack.jetstream().await,
        &stack.ns.stream("billing"),
        3,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let names: Vec<String> = events
        .iter()
        .map(|m| m.subject.rsplit('.').take(2).collect::<Vec<_>>().join("<"))
        .collect();
    assert!(
        names.starts_with(&[
            "validated<invoice".to_owned(),
            "succeeded<payment".to_owned(),
            "paid<invoice".to_owned()
        ]),
        "{names:?}"
    );
    let paid_event = InvoiceChanged::decode(events[2].payload.as_ref()).unwrap();
    assert_eq!(
        paid_event.invoice.unwrap().status,
        InvoiceStatus::Paid as i32
    );
}
