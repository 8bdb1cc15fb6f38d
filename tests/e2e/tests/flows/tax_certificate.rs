//! A booking is invoiced from the interventions done, at the time worked,
//! and debited from the saved card; a year later the customer's tax
//! certificate adds up what they paid for it, with the hours and the
//! worker, and is mailed; the ERP's certificate of an earlier year comes
//! through the connector and joins it in the customer's account.

use std::time::Duration;

use chrono::{Datelike, Utc};
use relais_connector::adapter::ErpAdapter;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    billing::{
        CertificateWorker, DraftServiceInvoicesRequest, GetTaxCertificateDocumentRequest,
        InvoiceStatus, IssueTaxCertificateRequest, ListTaxCertificatesRequest,
        RecordErpTaxCertificateRequest, TaxCertificate, ValidateInvoiceRequest,
    },
    connector::{ConflictPolicy, ConnectionFields, Direction},
    planning::{
        ChangeInterventionsRequest, ChangeScope, ListInterventionsRequest, MarkDone,
        change_interventions_request::Change,
    },
};
use serde_json::json;
use tonic::Code;

use crate::support::{
    Relais, eur, family, fields, pdf_text_of, spawn_with_billing, text, tomorrow,
};

async fn certificates(stack: &Relais, customer: &str, n: usize) -> Vec<TaxCertificate> {
    testing::eventually(Duration::from_secs(15), || async {
        let list = stack
            .billing()
            .list_tax_certificates(stack.admin(ListTaxCertificatesRequest {
                customer_id: customer.into(),
            }))
            .await
            .ok()?
            .into_inner()
            .certificates;
        (list.len() == n).then_some(list)
    })
    .await
    .unwrap_or_else(|| panic!("{n} certificates in the customer's account"))
}

#[tokio::test]
async fn done_interventions_are_invoiced_and_a_past_year_is_certified() {
    let stack = spawn_with_billing(relais_testkit::Stack::builder().connector().erp()).await;
    // Customers pushed to the ERP, its certificates pulled.
    let connection = stack
        .connection(
            "test-erp",
            ConnectionFields {
                families: vec![
                    family("customers", Direction::Push),
                    family("certificates", Direction::Pull),
                ],
                conflict_policy: ConflictPolicy::ErpWins as i32,
                ..Default::default()
            },
        )
        .await;
    let mut billing = stack.billing();
    let service = stack.service("MENAGE", "Ménage à domicile").await;
    let worker = stack.shop_worker("Awa", "Diallo", &service).await;
    let customer = stack
        .customer("Claire", "Petit", "jules@example.org", "pm_card_visa")
        .await;
    // Tomorrow, 9:00 to 11:00, with Awa.
    let day = tomorrow();
    let booking = stack.book(&customer, &service, &worker, day, 1).await;
    let intervention = testing::eventually(Duration::from_secs(10), || async {
        stack
            .planning()
            .list_interventions(stack.admin(ListInterventionsRequest {
                order_id: booking.id.clone(),
                ..Default::default()
            }))
            .await
            .ok()?
            .into_inner()
            .interventions
            .pop()
    })
    .await
    .expect("planning made the intervention");
    // Two days go by: the intervention took place (planning marks done only
    // what has started).
    let planning_db = sqlx::PgPool::connect(&stack.planning_part().database_url)
        .await
        .unwrap();
    sqlx::query(
        "update planning.interventions set starts_at = starts_at - interval '2 days',
             ends_at = ends_at - interval '2 days' where id = $1::uuid",
    )
    .bind(&intervention.id)
    .execute(&planning_db)
    .await
    .unwrap();
    let day = day - chrono::Duration::days(2);
    // Done, and it took half an hour more.
    stack
        .planning()
        .change_interventions(stack.admin(ChangeInterventionsRequest {
            intervention_id: intervention.id.clone(),
            scope: ChangeScope::One as i32,
            change: Some(Change::Done(MarkDone {
                actual_minutes: 150,
            })),
            ..Default::default()
        }))
        .await
        .unwrap();

    let month = day.format("%Y-%m").to_string();
    let invoice = testing::eventually(Duration::from_secs(10), || async {
        stack
            .billing()
            .draft_service_invoices(stack.admin(DraftServiceInvoicesRequest {
                month: month.clone(),
                customer_id: customer.clone(),
            }))
            .await
            .ok()?
            .into_inner()
            .invoices
            .pop()
    })
    .await
    .expect("a service invoice");
    assert_eq!(invoice.period, month);
    assert_eq!(invoice.lines.len(), 1);
    let line = &invoice.lines[0];
    // 2 h 30 at 25 €/h: 62.50 + 10 % VAT.
    assert_eq!(line.total_excl_vat.as_ref().unwrap().amount_cents, 6250);
    assert_eq!(invoice.total_incl_vat.as_ref().unwrap().amount_cents, 6875);
    assert!(
        line.description.contains("Ménage à domicile")
            && line.description.contains("2 h 30")
            && line.description.contains("Awa Diallo"),
        "{}",
        line.description
    );
    // Nothing left for the month.
    let again = billing
        .draft_service_invoices(stack.admin(DraftServiceInvoicesRequest {
            month: month.clone(),
            customer_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(again.invoices.is_empty());

    billing
        .validate_invoice(stack.admin(ValidateInvoiceRequest {
            id: invoice.id.clone(),
            expected_version: 0,
        }))
        .await
        .unwrap();
    let paid = stack.invoice_once(&invoice.id, InvoiceStatus::Paid).await;
    assert_eq!(stack.simulator().charges()[0].amount_cents, 6875);

    // A year goes by: the invoice was paid, and the work done, last year.
    let db = sqlx::PgPool::connect(&stack.billing_part().database_url)
        .await
        .unwrap();
    sqlx::query(
        "update billing.invoices set paid_at = paid_at - interval '1 year',
             validated_at = validated_at - interval '1 year'",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "update billing.done_interventions set started_at = started_at - interval '1 year'",
    )
    .execute(&db)
    .await
    .unwrap();
    let last_year = paid.paid_at.map_or(0, |t| {
        chrono::DateTime::from_timestamp(t.seconds, 0)
            .unwrap()
            .year()
    }) - 1;

    let this_year = Utc::now().year();
    let issue = |year: i32| {
        stack.admin(IssueTaxCertificateRequest {
            customer_id: customer.clone(),
            year,
        })
    };
    let err = billing
        .issue_tax_certificate(issue(this_year))
        .await
        .unwrap_err();
    testing::assert_bad_field(&err, "year");
    let certificate = billing
        .issue_tax_certificate(issue(last_year))
        .await
        .unwrap()
        .into_inner()
        .certificate
        .unwrap();
    assert_eq!(certificate.amount_paid.as_ref().unwrap().amount_cents, 6875);
    assert_eq!(certificate.minutes, 150);
    assert_eq!(
        certificate
            .workers
            .iter()
            .map(|w| (w.name.as_str(), w.minutes))
            .collect::<Vec<_>>(),
        [("Awa Diallo", 150)]
    );
    // Asked again: the same certificate.
    let again = billing
        .issue_tax_certificate(issue(last_year))
        .await
        .unwrap()
        .into_inner()
        .certificate
        .unwrap();
    assert_eq!(again.number, certificate.number);

    let doc = billing
        .get_tax_certificate_document(stack.admin(GetTaxCertificateDocumentRequest {
            id: certificate.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    let text_of_pdf = pdf_text_of(&doc.content);
    for expected in [
        format!("Attestation fiscale {last_year}"),
        "Claire Petit".to_owned(),
        "68,75 €".to_owned(),
        "2 h 30".to_owned(),
        "Awa Diallo".to_owned(),
        "199 sexdecies".to_owned(),
    ] {
        assert!(
            text_of_pdf.contains(&expected),
            "{expected:?} not in:\n{text_of_pdf}"
        );
    }
    let mail = stack
        .mails_about(&format!("Votre attestation fiscale {last_year}"), 1)
        .await
        .remove(0);
    assert_eq!(mail.to, "jules@example.org");
    assert_eq!(mail.attachments.len(), 1);

    // The ERP's certificate of an earlier year, validated there, comes
    // through the connector and joins it in the account.
    let mut erp_customer_record = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == customer)
        .await;
    // Bound before the documents naming it are pulled, or they are parked.
    stack
        .bound(&connection, "customer", &erp_customer_record)
        .await;
    let erp_customer = erp_customer_record.remove(0).id;
    stack
        .erp()
        .upsert(
            "taxcertificate",
            None,
            "cert-earlier",
            &fields(json!({
                "number": "AT-OG-1", "customer": erp_customer, "status": "validated",
                "year": last_year - 1, "amount_paid_cents": 120_000, "minutes": 3000,
                "workers": [{ "name": "Marc Petit", "minutes": 3000 }],
            })),
        )
        .await
        .unwrap();
    let run = stack.run(&connection, "certificates").await;
    assert_eq!(run.applied, 1, "{run:?}");
    let listed = certificates(&stack, &customer, 2).await;
    assert_eq!(
        listed
            .iter()
            .map(|c| (c.year, c.origin.as_str()))
            .collect::<Vec<_>>(),
        [(last_year, "shop"), (last_year - 1, "erp:test-erp")]
    );
    assert_eq!(listed[1].number, "AT-OG-1");

    // One for a year already certified is refused.
    let as_connector = relais_testkit::sign(&Claims {
        sub: "connector".into(),
        connection: Some("test-erp".into()),
        ..stack.claims(Role::Connector)
    });
    let err = billing
        .record_erp_tax_certificate(with_token(
            &as_connector,
            RecordErpTaxCertificateRequest {
                external_number: "AT-OG-2".into(),
                customer_id: customer.clone(),
                year: last_year,
                amount_paid: eur(120_000),
                minutes: 3000,
                workers: vec![CertificateWorker {
                    worker_id: String::new(),
                    name: "Marc Petit".into(),
                    minutes: 3000,
                }],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(certificates(&stack, &customer, 2).await.len(), 2);
}
