//! `relais.billing.v1.BillingService`: authenticate, parse, run the domain
//! function in a transaction with its events, commit through the outbox.

use relais_platform::{
    auth::{self, Caller},
    context::Ctx,
    error::{Error, Violations},
    nats::Namespace,
    outbox::Outbox,
    validate,
    write::{Writer, cut_page, reply},
};
use relais_proto::billing::{self as pb, billing_service_server::BillingService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::{SERVICE, invoices};

type Reply<T> = std::result::Result<Response<T>, Status>;

pub struct BillingApi {
    pool: PgPool,
    writer: Writer,
    ns: Namespace,
}

impl BillingApi {
    pub fn new(pool: PgPool, outbox: Outbox, ns: Namespace) -> Self {
        Self {
            writer: Writer::new(pool.clone(), outbox),
            pool,
            ns,
        }
    }
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
                let invoice = invoices::load(&mut conn, caller.tenant, id)
                    .await?
                    .filter(|i| caller.own_customer(&i.customer_id).is_ok())
                    .ok_or_else(|| Error::not_found(format!("invoice {id}")))?;
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
                let customer = match caller.own_customer(&r.customer_id)? {
                    Some(me) => me,
                    None => validate::id("customer_id", &r.customer_id)?,
                };
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let mut conn = self.pool.acquire().await?;
                let items =
                    invoices::of_customer(&mut conn, caller.tenant, customer, after, limit).await?;
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
                self.writer
                    .change(async |tx| {
                        let invoice = invoices::validate(tx, &ctx, id, r.expected_version).await?;
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
                self.writer
                    .create_once(
                        ctx.tenant,
                        "CreateCreditNote",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let note = invoices::credit(tx, &ctx, invoice, amount, &reason).await?;
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
                let month = chrono::NaiveDate::parse_from_str(
                    &format!("{}-01", r.month.trim()),
                    "%Y-%m-%d",
                )
                .ok();
                v.check(month.is_none(), "month", "is not a month (YYYY-MM)");
                v.check(
                    month.is_some_and(|m| m > chrono::Utc::now().date_naive()),
                    "month",
                    "has not begun",
                );
                let residence = validate::optional_id(&mut v, "residence_id", &r.residence_id);
                v.into_result()?;
                let month = month.ok_or_else(|| Error::invalid("month", "is required"))?;
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
}
