//! ERP → shop invoices and tax certificates (seed 001): each one the ERP
//! validated goes to billing as an event on the connector's stream
//! (`<ns>.connector.v1.<tenant>.invoice.validated`, `.certificate.validated`),
//! which debits the saved card and e-mails the invoice, or files and
//! e-mails the certificate. The customer (and a certificate's workers) must
//! be bound to the shop's; a document already sent is not sent again (and
//! billing recognises its number if it were).

use relais_platform::context::{Ctx, timestamp};
use relais_proto::{
    billing::{
        CertificateWorker, ErpInvoiceLine, RecordErpInvoiceRequest, RecordErpTaxCertificateRequest,
    },
    events::{ErpCertificateValidated, ErpInvoiceValidated},
    orders::PaymentMode,
    types::Money,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    adapter::ErpRecord, bindings, config::SERVICE, connections::Connection, shared::Shared,
};

/// What became of one ERP document.
pub enum Sent {
    Sent,
    /// Not validated yet in the ERP, or sent already.
    Skipped,
}

fn int(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(0)
}

fn money(cents: i64, currency: &str) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: currency.to_owned(),
    })
}

/// The shop's customer of an ERP document, or why there is none.
async fn customer(shared: &Shared, c: &Connection, r: &ErpRecord) -> anyhow::Result<String> {
    let erp_customer = r.text("customer");
    anyhow::ensure!(!erp_customer.is_empty(), "no customer");
    bindings::by_external(&shared.pool, c.id, "customer", &erp_customer)
        .await?
        .map(|b| b.internal_id)
        .ok_or_else(|| anyhow::anyhow!("customer {erp_customer} is not bound to a shop customer"))
}

/// Sends the document if it is validated and new; an error names what is
/// missing (the record is read again by the next run).
pub async fn send(
    shared: &Shared,
    c: &Connection,
    object: &str,
    r: &ErpRecord,
) -> anyhow::Result<Sent> {
    let entity = if object == "invoice" {
        "erp_invoice"
    } else {
        "erp_certificate"
    };
    let number = r.text("number");
    anyhow::ensure!(!number.is_empty(), "no number");
    if r.text("status") != "validated" {
        return Ok(Sent::Skipped);
    }
    if let Some(b) = bindings::by_internal(&shared.pool, c.id, entity, &number).await?
        && b.erp_version >= r.version
    {
        return Ok(Sent::Skipped);
    }
    let customer_id = customer(shared, c, r).await?;
    let currency = Some(r.text("currency"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "EUR".into());
    let ctx = Ctx {
        origin: c.origin(),
        ..Ctx::system(
            SERVICE,
            c.tenant,
            &shared.ns,
            format!("connection:{}", c.name),
        )
    };
    let meta = ctx.meta(Uuid::now_v7(), r.version);
    let mut tx = shared.pool.begin().await?;
    if object == "invoice" {
        let lines = r
            .fields
            .get("lines")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|l| ErpInvoiceLine {
                reference: l
                    .get("reference")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                description: l
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                quantity: int(l, "quantity") as i32,
                unit_price: money(int(l, "unit_price_cents"), &currency),
                vat_rate_bp: int(l, "vat_rate_bp") as i32,
                discount_bp: int(l, "discount_bp") as i32,
                total_excl_vat: money(int(l, "total_excl_vat_cents"), &currency),
            })
            .collect();
        let validated_at = chrono::DateTime::parse_from_rfc3339(&r.text("validated_at"))
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(r.updated_at);
        let payment_mode = match r.text("payment_mode").as_str() {
            "invoice" | "transfer" => PaymentMode::Invoice,
            "residence_monthly" => PaymentMode::ResidenceMonthly,
            _ => PaymentMode::Card,
        };
        let event = ErpInvoiceValidated {
            meta: Some(meta.clone()),
            invoice: Some(RecordErpInvoiceRequest {
                external_number: number.clone(),
                customer_id,
                lines,
                total_incl_vat: money(
                    r.fields
                        .get("total_incl_vat_cents")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    &currency,
                ),
                validated_at: Some(timestamp(validated_at)),
                payment_mode: payment_mode as i32,
            }),
        };
        ctx.emit(&mut tx, "invoice", "validated", &meta, &event)
            .await?;
    } else {
        let mut workers = Vec::new();
        for w in r
            .fields
            .get("workers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let employee = w
                .get("employee")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let worker_id = bindings::by_external(&shared.pool, c.id, "worker", employee)
                .await?
                .map(|b| b.internal_id)
                .unwrap_or_default();
            workers.push(CertificateWorker {
                worker_id,
                name: w
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                minutes: int(w, "minutes") as i32,
            });
        }
        let event = ErpCertificateValidated {
            meta: Some(meta.clone()),
            certificate: Some(RecordErpTaxCertificateRequest {
                external_number: number.clone(),
                customer_id,
                year: r.fields.get("year").and_then(Value::as_i64).unwrap_or(0) as i32,
                amount_paid: money(
                    r.fields
                        .get("amount_paid_cents")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    &currency,
                ),
                minutes: r.fields.get("minutes").and_then(Value::as_i64).unwrap_or(0) as i32,
                workers,
            }),
        };
        ctx.emit(&mut tx, "certificate", "validated", &meta, &event)
            .await?;
    }
    bindings::record(&mut *tx, c.id, entity, &number, &r.id, 0, r.version).await?;
    shared.outbox.commit(tx).await?;
    Ok(Sent::Sent)
}
