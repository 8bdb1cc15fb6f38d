//! What the ERP validated (seed 001): invoices and tax certificates, sent
//! by the connector through billing's API (RecordErpInvoice,
//! RecordErpTaxCertificate) or as events on its stream
//! (`<ns>.connector.v1.<tenant>.invoice.validated`,
//! `.certificate.validated`). Both are checked the same way and follow the
//! same path; a redelivered one is recognised by its ERP number.

use chrono::{DateTime, Utc};
use prost::Message;
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    context::Ctx,
    error::{Error, Result, Violations},
    nats::Namespace,
    validate,
};
use relais_proto::{
    billing::{CertificateWorker, RecordErpInvoiceRequest, RecordErpTaxCertificateRequest},
    events::{ErpCertificateValidated, ErpInvoiceValidated},
    orders::PaymentMode,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{SERVICE, certificates, flows, invoices, pdfs::Seller};

/// An ERP invoice, checked.
pub struct ErpInvoiceIn {
    pub number: String,
    pub customer: Uuid,
    pub lines: Vec<invoices::PricedLine>,
    pub validated_at: DateTime<Utc>,
    pub payment_mode: PaymentMode,
}

impl ErpInvoiceIn {
    /// INVALID_ARGUMENT naming every bad field, amounts recomputed.
    pub fn parse(r: &RecordErpInvoiceRequest) -> Result<Self> {
        let mut v = Violations::new();
        let number = validate::reference(&mut v, "external_number", &r.external_number);
        v.check(
            r.customer_id.trim().is_empty(),
            "customer_id",
            "is required",
        );
        let customer = validate::optional_id(&mut v, "customer_id", &r.customer_id);
        v.check(
            r.lines.is_empty(),
            "lines",
            "an invoice needs at least one line",
        );
        v.check(r.lines.len() > 1000, "lines", "at most 1000 lines");
        let mut lines = Vec::with_capacity(r.lines.len());
        for (i, l) in r.lines.iter().enumerate() {
            let f = |name: &str| format!("lines[{i}].{name}");
            let before = v.len();
            let reference = validate::optional_reference(&mut v, &f("reference"), &l.reference);
            let description = validate::description(&mut v, &f("description"), &l.description);
            v.check(
                description.is_empty(),
                &f("description"),
                "must not be empty",
            );
            v.check(
                !(1..=100_000).contains(&l.quantity),
                &f("quantity"),
                "must be between 1 and 100000",
            );
            let unit = validate::money(
                &mut v,
                &f("unit_price"),
                l.unit_price.as_ref(),
                validate::MAX_PRICE_CENTS,
            );
            let rate = validate::vat(&mut v, &f("vat_rate_bp"), l.vat_rate_bp);
            v.check(
                !(0..=10_000).contains(&l.discount_bp),
                &f("discount_bp"),
                "must be between 0 and 10000 (100 %)",
            );
            // Out-of-range inputs are already violations above; the
            // arithmetic is still checked, so nothing can overflow before
            // they are reported.
            let Some((net, vat)) =
                relais_domain::money::line(unit, l.quantity, l.discount_bp, rate)
            else {
                // Named only when the line's own fields passed (otherwise
                // the bad one is already named).
                v.check(
                    v.len() == before,
                    &f("unit_price.amount_cents"),
                    relais_domain::money::too_large(),
                );
                continue;
            };
            let stated =
                validate::stated_money(&mut v, &f("total_excl_vat"), l.total_excl_vat.as_ref());
            v.check(
                stated.is_some_and(|s| s != net),
                &f("total_excl_vat"),
                format!("is not quantity × unit price less the discount ({net} cents)"),
            );
            lines.push(invoices::PricedLine {
                reference,
                description,
                quantity: l.quantity,
                unit_cents: unit,
                vat_rate_bp: rate,
                discount_bp: l.discount_bp,
                net_cents: net,
                vat_cents: vat,
            });
        }
        let total =
            relais_domain::money::sum(lines.iter().flat_map(|l| [l.net_cents, l.vat_cents]));
        v.check(total.is_none(), "lines", relais_domain::money::too_large());
        let stated = validate::stated_money(&mut v, "total_incl_vat", r.total_incl_vat.as_ref());
        v.check(r.total_incl_vat.is_none(), "total_incl_vat", "is required");
        if let (Some(stated), Some(total)) = (stated, total) {
            v.check(
                stated != total && v.is_empty(),
                "total_incl_vat",
                format!("the lines add up to {total} cents incl. VAT"),
            );
        }
        let mode = PaymentMode::try_from(r.payment_mode).ok();
        v.check(mode.is_none(), "payment_mode", "is not a payment mode");
        let now = Utc::now();
        let validated_at = r
            .validated_at
            .as_ref()
            .map(|t| validate::past_instant(&mut v, "validated_at", t, now))
            .unwrap_or(Some(now));
        v.into_result()?;
        let customer = customer.ok_or_else(|| Error::invalid("customer_id", "is required"))?;
        let validated_at = validated_at.unwrap_or(now);
        Ok(Self {
            number,
            customer,
            lines,
            validated_at,
            payment_mode: mode.unwrap_or_default(),
        })
    }

    pub fn borrow(&self) -> invoices::ErpInvoice<'_> {
        invoices::ErpInvoice {
            number: &self.number,
            customer: self.customer,
            lines: &self.lines,
            validated_at: self.validated_at,
            payment_mode: self.payment_mode,
        }
    }
}

/// An ERP certificate, checked.
pub struct ErpCertificateIn {
    pub number: String,
    pub customer: Uuid,
    pub year: i32,
    pub amount_cents: i64,
    pub workers: Vec<CertificateWorker>,
}

impl ErpCertificateIn {
    pub fn parse(r: &RecordErpTaxCertificateRequest) -> Result<Self> {
        let mut v = Violations::new();
        let number = validate::reference(&mut v, "external_number", &r.external_number);
        v.check(
            r.customer_id.trim().is_empty(),
            "customer_id",
            "is required",
        );
        let customer = validate::optional_id(&mut v, "customer_id", &r.customer_id);
        let amount = validate::money(
            &mut v,
            "amount_paid",
            r.amount_paid.as_ref(),
            validate::MAX_PRICE_CENTS,
        );
        for (i, w) in r.workers.iter().enumerate() {
            validate::name(&mut v, &format!("workers[{i}].name"), &w.name);
            v.check(
                !(0..=366 * 24 * 60).contains(&w.minutes),
                &format!("workers[{i}].minutes"),
                "must be between 0 and a year of minutes",
            );
        }
        let total: i64 = r.workers.iter().map(|w| i64::from(w.minutes)).sum();
        v.check(
            !r.workers.is_empty() && total != i64::from(r.minutes),
            "minutes",
            format!("the workers' minutes add up to {total}"),
        );
        v.into_result()?;
        let customer = customer.ok_or_else(|| Error::invalid("customer_id", "is required"))?;
        Ok(Self {
            number,
            customer,
            year: r.year,
            amount_cents: amount,
            workers: r.workers.clone(),
        })
    }

    pub fn borrow(&self) -> certificates::ErpCertificate<'_> {
        certificates::ErpCertificate {
            number: &self.number,
            customer: self.customer,
            year: self.year,
            amount_cents: self.amount_cents,
            workers: self.workers.clone(),
        }
    }
}

const CONNECTOR: &str = "connector";

pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "billing-erp-documents".into(),
        source_service: CONNECTOR.into(),
        filter_subjects: vec![
            ns.event_filter(CONNECTOR, "invoice", "validated"),
            ns.event_filter(CONNECTOR, "certificate", "validated"),
        ],
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

pub struct ErpDocuments {
    pub ns: Namespace,
    pub seller: Seller,
}

/// Bad data never gets better (dead letter at once); a customer billing
/// does not know yet may arrive (retried, then dead letter).
fn handler_error(e: Error) -> HandlerError {
    match e {
        Error::InvalidArgument(_) | Error::FailedPrecondition(_) => HandlerError::poison(e),
        other => HandlerError::Retry(anyhow::anyhow!("{other}")),
    }
}

impl Handler for ErpDocuments {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        event: &Delivery,
    ) -> std::result::Result<(), HandlerError> {
        if event.subject.ends_with(".invoice.validated") {
            let e = ErpInvoiceValidated::decode(event.payload.as_ref())
                .map_err(HandlerError::poison)?;
            let (Some(meta), Some(r)) = (e.meta, e.invoice) else {
                return Err(HandlerError::poison("event without meta or invoice"));
            };
            let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, "connector".into())
                .map_err(HandlerError::poison)?;
            let erp = ErpInvoiceIn::parse(&r).map_err(handler_error)?;
            flows::issue::record_erp_invoice(tx, &ctx, &self.seller, &erp.borrow())
                .await
                .map_err(handler_error)?;
            return Ok(());
        }
        let e = ErpCertificateValidated::decode(event.payload.as_ref())
            .map_err(HandlerError::poison)?;
        let (Some(meta), Some(r)) = (e.meta, e.certificate) else {
            return Err(HandlerError::poison("event without meta or certificate"));
        };
        let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, "connector".into())
            .map_err(HandlerError::poison)?;
        let erp = ErpCertificateIn::parse(&r).map_err(handler_error)?;
        certificates::record_erp(tx, &ctx, &self.seller, erp.borrow())
            .await
            .map_err(handler_error)?;
        Ok(())
    }
}
