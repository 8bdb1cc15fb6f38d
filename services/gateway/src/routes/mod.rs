//! The API: every route is added with `routes!` from a handler carrying its
//! `#[utoipa::path]` description, so the OpenAPI document and the router
//! come from the same place and cannot disagree (a test checks that no
//! route is added another way). `/openapi.json` and the interactive page at
//! `/docs` are served beside them.

mod account;
mod auth;
mod card;
mod connections;
mod cors;
mod documents;
mod interventions;
mod messaging;
mod office;
mod ordering;
mod residences;
mod shop;
mod sync_records;

use std::collections::BTreeMap;

use axum::Router;
use utoipa::{
    IntoResponses, Modify, OpenApi,
    openapi::{
        Content, OpenApi as Document, RefOr, Response, ResponseBuilder,
        security::{Http, HttpAuthScheme, SecurityScheme},
    },
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    Api,
    problem::{self, FieldError, Kind, Problem},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Relais API",
        description = "The public HTTP/JSON API of Relais: the shop (catalogue, free slots, \
            bookings, product orders, hour packs) and the customer's account (orders, \
            interventions, packs, invoices and tax certificates with their PDFs, the saved \
            card), over the \
            services' gRPC APIs.\n\n\
            **Authentication.** Every operation takes a bearer token (`Authorization: Bearer \
            <jwt>`); the tenant, role and customer come from it, never from a body. The \
            services decide what a caller may see: another customer's or another tenant's \
            record is 404, as if absent.\n\n\
            **Errors** are RFC 9457 problem details (`application/problem+json`) whose `type` \
            is `urn:relais:problem:<kind>`; a refused request lists each bad field in `errors`.\n\n\
            **Creating** (every POST that places an order) needs an `Idempotency-Key` header: \
            sending the same key and body again returns the first answer instead of a second \
            order; the same key with another body is refused (400).\n\n\
            **Listings** are paged by cursor: pass the `next_cursor` of a page as `cursor` for \
            the next; `limit` is 1 to 500 (50 by default). Amounts are integer cents with \
            their ISO currency; VAT rates are basis points (2000 = 20 %).",
        version = "1.0.0",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Accounts and sign-in: sign-up, sign-in, refresh, sign-out, password reset, invitations."),
        (name = "shop", description = "The catalogue, free slots, and placing orders."),
        (name = "account", description = "The signed-in customer's own records."),
        (name = "office", description = "Staff and the office: customers, workers, invoices to validate."),
        (name = "messaging", description = "The office's view of each service's events: dead letters of its consumers (listed, replayed) and backlogs."),
        (name = "connections", description = "The office's ERP connections: settings, runs with live progress, bindings, dead letters, conflicts, tariff mappings, verify."),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The routes of the API and their descriptions, not yet split.
fn api() -> OpenApiRouter<Api> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(shop::routes())
        .merge(ordering::routes())
        .merge(account::routes())
        .merge(card::routes())
        .merge(documents::routes())
        .merge(office::routes())
        .merge(residences::routes())
        .merge(interventions::routes())
        .merge(connections::routes())
        .merge(sync_records::routes())
        .merge(messaging::routes())
        .merge(cors::routes())
}

/// The OpenAPI document, as served at `/openapi.json` and committed as
/// `services/gateway/openapi.json`.
pub fn openapi() -> Document {
    api().split_for_parts().1
}

/// The whole HTTP service: the API, its document and interactive page,
/// and problem answers for what matches no route.
pub fn router(state: Api) -> Router {
    let (api, doc) = api().split_for_parts();
    api.with_state(state.clone())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(|| async { Problem::not_found("no such route: see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                Kind::MethodNotAllowed,
                "this route does not take that method: see /openapi.json",
            )
        })
        // Outermost: a preflight is answered before any route sees it.
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::cors::layer,
        ))
}

/// What any operation may answer besides its success: each a problem.
fn problems(kinds: &[Kind]) -> BTreeMap<String, RefOr<Response>> {
    kinds
        .iter()
        .map(|k| {
            let response = ResponseBuilder::new()
                .description(match k {
                    Kind::InvalidRequest => "The request is invalid: each bad field is in `errors`.",
                    Kind::Unauthenticated => "No bearer token, or one that is invalid or expired.",
                    Kind::Forbidden => "The caller's role may never do this.",
                    Kind::NotFound => "No such record, or not one the caller may see.",
                    Kind::Conflict => "The record's state refuses it (or a stale version, a concurrent request with the same key).",
                    Kind::UnsupportedMediaType => "The body is not JSON.",
                    Kind::TooManyRequests => "Too many requests; retry later.",
                    Kind::Unavailable => "A service did not answer in time; retry later.",
                    Kind::BadGateway => "A service failed.",
                    Kind::MethodNotAllowed => "The route does not take this method.",
                })
                .content(
                    problem::CONTENT_TYPE,
                    Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Problem",
                    )))),
                )
                .build();
            (k.status().as_u16().to_string(), RefOr::T(response))
        })
        .collect()
}

/// The problems of an operation that reads.
pub struct ReadProblems;

impl IntoResponses for ReadProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            Kind::InvalidRequest,
            Kind::Unauthenticated,
            Kind::Forbidden,
            Kind::NotFound,
            Kind::TooManyRequests,
            Kind::BadGateway,
            Kind::Unavailable,
        ])
    }
}

/// The problems of an operation that takes a body and changes something.
pub struct WriteProblems;

impl IntoResponses for WriteProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            Kind::InvalidRequest,
            Kind::Unauthenticated,
            Kind::Forbidden,
            Kind::NotFound,
            Kind::Conflict,
            Kind::UnsupportedMediaType,
            Kind::TooManyRequests,
            Kind::BadGateway,
            Kind::Unavailable,
        ])
    }
}

#[cfg(test)]
mod tests {
    /// Every `$ref` of the document names a schema it has: utoipa adds the
    /// schemas a handler's bodies and answers use, not those of a query
    /// parameter's type (such a type is `#[param(inline)]`), and a client
    /// or a fuzzer cannot read a reference to nothing.
    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                        out.push(r);
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(super::openapi()).unwrap_or_default();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or(r);
            assert!(
                doc.pointer(pointer).is_some(),
                "{r} names nothing in the document"
            );
        }
    }

    /// The promise that the document describes every route holds only if
    /// routes are added with `routes!`: axum's `route` (or the
    /// undocumented one OpenApiRouter keeps) would add a path the document
    /// never names.
    #[test]
    fn every_route_is_added_with_its_description() {
        let sources = [
            include_str!("auth.rs"),
            include_str!("shop.rs"),
            include_str!("ordering.rs"),
            include_str!("account.rs"),
            include_str!("card.rs"),
            include_str!("documents.rs"),
            include_str!("office.rs"),
            include_str!("residences.rs"),
            include_str!("interventions.rs"),
            include_str!("connections.rs"),
            include_str!("sync_records.rs"),
            include_str!("cors.rs"),
            include_str!("mod.rs"),
        ];
        let needle = concat!(".route", "(");
        let service = concat!(".route_service", "(");
        let nest = concat!(".nest", "(");
        for src in sources {
            assert!(
                !src.contains(needle) && !src.contains(service) && !src.contains(nest),
                "a route added without routes!: describe it with #[utoipa::path] and add it with routes!"
            );
        }
    }
}
