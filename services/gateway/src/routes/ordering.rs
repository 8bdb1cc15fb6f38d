//! Placing orders: a booking (one-time or recurring), a product order, an
//! hour-pack purchase. Each is the orders service's call with the
//! request's `Idempotency-Key` as its key, so a retried POST returns the
//! order it placed the first time.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::WriteProblems;
use crate::{
    Api,
    extract::{Bearer, IdempotencyKey, JsonBody},
    model::{
        orders::Order,
        placing::{PlaceBooking, PlaceHourPackOrder, PlaceProductOrder},
    },
    peers::answer,
    problem::Problem,
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(place_booking))
        .routes(routes!(place_product_order))
        .routes(routes!(place_hour_pack_order))
}

/// The customer an order is for: the body's, or, when it names none, the
/// token's own customer (a customer orders for themselves). Whether the
/// caller may order for that customer is the orders service's to say.
fn for_customer(named: String, who: &Bearer) -> String {
    match (named.trim().is_empty(), who.caller.customer_id) {
        (true, Some(me)) => me.to_string(),
        _ => named,
    }
}

/// 201 with the order, and where the customer reads it again.
fn created(order: Option<relais_proto::orders::Order>) -> Result<Response, Problem> {
    let order: Order = order.map(Order::from).ok_or_else(|| {
        Problem::new(
            crate::problem::Kind::BadGateway,
            "the orders service answered no order",
        )
    })?;
    let location = HeaderValue::from_str(&format!("/v1/me/orders/{}", order.id)).ok();
    let mut res = (StatusCode::CREATED, Json(order)).into_response();
    if let Some(l) = location {
        res.headers_mut().insert(header::LOCATION, l);
    }
    Ok(res)
}

/// Books a service, one-time or recurring.
///
/// Recurring: weekly on chosen weekdays, or monthly. Placed, not yet confirmed: paying (or the shop's acceptance)
/// confirms it, and then each occurrence is planned with a worker. Refused
/// (400, naming the field) when no qualified worker (the chosen one, if
/// any) is free for an occurrence, with the next free slots in the reason.
#[utoipa::path(post, path = "/v1/shop/bookings", tag = "shop",
    params(("Idempotency-Key" = String, Header,
        description = "Required. A new unique value (e.g. a UUID) per booking, sent again unchanged when retrying it; 1 to 255 visible ASCII characters.",
        min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    request_body = PlaceBooking,
    security(("bearer" = [])),
    responses((status = 201, body = Order, description = "The booking placed (or, for a repeated key, the one placed the first time).",
        headers(("Location" = String, description = "The order in the customer's account."))),
        WriteProblems))]
async fn place_booking(
    State(api): State<Api>,
    who: Bearer,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(mut body): JsonBody<PlaceBooking>,
) -> Result<Response, Problem> {
    body.customer_id = for_customer(body.customer_id, &who);
    let req = api.peers.request(&who, body.into_pb(key))?;
    let r = answer("orders", api.peers.orders.clone().place_booking(req).await)?;
    created(r.order)
}

/// Orders products.
///
/// Prices, VAT rates and stock are the catalogue's at
/// placement and are kept on the lines.
#[utoipa::path(post, path = "/v1/shop/product-orders", tag = "shop",
    params(("Idempotency-Key" = String, Header,
        description = "Required. A new unique value (e.g. a UUID) per order, sent again unchanged when retrying it; 1 to 255 visible ASCII characters.",
        min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    request_body = PlaceProductOrder,
    security(("bearer" = [])),
    responses((status = 201, body = Order, description = "The order placed (or, for a repeated key, the one placed the first time).",
        headers(("Location" = String, description = "The order in the customer's account."))),
        WriteProblems))]
async fn place_product_order(
    State(api): State<Api>,
    who: Bearer,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(mut body): JsonBody<PlaceProductOrder>,
) -> Result<Response, Problem> {
    body.customer_id = for_customer(body.customer_id, &who);
    let req = api.peers.request(&who, body.into_pb(key))?;
    let r = answer(
        "orders",
        api.peers.orders.clone().place_product_order(req).await,
    )?;
    created(r.order)
}

/// Buys an hour pack.
///
/// Paid by card at order; once confirmed, its hours pay
/// for bookings (`payment_mode: hour_pack`).
#[utoipa::path(post, path = "/v1/shop/hour-pack-orders", tag = "shop",
    params(("Idempotency-Key" = String, Header,
        description = "Required. A new unique value (e.g. a UUID) per purchase, sent again unchanged when retrying it; 1 to 255 visible ASCII characters.",
        min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    request_body = PlaceHourPackOrder,
    security(("bearer" = [])),
    responses((status = 201, body = Order, description = "The purchase placed (or, for a repeated key, the one placed the first time).",
        headers(("Location" = String, description = "The order in the customer's account."))),
        WriteProblems))]
async fn place_hour_pack_order(
    State(api): State<Api>,
    who: Bearer,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(mut body): JsonBody<PlaceHourPackOrder>,
) -> Result<Response, Problem> {
    body.customer_id = for_customer(body.customer_id, &who);
    let req = api.peers.request(&who, body.into_pb(key))?;
    let r = answer(
        "orders",
        api.peers.orders.clone().place_hour_pack_order(req).await,
    )?;
    created(r.order)
}
