//! Staff and the office: the residences they work for (the selector), and
//! the orders placed there — who ordered what for whom, when, for how much
//! — with statistics and a CSV export. The orders service answers within
//! the caller's scope: staff read their residences' orders only.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use relais_proto::orders as ord;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ReadProblems;
use crate::{
    Api,
    extract::{Bearer, Query},
    model::{
        orders::{Order, OrderPage, OrderStatus},
        residences::{Dimension, Residence, ResidenceList, Statistics, StatisticsRow},
        timestamp,
    },
    paging::{PageQuery, next_cursor},
    peers::answer,
    problem::Problem,
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(my_residences))
        .routes(routes!(order_history))
        .routes(routes!(order_statistics))
        .routes(routes!(export_orders))
}

/// The residences the caller works for.
///
/// Staff: the residences they are a member of (the selector of the staff
/// pages); the office: every residence.
#[utoipa::path(get, path = "/v1/office/residences", tag = "office",
    security(("bearer" = [])),
    responses((status = 200, body = ResidenceList, description = "The residences."), ReadProblems))]
async fn my_residences(
    State(api): State<Api>,
    who: Bearer,
) -> Result<Json<ResidenceList>, Problem> {
    let req = api.peers.request(&who, ord::ListResidencesRequest {})?;
    let r = answer(
        "orders",
        api.peers.orders.clone().list_residences(req).await,
    )?;
    Ok(Json(ResidenceList {
        items: r.residences.into_iter().map(Residence::from).collect(),
    }))
}

/// Which orders: every filter narrows.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryFilter {
    /// For whom.
    customer_id: Option<String>,
    /// Where: one of the caller's residences (staff).
    residence_id: Option<String>,
    /// "product", "booking" or "hour_pack".
    kind: Option<String>,
    status: Option<OrderStatus>,
    /// Who placed it (their token's subject).
    placed_by: Option<String>,
    /// Placed at or after (RFC 3339).
    placed_from: Option<DateTime<Utc>>,
    /// Placed strictly before (RFC 3339).
    placed_to: Option<DateTime<Utc>>,
}

impl HistoryFilter {
    fn into_pb(self) -> ord::OrderFilter {
        ord::OrderFilter {
            customer_id: self.customer_id.unwrap_or_default(),
            residence_id: self.residence_id.unwrap_or_default(),
            kind: self.kind.unwrap_or_default(),
            status: self.status.map_or(0, OrderStatus::into_pb),
            placed_by: self.placed_by.unwrap_or_default(),
            placed_from: self.placed_from.map(timestamp),
            placed_to: self.placed_to.map(timestamp),
        }
    }
}

/// The order history: who ordered what for whom, when, for how much.
#[utoipa::path(get, path = "/v1/office/orders", tag = "office",
    params(PageQuery, HistoryFilter), security(("bearer" = [])),
    responses((status = 200, body = OrderPage, description = "A page of orders, newest first."), ReadProblems))]
async fn order_history(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
    Query(f): Query<HistoryFilter>,
) -> Result<Json<OrderPage>, Problem> {
    let req = api.peers.request(
        &who,
        ord::ListOrdersRequest {
            page: page.page()?,
            filter: Some(f.into_pb()),
        },
    )?;
    let r = answer("orders", api.peers.orders.clone().list_orders(req).await)?;
    Ok(Json(OrderPage {
        items: r.orders.into_iter().map(Order::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// What the statistics are grouped by.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// What the orders are grouped by.
    #[param(inline)]
    dimension: Dimension,
    /// IANA zone of the periods (default Europe/Paris).
    time_zone: Option<String>,
}

/// Order statistics: orders, quantities and totals per item, residence,
/// kind, day, week or month.
#[utoipa::path(get, path = "/v1/office/orders/statistics", tag = "office",
    params(StatisticsQuery, HistoryFilter), security(("bearer" = [])),
    responses((status = 200, body = Statistics, description = "One row per group."), ReadProblems))]
async fn order_statistics(
    State(api): State<Api>,
    who: Bearer,
    Query(q): Query<StatisticsQuery>,
    Query(f): Query<HistoryFilter>,
) -> Result<Json<Statistics>, Problem> {
    let req = api.peers.request(
        &who,
        ord::GetOrderStatisticsRequest {
            dimension: q.dimension.into_pb(),
            filter: Some(f.into_pb()),
            time_zone: q.time_zone.unwrap_or_default(),
        },
    )?;
    let r = answer(
        "orders",
        api.peers.orders.clone().get_order_statistics(req).await,
    )?;
    Ok(Json(Statistics {
        rows: r.rows.into_iter().map(StatisticsRow::from).collect(),
    }))
}

/// The orders as CSV (RFC 4180), a row per line, streamed as the orders
/// service writes it: a spreadsheet of who ordered what for whom.
#[utoipa::path(get, path = "/v1/office/orders/export", tag = "office",
    params(HistoryFilter), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "The orders' lines as CSV."), ReadProblems))]
async fn export_orders(
    State(api): State<Api>,
    who: Bearer,
    Query(f): Query<HistoryFilter>,
) -> Result<Response, Problem> {
    let req = api.peers.request(
        &who,
        ord::ExportOrdersRequest {
            filter: Some(f.into_pb()),
        },
    )?;
    let mut stream = answer("orders", api.peers.orders.clone().export_orders(req).await)?;
    // The first chunk is awaited here, so a refusal (a residence staff do
    // not work for) is a problem with its status, not a broken download.
    let first = stream
        .message()
        .await
        .map_err(|s| Problem::from_status("orders", &s))?;
    let rest = futures::stream::unfold(Some(stream), |s| async move {
        let mut s = s?;
        match s.message().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk.data), Some(s))),
            Ok(None) => None,
            Err(e) => {
                // Mid-stream: the client sees a cut body (and nothing more
                // is read); the log says why.
                tracing::warn!(code = ?e.code(), message = e.message(), "order export cut short");
                Some((Err(std::io::Error::other(e.message().to_owned())), None))
            }
        }
    });
    let body = futures::stream::iter(first.map(|c| Ok(c.data))).chain(rest);
    let mut res = Body::from_stream(body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"orders.csv\""),
    );
    Ok(res)
}
