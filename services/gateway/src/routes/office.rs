//! Staff and the office: customers, workers, a customer's invoices and
//! validating a draft. The services answer within the caller's scope:
//! staff see their residences' residents, the office the whole tenant, a
//! customer's token is refused (403) where its role may never read.

use axum::{Json, extract::State};
use relais_proto::{billing as bill, orders as ord, planning as plan};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{ReadProblems, WriteProblems};
use crate::{
    Api,
    extract::{Bearer, Id, JsonBody, Query},
    model::{
        billing::{Invoice, InvoicePage},
        office::{Customer, CustomerPage, StaffWorker, StaffWorkerPage},
    },
    paging::{PageQuery, next_cursor},
    peers::answer,
    problem::{Kind, Problem},
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_customers))
        .routes(routes!(list_workers))
        .routes(routes!(list_invoices))
        .routes(routes!(validate_invoice))
}

/// Narrows the customers.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerFilter {
    /// Required for staff: one of their residences.
    residence_id: Option<Uuid>,
    /// Case-insensitive match on name or e-mail.
    query: Option<String>,
}

/// Customers.
///
/// Staff name one of their residences and see its residents; the office
/// sees every customer of the tenant.
#[utoipa::path(get, path = "/v1/office/customers", tag = "office",
    params(PageQuery, CustomerFilter), security(("bearer" = [])),
    responses((status = 200, body = CustomerPage, description = "A page of customers."), ReadProblems))]
async fn list_customers(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
    Query(f): Query<CustomerFilter>,
) -> Result<Json<CustomerPage>, Problem> {
    let req = api.peers.request(
        &who,
        ord::ListCustomersRequest {
            page: page.page()?,
            residence_id: f.residence_id.map(|r| r.to_string()).unwrap_or_default(),
            query: f.query.unwrap_or_default(),
        },
    )?;
    let r = answer("orders", api.peers.orders.clone().list_customers(req).await)?;
    Ok(Json(CustomerPage {
        items: r.customers.into_iter().map(Customer::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// Narrows the workers.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkerFilter {
    /// Only the workers with this skill (a service id).
    skill_service_id: Option<Uuid>,
    /// Only active workers.
    active_only: Option<bool>,
}

/// Workers, with their contact, skills and weekly hours.
///
/// Planning leaves out the e-mail and phone for a caller who may not see
/// them (a customer).
#[utoipa::path(get, path = "/v1/office/workers", tag = "office",
    params(PageQuery, WorkerFilter), security(("bearer" = [])),
    responses((status = 200, body = StaffWorkerPage, description = "A page of workers."), ReadProblems))]
async fn list_workers(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
    Query(f): Query<WorkerFilter>,
) -> Result<Json<StaffWorkerPage>, Problem> {
    let req = api.peers.request(
        &who,
        plan::ListWorkersRequest {
            page: page.page()?,
            skill_service_id: f
                .skill_service_id
                .map(|s| s.to_string())
                .unwrap_or_default(),
            active_only: f.active_only.unwrap_or(false),
        },
    )?;
    let r = answer(
        "planning",
        api.peers.planning.clone().list_workers(req).await,
    )?;
    Ok(Json(StaffWorkerPage {
        items: r.workers.into_iter().map(StaffWorker::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// Whose invoices.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceFilter {
    /// The customer (staff: one of their residences' residents).
    customer_id: Uuid,
}

/// A customer's invoices and credit notes, newest first.
#[utoipa::path(get, path = "/v1/office/invoices", tag = "office",
    params(PageQuery, InvoiceFilter), security(("bearer" = [])),
    responses((status = 200, body = InvoicePage, description = "A page of the customer's invoices and credit notes."), ReadProblems))]
async fn list_invoices(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
    Query(f): Query<InvoiceFilter>,
) -> Result<Json<InvoicePage>, Problem> {
    let req = api.peers.request(
        &who,
        bill::ListInvoicesRequest {
            page: page.page()?,
            customer_id: f.customer_id.to_string(),
        },
    )?;
    let r = answer(
        "billing",
        api.peers.billing.clone().list_invoices(req).await,
    )?;
    Ok(Json(InvoicePage {
        items: r.invoices.into_iter().map(Invoice::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// What the office saw of the draft it validates.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateInvoice {
    /// The version the office saw: refused (409) if the draft changed
    /// since. 0 or absent: whatever it is now.
    #[serde(default)]
    pub expected_version: i64,
}

/// Validates a draft invoice.
///
/// It gets the tenant's next number (gapless), its PDF is made and mailed,
/// and a saved card is debited if it is not paid yet. No `Idempotency-Key`:
/// validating is its own guard, as a repeat is refused (409) naming the
/// number the invoice already has, and changes nothing.
#[utoipa::path(post, path = "/v1/office/invoices/{id}/validate", tag = "office",
    params(("id" = uuid::Uuid, Path, description = "The draft's id.")),
    request_body = ValidateInvoice,
    security(("bearer" = [])),
    responses((status = 200, body = Invoice, description = "The invoice, validated and numbered."), WriteProblems))]
async fn validate_invoice(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    JsonBody(body): JsonBody<ValidateInvoice>,
) -> Result<Json<Invoice>, Problem> {
    let req = api.peers.request(
        &who,
        bill::ValidateInvoiceRequest {
            id: id.to_string(),
            expected_version: body.expected_version,
        },
    )?;
    let r = answer(
        "billing",
        api.peers.billing.clone().validate_invoice(req).await,
    )?;
    r.invoice
        .map(|i| Json(i.into()))
        .ok_or_else(|| Problem::new(Kind::BadGateway, "billing answered no invoice"))
}
