//! The requests the fixture and the probes both build: amounts, instants,
//! a worker's fields, an ERP invoice and certificate, an absence.

use chrono::{TimeZone, Utc};
use relais_proto::{
    billing::{
        CertificateWorker, ErpInvoiceLine, RecordErpInvoiceRequest, RecordErpTaxCertificateRequest,
    },
    planning::{AddAbsenceRequest, WeeklySlot, WorkerFields},
    types::Money,
};

pub(super) fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

pub(super) fn at(t: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(relais_platform::context::timestamp(t))
}

pub(super) fn worker_fields(service: &str, name: &str) -> WorkerFields {
    WorkerFields {
        first_name: "Awa".into(),
        last_name: name.into(),
        email: "awa.private@example.org".into(),
        phone: "+33 6 12 34 56 78".into(),
        photo_url: "https://example.org/awa.jpg".into(),
        skill_service_ids: vec![service.into()],
        availability: (1..=7)
            .map(|d| WeeklySlot {
                weekday: d,
                start_time: "07:00".into(),
                end_time: "20:00".into(),
            })
            .collect(),
        active: true,
        ..Default::default()
    }
}

pub(super) fn erp_invoice(number: &str, customer: &str) -> RecordErpInvoiceRequest {
    RecordErpInvoiceRequest {
        external_number: number.into(),
        customer_id: customer.into(),
        lines: vec![ErpInvoiceLine {
            reference: "MEN-H".into(),
            description: "Ménage à domicile".into(),
            quantity: 4,
            unit_price: eur(2500),
            vat_rate_bp: 2000,
            discount_bp: 0,
            total_excl_vat: eur(10_000),
        }],
        total_incl_vat: eur(12_000),
        ..Default::default()
    }
}

pub(super) fn erp_certificate(
    number: &str,
    customer: &str,
    year: i32,
) -> RecordErpTaxCertificateRequest {
    RecordErpTaxCertificateRequest {
        external_number: number.into(),
        customer_id: customer.into(),
        year,
        amount_paid: eur(120_000),
        minutes: 3000,
        workers: vec![CertificateWorker {
            worker_id: String::new(),
            name: "Awa Diallo".into(),
            minutes: 3000,
        }],
    }
}

pub(super) fn absence(worker: &str, n: usize) -> AddAbsenceRequest {
    let start = Utc.with_ymd_and_hms(2090, 1, 1, 8, 0, 0).unwrap()
        + chrono::Duration::days(i64::try_from(n).unwrap());
    AddAbsenceRequest {
        worker_id: worker.into(),
        start: at(start),
        end: at(start + chrono::Duration::hours(1)),
        reason: "congé".into(),
    }
}
