//! The office's view of each service's messaging (MessagingService, served
//! by every service): its consumers' dead letters, listed and replayed, and
//! the backlog of every service. Admins only, as the services decide
//! (docs/access.md); another company's dead letter is 404 as if absent.

use axum::{
    Json,
    extract::{FromRequestParts, RawPathParams, State},
    http::request::Parts,
};
use futures::future::join_all;
use relais_proto::messaging::{self as pb, messaging_service_client::MessagingServiceClient};
use serde::Deserialize;
use tonic::transport::Channel;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ReadProblems, WriteProblems};
use crate::{
    Api,
    extract::{Bearer, Id, Query},
    model::messaging::{Backlog, EventDeadLetter, EventDeadLetterPage, ServiceBacklog},
    paging::{PageQuery, next_cursor},
    peers::answer,
    problem::Problem,
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(backlog))
        .routes(routes!(list_dead_letters))
        .routes(routes!(replay_dead_letter))
}

/// The `{service}` of the path: one of the services that run consumers.
struct Peer(&'static str, MessagingServiceClient<Channel>);

impl FromRequestParts<Api> for Peer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Problem> {
        let params = RawPathParams::from_request_parts(parts, api)
            .await
            .map_err(|e| Problem::field("service", e.to_string()))?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "service")
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        api.peers
            .messaging
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(name, client)| Peer(name, client.clone()))
            .ok_or_else(|| {
                Problem::not_found(
                    "no such service: catalogue, orders, planning, billing or connector",
                )
            })
    }
}

/// Narrows a service's dead letters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterFilter {
    /// Only this consumer's (e.g. `planning-bookings`); see the backlog
    /// for each service's consumers.
    consumer: Option<String>,
    /// Also those already replayed.
    include_replayed: Option<bool>,
}

/// Every service's backlog.
///
/// For each service: the company's events committed and not yet published
/// (and the age of the oldest), and per consumer the dead letters waiting
/// to be replayed. A service that does not answer is listed unreachable.
#[utoipa::path(get, path = "/v1/office/messaging/backlog", tag = "messaging",
    security(("bearer" = [])),
    responses((status = 200, body = Backlog, description = "Each service's backlog."), ReadProblems))]
async fn backlog(State(api): State<Api>, who: Bearer) -> Result<Json<Backlog>, Problem> {
    let calls = api.peers.messaging.iter().map(|(name, client)| {
        let mut client = client.clone();
        let req = api.peers.request(&who, pb::GetBacklogRequest {});
        async move {
            let answered = answer(name, client.get_backlog(req?).await);
            match answered {
                Ok(b) => Ok(ServiceBacklog::from(b)),
                // Down (503), or not serving it yet during a rollout (502):
                // the others still answer.
                Err(p) if p.status == 503 || p.status == 502 => {
                    Ok(ServiceBacklog::unreachable(name))
                }
                Err(p) => Err(p),
            }
        }
    });
    let services = join_all(calls)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, Problem>>()?;
    Ok(Json(Backlog { services }))
}

/// A service's dead letters.
///
/// Events one of its consumers gave up on (after its last attempt, or at
/// once for one it cannot read), oldest first: those waiting to be
/// replayed, or all with `include_replayed`.
#[utoipa::path(get, path = "/v1/office/messaging/{service}/dead-letters", tag = "messaging",
    params(("service" = String, Path, description = "catalogue, orders, planning, billing or connector."),
        PageQuery, DeadLetterFilter),
    security(("bearer" = [])),
    responses((status = 200, body = EventDeadLetterPage, description = "A page of dead letters."), ReadProblems))]
async fn list_dead_letters(
    State(api): State<Api>,
    who: Bearer,
    Peer(name, mut client): Peer,
    Query(page): Query<PageQuery>,
    Query(f): Query<DeadLetterFilter>,
) -> Result<Json<EventDeadLetterPage>, Problem> {
    let req = api.peers.request(
        &who,
        pb::ListDeadLettersRequest {
            consumer: f.consumer.unwrap_or_default(),
            include_replayed: f.include_replayed.unwrap_or(false),
            page: page.page()?,
        },
    )?;
    let r = answer(name, client.list_dead_letters(req).await)?;
    Ok(Json(EventDeadLetterPage {
        items: r.dead_letters.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// Replays a dead letter.
///
/// Once its cause is fixed: the event runs through the consumer that gave
/// up on it, once (a consumer's inbox drops what it already handled). When
/// it fails again it stays, with the new error: 409.
#[utoipa::path(post, path = "/v1/office/messaging/{service}/dead-letters/{id}/replay", tag = "messaging",
    params(("service" = String, Path, description = "catalogue, orders, planning, billing or connector."),
        ("id" = uuid::Uuid, Path, description = "The dead letter's id.")),
    security(("bearer" = [])),
    responses((status = 200, body = EventDeadLetter, description = "Replayed."), WriteProblems))]
async fn replay_dead_letter(
    State(api): State<Api>,
    who: Bearer,
    Peer(name, mut client): Peer,
    Id(id): Id,
) -> Result<Json<EventDeadLetter>, Problem> {
    let req = api
        .peers
        .request(&who, pb::ReplayDeadLetterRequest { id: id.to_string() })?;
    let r = answer(name, client.replay_dead_letter(req).await)?;
    r.dead_letter
        .map(|d| Json(d.into()))
        .ok_or_else(|| Problem::own_failure(name, "the replay's answer held no dead letter"))
}
