//! My saved card (the customer's account): read it, save or replace it,
//! remove it. The card itself is saved with the payment provider by its
//! client-side tokenisation; the shop keeps the provider's reference,
//! which billing debits for my card invoices. The orders service decides
//! whose card a token may touch: a customer's own, from the token, never
//! an id of the request (none is taken here).

use axum::{Json, extract::State, http::StatusCode};
use relais_proto::orders as ord;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ReadProblems, WriteProblems, account::me};
use crate::{
    Api,
    extract::{Bearer, JsonBody},
    model::card::{SaveCard, SavedCard},
    peers::answer,
    problem::{Kind, Problem},
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(my_card, save_my_card, remove_my_card))
}

/// My saved card: whether card payments are debited from one, since when.
#[utoipa::path(get, path = "/v1/me/card", tag = "account",
    security(("bearer" = [])),
    responses((status = 200, body = SavedCard, description = "My saved card, or `saved: false`."), ReadProblems))]
async fn my_card(State(api): State<Api>, who: Bearer) -> Result<Json<SavedCard>, Problem> {
    me(&who)?;
    // No customer_id: the service takes the token's.
    let req = api
        .peers
        .request(&who, ord::GetCustomerPaymentMethodRequest::default())?;
    let r = answer(
        "orders",
        api.peers
            .orders
            .clone()
            .get_customer_payment_method(req)
            .await,
    )?;
    card(r.payment_method)
}

/// Saves my card, replacing the one saved before.
///
/// The body is the payment provider's reference of a payment method its
/// client-side tokenisation gave (never card numbers). Saving the card
/// already saved changes nothing; PUT is idempotent, so no
/// `Idempotency-Key` is needed. Card payments of invoices validated from
/// now on are debited from it.
#[utoipa::path(put, path = "/v1/me/card", tag = "account",
    request_body = SaveCard, security(("bearer" = [])),
    responses((status = 200, body = SavedCard, description = "My saved card."), WriteProblems))]
async fn save_my_card(
    State(api): State<Api>,
    who: Bearer,
    JsonBody(body): JsonBody<SaveCard>,
) -> Result<Json<SavedCard>, Problem> {
    me(&who)?;
    let req = api.peers.request(
        &who,
        ord::SetCustomerPaymentMethodRequest {
            customer_id: String::new(),
            payment_method_ref: body.payment_method_ref,
        },
    )?;
    let r = answer(
        "orders",
        api.peers
            .orders
            .clone()
            .set_customer_payment_method(req)
            .await,
    )?;
    card(r.payment_method)
}

/// Removes my saved card: card invoices are no longer debited, they are
/// paid as their mail says. With no card saved, nothing changes (204
/// too).
#[utoipa::path(delete, path = "/v1/me/card", tag = "account",
    security(("bearer" = [])),
    responses((status = 204, description = "No card saved any more."), WriteProblems))]
async fn remove_my_card(State(api): State<Api>, who: Bearer) -> Result<StatusCode, Problem> {
    me(&who)?;
    let req = api
        .peers
        .request(&who, ord::RemoveCustomerPaymentMethodRequest::default())?;
    answer(
        "orders",
        api.peers
            .orders
            .clone()
            .remove_customer_payment_method(req)
            .await,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

fn card(p: Option<ord::PaymentMethod>) -> Result<Json<SavedCard>, Problem> {
    p.map(|p| Json(p.into()))
        .ok_or_else(|| Problem::new(Kind::BadGateway, "orders answered no payment method"))
}
