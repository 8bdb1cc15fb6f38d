//! The signed-in customer's own records: orders, interventions, hour-pack
//! balances. "Me" is the token's customer; the services return only what
//! that customer may see, and another's order is 404 as if absent.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use relais_proto::{orders as ord, planning as plan};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ReadProblems;
use crate::{
    Api,
    extract::{Bearer, Id, Query},
    model::{
        orders::{Order, OrderPage, OrderStatus},
        planning::{Intervention, InterventionPage, PackBalance, PackBalanceList},
        timestamp,
    },
    paging::{PageQuery, next_cursor},
    peers::answer,
    problem::{Kind, Problem},
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(my_orders))
        .routes(routes!(my_order))
        .routes(routes!(my_interventions))
        .routes(routes!(my_packs))
}

/// The customer a `/v1/me/` route is about: the token's. A token without
/// one (staff, the office) has no "me" to read; what such a caller may
/// read of customers is the office's routes.
pub fn me(who: &Bearer) -> Result<String, Problem> {
    who.caller
        .customer_id
        .map(|c| c.to_string())
        .ok_or_else(|| {
            Problem::new(
                Kind::Forbidden,
                "/v1/me/ is a customer's account: this token names no customer",
            )
        })
}

/// What an order is of.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Product,
    Booking,
    HourPack,
}

impl OrderKind {
    /// The orders service's name for it.
    fn as_str(self) -> &'static str {
        match self {
            OrderKind::Product => "product",
            OrderKind::Booking => "booking",
            OrderKind::HourPack => "hour_pack",
        }
    }
}

/// Narrows my orders.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    /// Only orders of this kind.
    #[param(inline)]
    kind: Option<OrderKind>,
    status: Option<OrderStatus>,
}

/// My orders, newest first.
#[utoipa::path(get, path = "/v1/me/orders", tag = "account",
    params(PageQuery, OrderFilter), security(("bearer" = [])),
    responses((status = 200, body = OrderPage, description = "A page of my orders."), ReadProblems))]
async fn my_orders(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
    Query(f): Query<OrderFilter>,
) -> Result<Json<OrderPage>, Problem> {
    let customer_id = me(&who)?;
    let req = api.peers.request(
        &who,
        ord::ListOrdersRequest {
            page: page.page()?,
            filter: Some(ord::OrderFilter {
                customer_id,
                kind: f.kind.map(OrderKind::as_str).unwrap_or_default().to_owned(),
                status: f.status.map_or(0, OrderStatus::into_pb),
                ..Default::default()
            }),
        },
    )?;
    // The service names the filter's fields `filter.<name>`; the client
    // sent them as query parameters.
    let r = answer("orders", api.peers.orders.clone().list_orders(req).await)
        .map_err(|p| p.unprefixed("filter."))?;
    Ok(Json(OrderPage {
        items: r.orders.into_iter().map(Order::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// One of my orders.
#[utoipa::path(get, path = "/v1/me/orders/{id}", tag = "account",
    params(("id" = uuid::Uuid, Path, description = "The order's id.")),
    security(("bearer" = [])),
    responses((status = 200, body = Order, description = "The order."), ReadProblems))]
async fn my_order(State(api): State<Api>, who: Bearer, Id(id): Id) -> Result<Json<Order>, Problem> {
    me(&who)?;
    let req = api
        .peers
        .request(&who, ord::GetOrderRequest { id: id.to_string() })?;
    let r = answer("orders", api.peers.orders.clone().get_order(req).await)?;
    r.order
        .map(|o| Json(o.into()))
        .ok_or_else(|| Problem::not_found(format!("order {id} not found")))
}

/// A period of interventions.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InterventionFilter {
    /// Starting at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Starting before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only this booking's.
    order_id: Option<Uuid>,
}

/// My interventions (the occurrences of my bookings), in start order.
#[utoipa::path(get, path = "/v1/me/interventions", tag = "account",
    params(PageQuery, InterventionFilter), security(("bearer" = [])),
    responses((status = 200, body = InterventionPage, description = "A page of my interventions."), ReadProblems))]
async fn my_interventions(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
    Query(f): Query<InterventionFilter>,
) -> Result<Json<InterventionPage>, Problem> {
    let customer_id = me(&who)?;
    let req = api.peers.request(
        &who,
        plan::ListInterventionsRequest {
            page: page.page()?,
            customer_id,
            order_id: f.order_id.map(|o| o.to_string()).unwrap_or_default(),
            from: f.from.map(timestamp),
            to: f.to.map(timestamp),
            ..Default::default()
        },
    )?;
    let r = answer(
        "planning",
        api.peers.planning.clone().list_interventions(req).await,
    )?;
    Ok(Json(InterventionPage {
        items: r
            .interventions
            .into_iter()
            .map(Intervention::from)
            .collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// My hour packs: bought, planned, consumed and remaining minutes.
#[utoipa::path(get, path = "/v1/me/packs", tag = "account",
    security(("bearer" = [])),
    responses((status = 200, body = PackBalanceList, description = "My packs."), ReadProblems))]
async fn my_packs(State(api): State<Api>, who: Bearer) -> Result<Json<PackBalanceList>, Problem> {
    let customer_id = me(&who)?;
    let req = api
        .peers
        .request(&who, plan::ListPackBalancesRequest { customer_id })?;
    let r = answer(
        "planning",
        api.peers.planning.clone().list_pack_balances(req).await,
    )?;
    Ok(Json(PackBalanceList {
        items: r.balances.into_iter().map(PackBalance::from).collect(),
    }))
}
