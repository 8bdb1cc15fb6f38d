//! `relais.billing.v1.BillingService`: authenticate, parse, run the domain
//! function in a transaction with its events, commit through the outbox.
//!
//! One file though it is past 500 lines: tonic wants the service as one
//! `impl` block, and each method is only the call's own checks (who may,
//! which fields) around one domain call. Split by method, every method
//! would become a forwarder to another file; the domain work is already
//! elsewhere (invoices, flows, payments, services, certificates, erp).

use relais_platform::{
    access::{self, Membership, Scope},
    auth::{self, Caller},
    context::Ctx,
    error::{Error, Violations},
    nats::Namespace,
    outbox::Outbox,
    validate,
    write::{Writer, cut_page, reply},
};
use relais_proto::billing::{self as pb, billing_service_server::BillingService};
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{SERVICE, certificates, erp, flows, invoices, payments, pdfs, pdfs::Seller, services};

type Reply<T> = std::result::Result<Response<T>, Status>;

pub struct BillingApi {
    pool: PgPool,
    writer: Writer,
    ns: Namespace,
    seller: Seller,
}

impl BillingApi {
    pub fn new(pool: PgPool, outbox: Outbox, ns: Namespace, seller: Seller) -> Self {
        Self {
            writer: Writer::new(pool.clone(), outbox),
            pool,
            ns,
            seller,
        }
    }
}

/// The caller's scope over customers (relais_platform::access), staff
/// membership from billing's copy of the orders service's.
async fn scope(conn: &mut PgConnection, caller: &Caller) -> Result<Scope, Error> {
    access::scope(conn, caller, Membership::Replica).await
}

/// The invoice (or credit note), if it exists and the caller may see its
/// customer's records; else NOT_FOUND, whether it exists or not.
async fn visible_invoice(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<pb::Invoice, Error> {
    let scope = scope(conn, caller).await?;
    let invoice = invoices::load(conn, caller.tenant, id).await?;
    if let Some(invoice) = invoice {
        let customer = Uuid::parse_str(&invoice.customer_id).unwrap_or_default();
        if scope
            .sees(conn, caller.tenant, customer, Membership::Replica)
            .await?
        {
            return Ok(invoice);
        }
    }
    Err(Error::not_found(format!("invoice {id}")))
}

/// The customer named in a listing: the caller themselves for a customer
/// (another is NOT_FOUND); for others the named one, or None when the
/// caller may not see them (the listing is then empty).
async fn listed_customer(
    conn: &mut PgConnection,
    caller: &Caller,
    asked: &str,
) -> Result<Option<Uuid>, Error> {
    if let Some(me) = caller.own_customer(asked)? {
        return Ok(Some(me));
    }
    let customer = validate::id("customer_id", asked)?;
    let scope = scope(conn, caller).await?;
    Ok(scope
        .sees(conn, caller.tenant, customer, Membership::Replica)
        .await?
        .then_some(customer))
}

#[tonic::async_trait]
impl BillingService for BillingApi {
    async fn get_invoice(
        &self,
        req: Request<pb::GetInvoiceRequest>,
    ) -> Reply<pb::GetInvoiceResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let mut conn = self.pool.acquire().await?;
                let invoice = visible_invoice(&mut conn, &caller, id).await?;
                Ok(pb::GetInvoiceResponse {
                    invoice: Some(invoice),
                })
            }
            .await,
        )
    }

    async fn list_invoices(
        &self,
        req: Request<pb::ListInvoicesRequest>,
    ) -> Reply<pb::ListInvoicesResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let mut conn = self.pool.acquire().await?;
                let items = match listed_customer(&mut conn, &caller, &r.customer_id).await? {
                    Some(customer) => {
                        invoices::of_customer(&mut conn, caller.tenant, customer, after, limit)
                            .await?
                    }
                    None => vec![],
                };
                let (invoices, next_page_token) = cut_page(items, limit, |i| i.id.clone());
                Ok(pb::ListInvoicesResponse {
                    invoices,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn validate_invoice(
        &self,
        req: Request<pb::ValidateInvoiceRequest>,
    ) -> Reply<pb::ValidateInvoiceResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(Caller::WRITERS)?;
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                visible_invoice(&mut *self.pool.acquire().await?, &caller, id).await?;
                self.writer
                    .change(async |tx| {
                        let invoice =
                            flows::issue::validate(tx, &ctx, &self.seller, id, r.expected_version)
                                .await?;
                        Ok(pb::ValidateInvoiceResponse {
                            invoice: Some(invoice),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn create_credit_note(
        &self,
        req: Request<pb::CreateCreditNoteRequest>,
    ) -> Reply<pb::CreateCreditNoteResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(Caller::WRITERS)?;
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let r = req.get_ref();
                let mut v = Violations::new();
                v.check(r.invoice_id.trim().is_empty(), "invoice_id", "is required");
                let invoice = validate::optional_id(&mut v, "invoice_id", &r.invoice_id);
                let amount = r
                    .amount
                    .as_ref()
                    .map(|m| validate::money(&mut v, "amount", Some(m), validate::MAX_PRICE_CENTS));
                let reason = validate::description(&mut v, "reason", &r.reason);
                v.check(
                    reason.is_empty(),
                    "reason",
                    "say why the customer is credited",
                );
                v.into_result()?;
                let invoice = invoice.ok_or_else(|| Error::invalid("invoice_id", "is required"))?;
                visible_invoice(&mut *self.pool.acquire().await?, &caller, invoice).await?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateCreditNote",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let note = flows::issue::credit(
                                tx,
                                &ctx,
                                &self.seller,
                                invoice,
                                amount,
                                &reason,
                            )
                            .await?;
                            Ok(pb::CreateCreditNoteResponse {
                                credit_note: Some(note),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn draft_monthly_invoices(
        &self,
        req: Request<pb::DraftMonthlyInvoicesRequest>,
    ) -> Reply<pb::DraftMonthlyInvoicesResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(Caller::WRITERS)?;
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let r = req.get_ref();
                let mut v = Violations::new();
                let month = month_field(&mut v, &r.month, true);
                let residence = validate::optional_id(&mut v, "residence_id", &r.residence_id);
                v.into_result()?;
                let month = month.ok_or_else(|| Error::invalid("month", "is required"))?;
                scope(&mut *self.pool.acquire().await?, &caller)
                    .await?
                    .act_for_residence(residence)?;
                self.writer
                    .change(async |tx| {
                        let invoices = invoices::draft_monthly(tx, &ctx, month, residence).await?;
                        Ok(pb::DraftMonthlyInvoicesResponse { invoices })
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_invoice_document(
        &self,
        req: Request<pb::GetInvoiceDocumentRequest>,
    ) -> Reply<pb::GetInvoiceDocumentResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let mut conn = self.pool.acquire().await?;
                let invoice = visible_invoice(&mut conn, &caller, id).await?;
                let (file_name, content) = pdfs::load(&mut conn, caller.tenant, id)
                    .await?
                    .ok_or_else(|| {
                        Error::FailedPrecondition(format!(
                            "invoice {id} has no document until it is validated (it is {})",
                            pb::InvoiceStatus::try_from(invoice.status)
                                .unwrap_or_default()
                                .as_str_name()
                        ))
                    })?;
                Ok(pb::GetInvoiceDocumentResponse {
                    file_name,
                    content_type: "application/pdf".into(),
                    content,
                })
            }
            .await,
        )
    }

    async fn list_payments(
        &self,
        req: Request<pb::ListPaymentsRequest>,
    ) -> Reply<pb::ListPaymentsResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let mut v = Violations::new();
                let invoice = validate::optional_id(&mut v, "invoice_id", &r.invoice_id);
                let customer = match caller.own_customer(&r.customer_id)? {
                    Some(me) => Some(me),
                    None => validate::optional_id(&mut v, "customer_id", &r.customer_id),
                };
                v.check(
                    invoice.is_none() && customer.is_none() && v.is_empty(),
                    "invoice_id",
                    "give an invoice_id or a customer_id",
                );
                v.into_result()?;
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let mut conn = self.pool.acquire().await?;
                // Only payments of what the caller may see: those of an
                // invoice or a customer out of scope are left out.
                let mut visible = true;
                if let Some(id) = invoice {
                    visible = match visible_invoice(&mut conn, &caller, id).await {
                        Ok(_) => true,
                        Err(Error::NotFound(_)) => false,
                        Err(e) => return Err(e),
                    };
                }
                if let Some(c) = customer.filter(|_| visible) {
                    visible = scope(&mut conn, &caller)
                        .await?
                        .sees(&mut conn, caller.tenant, c, Membership::Replica)
                        .await?;
                }
                let items = if visible {
                    payments::list(&mut conn, caller.tenant, invoice, customer, after, limit)
                        .await?
                } else {
                    vec![]
                };
                let (payments, next_page_token) = cut_page(items, limit, |p| p.id.clone());
                Ok(pb::ListPaymentsResponse {
                    payments,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn record_erp_invoice(
        &self,
        req: Request<pb::RecordErpInvoiceRequest>,
    ) -> Reply<pb::RecordErpInvoiceResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(&[auth::Role::Connector])?;
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let r = req.get_ref();
                let erp = erp::ErpInvoiceIn::parse(r)?;
                self.writer
                    .change(async |tx| {
                        let invoice =
                            flows::issue::record_erp_invoice(tx, &ctx, &self.seller, &erp.borrow())
                                .await?;
                        Ok(pb::RecordErpInvoiceResponse {
                            invoice: Some(invoice),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn draft_service_invoices(
        &self,
        req: Request<pb::DraftServiceInvoicesRequest>,
    ) -> Reply<pb::DraftServiceInvoicesResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(Caller::WRITERS)?;
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let r = req.get_ref();
                let mut v = Violations::new();
                // Only interventions marked done are billed, whatever the
                // month: a month that has not begun just has none yet.
                let month = month_field(&mut v, &r.month, false);
                let customer = validate::optional_id(&mut v, "customer_id", &r.customer_id);
                v.into_result()?;
                let month = month.ok_or_else(|| Error::invalid("month", "is required"))?;
                {
                    let mut conn = self.pool.acquire().await?;
                    let scope = scope(&mut conn, &caller).await?;
                    match customer {
                        Some(c) => {
                            scope
                                .read(
                                    &mut conn,
                                    caller.tenant,
                                    c,
                                    Membership::Replica,
                                    format!("customer {c}"),
                                )
                                .await?
                        }
                        // The whole tenant: not for residence staff.
                        None => scope.act_for_residence(None).map_err(|_| {
                            Error::invalid(
                                "customer_id",
                                "staff must choose one of their residents",
                            )
                        })?,
                    }
                }
                self.writer
                    .change(async |tx| {
                        let invoices = services::draft_month(tx, &ctx, month, customer).await?;
                        Ok(pb::DraftServiceInvoicesResponse { invoices })
                    })
                    .await
            }
            .await,
        )
    }

    async fn issue_tax_certificate(
        &self,
        req: Request<pb::IssueTaxCertificateRequest>,
    ) -> Reply<pb::IssueTaxCertificateResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(Caller::WRITERS)?;
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let r = req.get_ref();
                let customer = validate::id("customer_id", &r.customer_id)?;
                certificates::check_year(r.year)?;
                let mut conn = self.pool.acquire().await?;
                scope(&mut conn, &caller)
                    .await?
                    .read(
                        &mut conn,
                        caller.tenant,
                        customer,
                        Membership::Replica,
                        format!("customer {customer}"),
                    )
                    .await?;
                drop(conn);
                self.writer
                    .change(async |tx| {
                        let certificate =
                            certificates::issue(tx, &ctx, &self.seller, customer, r.year).await?;
                        Ok(pb::IssueTaxCertificateResponse {
                            certificate: Some(certificate),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn record_erp_tax_certificate(
        &self,
        req: Request<pb::RecordErpTaxCertificateRequest>,
    ) -> Reply<pb::RecordErpTaxCertificateResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(&[auth::Role::Connector])?;
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let r = req.get_ref();
                let erp = erp::ErpCertificateIn::parse(r)?;
                self.writer
                    .change(async |tx| {
                        let certificate =
                            certificates::record_erp(tx, &ctx, &self.seller, erp.borrow()).await?;
                        Ok(pb::RecordErpTaxCertificateResponse {
                            certificate: Some(certificate),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn list_tax_certificates(
        &self,
        req: Request<pb::ListTaxCertificatesRequest>,
    ) -> Reply<pb::ListTaxCertificatesResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let mut conn = self.pool.acquire().await?;
                let certificates = match listed_customer(&mut conn, &caller, &r.customer_id).await?
                {
                    Some(customer) => {
                        certificates::of_customer(&mut conn, caller.tenant, customer).await?
                    }
                    None => vec![],
                };
                Ok(pb::ListTaxCertificatesResponse { certificates })
            }
            .await,
        )
    }

    async fn get_tax_certificate_document(
        &self,
        req: Request<pb::GetTaxCertificateDocumentRequest>,
    ) -> Reply<pb::GetTaxCertificateDocumentResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let mut conn = self.pool.acquire().await?;
                let (customer, file_name, content) =
                    certificates::document(&mut conn, caller.tenant, id)
                        .await?
                        .ok_or_else(|| Error::not_found(format!("certificate {id}")))?;
                scope(&mut conn, &caller)
                    .await?
                    .read(
                        &mut conn,
                        caller.tenant,
                        customer,
                        Membership::Replica,
                        format!("certificate {id}"),
                    )
                    .await?;
                Ok(pb::GetTaxCertificateDocumentResponse {
                    file_name,
                    content_type: "application/pdf".into(),
                    content,
                })
            }
            .await,
        )
    }
}

/// A YYYY-MM month on `month` (validate::month): one that has begun with
/// `begun`, else up to a year ahead (services planned ahead have none done
/// yet, but a later year is a typo).
fn month_field(v: &mut Violations, month: &str, begun: bool) -> Option<chrono::NaiveDate> {
    let today = chrono::Utc::now().date_naive();
    validate::month(v, "month", month, today, if begun { 0 } else { 12 })
}
