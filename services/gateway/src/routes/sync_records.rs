//! What a connection's syncs leave, over the connector's gRPC API: the
//! bindings of shop records to ERP records, the ERP writes given up (dead
//! letters) and their replay, the conflicts and how to settle them
//! (docs/sync.md). Paged by cursor. The connector decides who may (admins:
//! docs/access.md); another tenant's connection is 404 as if absent. Every
//! other consumer's dead letters are in `messaging`.

use axum::{Json, extract::State, http::StatusCode};
use relais_proto::connector as pb;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ReadProblems, WriteProblems, connections::answer};
use crate::{
    Api,
    extract::{Bearer, Id, JsonBody, Query},
    model::sync_records::{
        BindingPage, Conflict, ConflictPage, DeadLetter, DeadLetterPage, ResolveBody,
    },
    paging::{PageQuery, next_cursor},
    problem::{Kind, Problem},
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_bindings))
        .routes(routes!(list_dead_letters))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(list_conflicts))
        .routes(routes!(resolve_conflict))
}

/// Narrows the bindings.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BindingFilter {
    /// Only this entity's (customer, worker, quote, intervention,
    /// tariff...); absent: every entity.
    entity: Option<String>,
}

/// The shop records bound to their ERP counterparts, by entity then shop
/// id.
#[utoipa::path(get, path = "/v1/office/connections/{id}/bindings", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id."), BindingFilter, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = BindingPage, description = "A page of the connection's bindings."), ReadProblems))]
async fn list_bindings(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    Query(f): Query<BindingFilter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<BindingPage>, Problem> {
    let req = api.peers.request(
        &who,
        pb::ListBindingsRequest {
            connection_id: id.to_string(),
            entity: f.entity.unwrap_or_default(),
            page: page.page()?,
        },
    )?;
    let r = answer(api.peers.connector.clone().list_bindings(req).await)?;
    Ok(Json(BindingPage {
        items: r.bindings.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// Writes to the ERP given up after their last attempt, oldest first.
#[utoipa::path(get, path = "/v1/office/connections/{id}/dead-letters", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id."), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DeadLetterPage, description = "A page of the connection's dead letters."), ReadProblems))]
async fn list_dead_letters(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    Query(page): Query<PageQuery>,
) -> Result<Json<DeadLetterPage>, Problem> {
    let req = api.peers.request(
        &who,
        pb::ListDeadLettersRequest {
            connection_id: id.to_string(),
            page: page.page()?,
        },
    )?;
    let r = answer(api.peers.connector.clone().list_dead_letters(req).await)?;
    Ok(Json(DeadLetterPage {
        items: r.dead_letters.into_iter().map(DeadLetter::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// Replays a dead letter.
///
/// It goes back in the queue, to be written again from the record's
/// current state with the same idempotency reference (no second record in
/// the ERP). A dead letter already replayed is 404.
#[utoipa::path(post, path = "/v1/office/connections/dead-letters/{id}/replay", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The dead letter's id.")),
    security(("bearer" = [])),
    responses((status = 202, description = "Queued to be written again."), WriteProblems))]
async fn replay_dead_letter(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    let req = api
        .peers
        .request(&who, pb::ReplayDeadLetterRequest { id: id.to_string() })?;
    answer(api.peers.connector.clone().replay_dead_letter(req).await)?;
    Ok(StatusCode::ACCEPTED)
}

/// Narrows the conflicts.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictFilter {
    /// Only those waiting for the office (policy manual).
    open_only: Option<bool>,
}

/// Records changed on both sides, and ERP edits written over, newest
/// first: each field with both sides' values, who won and by which rule,
/// who settled it.
#[utoipa::path(get, path = "/v1/office/connections/{id}/conflicts", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id."), ConflictFilter, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ConflictPage, description = "A page of the connection's conflicts."), ReadProblems))]
async fn list_conflicts(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    Query(f): Query<ConflictFilter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<ConflictPage>, Problem> {
    let req = api.peers.request(
        &who,
        pb::ListConflictsRequest {
            connection_id: id.to_string(),
            open_only: f.open_only.unwrap_or(false),
            page: page.page()?,
        },
    )?;
    let r = answer(api.peers.connector.clone().list_conflicts(req).await)?;
    Ok(Json(ConflictPage {
        items: r.conflicts.into_iter().map(Conflict::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// Settles a conflict left to the office.
///
/// Both sides are read as they are now and merged with the chosen side
/// winning every conflicting field, written, read back, and the record is
/// released. One already settled is 409.
#[utoipa::path(post, path = "/v1/office/connections/conflicts/{id}/resolve", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The conflict's id.")),
    request_body = ResolveBody,
    security(("bearer" = [])),
    responses((status = 200, body = Conflict, description = "The conflict, settled."), WriteProblems))]
async fn resolve_conflict(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<Json<Conflict>, Problem> {
    let req = api.peers.request(
        &who,
        pb::ResolveConflictRequest {
            id: id.to_string(),
            winner: body.winner.into_pb(),
        },
    )?;
    let r = answer(api.peers.connector.clone().resolve_conflict(req).await)?;
    r.conflict
        .map(|c| Json(c.into()))
        .ok_or_else(|| Problem::new(Kind::BadGateway, "the connector answered no conflict"))
}
