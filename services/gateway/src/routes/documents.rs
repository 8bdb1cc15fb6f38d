//! My invoices and credit notes, my tax certificates, and their PDFs as
//! they were sent (billing keeps each document; the gateway serves its
//! bytes unchanged).

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use relais_proto::billing as bill;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ReadProblems, account::me};
use crate::{
    Api,
    extract::{Bearer, Id, Query},
    model::billing::{Invoice, InvoicePage, TaxCertificate, TaxCertificateList},
    paging::{PageQuery, next_cursor},
    peers::answer,
    problem::{Kind, Problem},
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(my_invoices))
        .routes(routes!(my_invoice))
        .routes(routes!(my_invoice_pdf))
        .routes(routes!(my_certificates))
        .routes(routes!(my_certificate_pdf))
}

/// A PDF document.
#[derive(Serialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Pdf(Vec<u8>);

/// The document as a download: its bytes, its type, and the name it was
/// sent under.
fn document(content_type: &str, file_name: &str, content: Vec<u8>) -> Response {
    if content.is_empty() {
        return Problem::new(Kind::BadGateway, "billing answered an empty document")
            .into_response();
    }
    let mut res = content.into_response();
    let kind = if content_type.is_empty() {
        "application/pdf"
    } else {
        content_type
    };
    if let Ok(v) = HeaderValue::from_str(kind) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    // The file name is billing's own (a number and ".pdf"); anything else
    // is dropped rather than let into a header.
    let safe: String = file_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{safe}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// My invoices and credit notes (`kind`), newest first.
#[utoipa::path(get, path = "/v1/me/invoices", tag = "account",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = InvoicePage, description = "A page of my invoices and credit notes."), ReadProblems))]
async fn my_invoices(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
) -> Result<Json<InvoicePage>, Problem> {
    let customer_id = me(&who)?;
    let req = api.peers.request(
        &who,
        bill::ListInvoicesRequest {
            page: page.page()?,
            customer_id,
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

/// One of my invoices or credit notes.
#[utoipa::path(get, path = "/v1/me/invoices/{id}", tag = "account",
    params(("id" = uuid::Uuid, Path, description = "The invoice's or credit note's id.")),
    security(("bearer" = [])),
    responses((status = 200, body = Invoice, description = "The invoice or credit note."), ReadProblems))]
async fn my_invoice(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
) -> Result<Json<Invoice>, Problem> {
    me(&who)?;
    let req = api
        .peers
        .request(&who, bill::GetInvoiceRequest { id: id.to_string() })?;
    let r = answer("billing", api.peers.billing.clone().get_invoice(req).await)?;
    r.invoice
        .map(|i| Json(i.into()))
        .ok_or_else(|| Problem::not_found(format!("invoice {id} not found")))
}

/// The PDF of one of my invoices or credit notes.
///
/// The document as it was mailed once the invoice was validated; a draft
/// has none yet (409).
#[utoipa::path(get, path = "/v1/me/invoices/{id}/pdf", tag = "account",
    params(("id" = uuid::Uuid, Path, description = "The invoice's or credit note's id.")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/pdf", body = Pdf, description = "The PDF.",
        headers(("Content-Disposition" = String, description = "inline, with the document's file name, e.g. F2026-000001.pdf"))),
        (status = 409, description = "A draft: no document yet.", content_type = "application/problem+json", body = Problem),
        ReadProblems))]
async fn my_invoice_pdf(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
) -> Result<Response, Problem> {
    me(&who)?;
    let req = api
        .peers
        .request(&who, bill::GetInvoiceDocumentRequest { id: id.to_string() })?;
    let r = answer(
        "billing",
        api.peers.billing.clone().get_invoice_document(req).await,
    )?;
    Ok(document(&r.content_type, &r.file_name, r.content))
}

/// My annual tax certificates, newest year first.
#[utoipa::path(get, path = "/v1/me/tax-certificates", tag = "account",
    security(("bearer" = [])),
    responses((status = 200, body = TaxCertificateList, description = "My certificates."), ReadProblems))]
async fn my_certificates(
    State(api): State<Api>,
    who: Bearer,
) -> Result<Json<TaxCertificateList>, Problem> {
    let customer_id = me(&who)?;
    let req = api
        .peers
        .request(&who, bill::ListTaxCertificatesRequest { customer_id })?;
    let r = answer(
        "billing",
        api.peers.billing.clone().list_tax_certificates(req).await,
    )?;
    Ok(Json(TaxCertificateList {
        items: r
            .certificates
            .into_iter()
            .map(TaxCertificate::from)
            .collect(),
    }))
}

/// The PDF of one of my tax certificates.
#[utoipa::path(get, path = "/v1/me/tax-certificates/{id}/pdf", tag = "account",
    params(("id" = uuid::Uuid, Path, description = "The certificate's id.")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/pdf", body = Pdf, description = "The PDF.",
        headers(("Content-Disposition" = String, description = "inline, with the document's file name"))),
        ReadProblems))]
async fn my_certificate_pdf(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
) -> Result<Response, Problem> {
    me(&who)?;
    let req = api.peers.request(
        &who,
        bill::GetTaxCertificateDocumentRequest { id: id.to_string() },
    )?;
    let r = answer(
        "billing",
        api.peers
            .billing
            .clone()
            .get_tax_certificate_document(req)
            .await,
    )?;
    Ok(document(&r.content_type, &r.file_name, r.content))
}
