//! A booking is invoiced from the interventions done, at the time worked,
//! debited from the saved card; a year later the customer's tax certificate
//! adds up what they paid for it, with the hours and the worker.

use std::time::Duration;

use chrono::{Datelike, Utc};
use relais_platform::testing;
use relais_proto::{
    billing::{
        CertificateWorker, DraftServiceInvoicesRequest, GetTaxCertificateDocumentRequest,
        IssueTaxCertificateRequest, ListTaxCertificatesRequest, RecordErpTaxCertificateRequest,
        ValidateInvoiceRequest,
    },
    catalogue::{CreateServiceRequest, ServiceFields},
    orders::{ChangeOrderStatusRequest, OrderStatus, PaymentMode, PlaceBookingRequest, Schedule},
    planning::{
        ChangeInterventionsRequest, ChangeScope, CreateWorkerRequest, ListInterventionsRequest,
        MarkDone, WeeklySlot, WorkerFields, change_interventions_request::Change,
    },
    types::Money,
};
use tonic::Code;

use crate::invoices::spawn;
use crate::payments::{pdf_text_of, read_mail};

#[tokio::test]
async fn done_interventions_are_invoiced_and_a_past_year_is_certified() {
    let stack = spawn().await;
    let mut billing = stack.billing.clone();
    let service = stack
        .catalogue
        .clone()
        .create_service(stack.admin(CreateServiceRequest {
            idempotency_key: String::new(),
            fields: Some(ServiceFields {
                code: "MENAGE".into(),
                name: "Ménage à domicile".into(),
                hourly_price: Some(Money {
                    amount_cents: 2500,
                    currency: "EUR".into(),
                }),
                vat_rate_bp: 1000,
                active: true,
                tax_credit_eligible: true,
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap()
        .id;
    let worker = stack
        .planning
        .clone()
        .create_worker(
            stack.admin(CreateWorkerRequest {
                idempotency_key: String::new(),
                fields: Some(WorkerFields {
                    first_name: "Awa".into(),
                    last_name: "Diallo".into(),
                    skill_service_ids: vec![service.clone()],
                    availability: (1..=7)
                        .map(|d| WeeklySlot {
                            weekday: d,
                            start_time: "07:00".into(),
                            end_time: "20:00".into(),
                        })
                        .collect(),
                    active: true,
                    ..Default::default()
                }),
            }),
        )
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap()
        .id;
    let customer = stack
        .customer("Petit", "jules@example.org", "pm_card_visa")
        .await;
    // Tomorrow, 9:00 to 11:00, with Awa.
    let day = (Utc::now() + chrono::Duration::days(1))
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive();
    let booking = stack
        .orders
        .clone()
        .place_booking(stack.admin(PlaceBookingRequest {
            idempotency_key: "b-1".into(),
            customer_id: customer.clone(),
            service_id: service.clone(),
            schedule: Some(Schedule {
                first_date: day.format("%Y-%m-%d").to_string(),
                start_time: "09:00".into(),
                duration_minutes: 120,
                ..Default::default()
            }),
            worker_id: worker.clone(),
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
            id: booking.id.clone(),
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    let intervention = testing::eventually(Duration::from_secs(10), || {
        let mut planning = stack.planning.clone();
        let req = stack.admin(ListInterventionsRequest {
            order_id: booking.id.clone(),
            ..Default::default()
        });
        async move {
            planning
                .list_interventions(req)
                .await
                .ok()?
                .into_inner()
                .interventions
                .pop()
        }
    })
    .await
    .expect("planning made the intervention");
    // Two days go by: the intervention took place (planning marks done only
    // what has started).
    let planning_db = sqlx::PgPool::connect(&stack.planning_db).await.unwrap();
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
        .planning
        .clone()
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
    let invoice = testing::eventually(Duration::from_secs(10), || {
        let mut b = stack.billing.clone();
        let req = stack.admin(DraftServiceInvoicesRequest {
            month: month.clone(),
            customer_id: customer.clone(),
        });
        async move {
            b.draft_service_invoices(req)
                .await
                .ok()?
                .into_inner()
                .invoices
                .pop()
        }
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
    let paid = stack
        .invoice_once(&invoice.id, relais_proto::billing::InvoiceStatus::Paid)
        .await;
    assert_eq!(stack.provider.charges()[0].amount_cents, 6875);

    // A year goes by: the invoice was paid, and the work done, last year.
    let db = sqlx::PgPool::connect(&stack.billing_db).await.unwrap();
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
    let err = billing
        .issue_tax_certificate(stack.admin(IssueTaxCertificateRequest {
            customer_id: customer.clone(),
            year: this_year,
        }))
        .await
        .unwrap_err();
    testing::assert_bad_field(&err, "year");
    let certificate = billing
        .issue_tax_certificate(stack.admin(IssueTaxCertificateRequest {
            customer_id: customer.clone(),
            year: last_year,
        }))
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
        .issue_tax_certificate(stack.admin(IssueTaxCertificateRequest {
            customer_id: customer.clone(),
            year: last_year,
        }))
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
    let text = pdf_text_of(&doc.content);
    for expected in [
        format!("Attestation fiscale {last_year}"),
        "Claire Petit".to_owned(),
        "68,75 €".to_owned(),
        "2 h 30".to_owned(),
        "Awa Diallo".to_owned(),
        "199 sexdecies".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    let mail = testing::eventually(Duration::from_secs(10), || async {
        testing::mails_in(&stack.mail_dir)
            .iter()
            .map(|m| read_mail(m))
            .find(|m| m.subject == format!("Votre attestation fiscale {last_year}"))
    })
    .await
    .expect("the certificate is mailed");
    assert_eq!(mail.to, "jules@example.org");
    assert_eq!(mail.attachments.len(), 1);

    // The ERP's certificate of an earlier year joins it in the account;
    // one for a year already certified is refused.
    let erp = |number: &str, year: i32| {
        stack.connector(RecordErpTaxCertificateRequest {
            external_number: number.into(),
            customer_id: customer.clone(),
            year,
            amount_paid: Some(Money {
                amount_cents: 120_000,
                currency: "EUR".into(),
            }),
            minutes: 3000,
            workers: vec![CertificateWorker {
                worker_id: String::new(),
                name: "Marc Petit".into(),
                minutes: 3000,
            }],
        })
    };
    billing
        .record_erp_tax_certificate(erp("AT-OG-1", last_year - 1))
        .await
        .unwrap();
    let err = billing
        .record_erp_tax_certificate(erp("AT-OG-2", last_year))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let listed = billing
        .list_tax_certificates(stack.admin(ListTaxCertificatesRequest {
            customer_id: customer.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .certificates;
    assert_eq!(
        listed
            .iter()
            .map(|c| (c.year, c.origin.as_str()))
            .collect::<Vec<_>>(),
        [(last_year, "shop"), (last_year - 1, "erp:demo-erp")]
    );
}
