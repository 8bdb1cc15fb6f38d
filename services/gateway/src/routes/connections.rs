//! The office's ERP connections, over the connector's gRPC API: settings
//! (credentials taken, never returned), a sync run now with its progress
//! streamed as server-sent events, runs, tariff mappings, verify
//! (docs/sync.md); what the syncs leave (bindings, dead letters,
//! conflicts) is in `sync_records`. The connector decides who may
//! (admins: docs/access.md); another tenant's connection is 404 as if
//! absent.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::{FromRequestParts, RawPathParams, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{Stream, stream};
use relais_proto::connector as pb;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ReadProblems, WriteProblems};
use crate::{
    Api,
    extract::{Bearer, Id, IdempotencyKey, JsonBody, Query},
    model::connector::{
        Connection, ConnectionBody, ConnectionList, Run, RunPage, RunSyncBody, TariffBody,
        TariffMapping, TariffMappingList, VerifyBody, VerifyReport,
    },
    paging::{PageQuery, next_cursor},
    problem::{Kind, Problem},
};

const SERVICE: &str = "connector";

/// How often an idle event stream says it is alive (a comment), so proxies
/// and the client keep it open through a long quiet stretch of a run.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(get_connection, update_connection))
        .routes(routes!(run_sync, list_runs))
        .routes(routes!(list_tariff_mappings))
        .routes(routes!(set_tariff_mapping, remove_tariff_mapping))
        .routes(routes!(verify))
}

/// The connector's answer, or its status as a problem whose fields are
/// named as the client sent them: the connection's id is the path's `id`.
pub(super) fn answer<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Result<T, Problem> {
    crate::peers::answer(SERVICE, result).map_err(|p| p.renamed("connection_id", "id"))
}

fn connection(c: Option<pb::Connection>) -> Result<Connection, Problem> {
    c.map(Connection::from)
        .ok_or_else(|| Problem::new(Kind::BadGateway, "the connector answered no connection"))
}

/// The tenant's ERP connections.
#[utoipa::path(get, path = "/v1/office/connections", tag = "connections",
    security(("bearer" = [])),
    responses((status = 200, body = ConnectionList, description = "Every connection of the tenant."), ReadProblems))]
async fn list_connections(
    State(api): State<Api>,
    who: Bearer,
) -> Result<Json<ConnectionList>, Problem> {
    let req = api.peers.request(&who, pb::ListConnectionsRequest {})?;
    let r = answer(api.peers.connector.clone().list_connections(req).await)?;
    Ok(Json(ConnectionList {
        items: r.connections.into_iter().map(Connection::from).collect(),
    }))
}

/// One connection.
#[utoipa::path(get, path = "/v1/office/connections/{id}", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id.")),
    security(("bearer" = [])),
    responses((status = 200, body = Connection, description = "The connection."), ReadProblems))]
async fn get_connection(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
) -> Result<Json<Connection>, Problem> {
    let req = api.peers.request(&who, pb::ListConnectionsRequest {})?;
    let r = answer(api.peers.connector.clone().list_connections(req).await)?;
    let id = id.to_string();
    r.connections
        .into_iter()
        .find(|c| c.id == id)
        .map(|c| Json(c.into()))
        .ok_or_else(|| Problem::not_found(format!("connection {id}")))
}

/// Connects an ERP.
///
/// Its credentials are given either here (`secret`, stored sealed) or by
/// the name they are kept under (`secret_ref`); they are never returned.
#[utoipa::path(post, path = "/v1/office/connections", tag = "connections",
    params(("Idempotency-Key" = String, Header,
        description = "Required. A new unique value (e.g. a UUID) per connection, sent again unchanged when retrying it; 1 to 255 visible ASCII characters.")),
    request_body = ConnectionBody,
    security(("bearer" = [])),
    responses((status = 201, body = Connection, description = "The connection (or, for a repeated key, the one created the first time).",
        headers(("Location" = String, description = "The connection."))),
        WriteProblems))]
async fn create_connection(
    State(api): State<Api>,
    who: Bearer,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(body): JsonBody<ConnectionBody>,
) -> Result<Response, Problem> {
    let req = api.peers.request(
        &who,
        pb::CreateConnectionRequest {
            idempotency_key: key,
            fields: Some(body.fields()),
        },
    )?;
    let r = answer(api.peers.connector.clone().create_connection(req).await)
        .map_err(|p| p.unprefixed("fields."))?;
    let c = connection(r.connection)?;
    let location = HeaderValue::from_str(&format!("/v1/office/connections/{}", c.id)).ok();
    let mut res = (StatusCode::CREATED, Json(c)).into_response();
    if let Some(l) = location {
        res.headers_mut().insert(header::LOCATION, l);
    }
    Ok(res)
}

/// Replaces a connection's settings.
///
/// Its name and adapter cannot change; credentials left empty keep the
/// stored ones.
#[utoipa::path(put, path = "/v1/office/connections/{id}", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id.")),
    request_body = ConnectionBody,
    security(("bearer" = [])),
    responses((status = 200, body = Connection, description = "The connection, with its new version."), WriteProblems))]
async fn update_connection(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    JsonBody(body): JsonBody<ConnectionBody>,
) -> Result<Json<Connection>, Problem> {
    let expected_version = body.expected_version;
    let req = api.peers.request(
        &who,
        pb::UpdateConnectionRequest {
            id: id.to_string(),
            expected_version,
            fields: Some(body.fields()),
        },
    )?;
    let r = answer(api.peers.connector.clone().update_connection(req).await)
        .map_err(|p| p.unprefixed("fields."))?;
    Ok(Json(connection(r.connection)?))
}

/// Whether the client takes an event stream (`Accept: text/event-stream`).
fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// An event carrying `data` as JSON.
fn event<T: serde::Serialize>(name: &str, data: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

/// What the connector's stream of a run becomes: a `progress` event per
/// message, a `result` event with the finished run, or a `problem` event
/// if the connector failed on the way; then the stream ends.
fn run_events(
    messages: tonic::Streaming<pb::RunSyncResponse>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    // `messages` lives in this stream and is dropped with it: a client
    // that goes away cancels the gRPC call (the connector finishes the run
    // anyway).
    stream::unfold(Some(messages), |messages| async move {
        let mut messages = messages?;
        let (ev, more) = match messages.message().await {
            Ok(Some(m)) => match (m.finished, m.run.map(Run::from)) {
                (true, Some(run)) => (event("result", &run), false),
                (false, Some(run)) => (event("progress", &run), true),
                (_, None) => (
                    event(
                        "problem",
                        &Problem::new(Kind::BadGateway, "the connector sent no run"),
                    ),
                    false,
                ),
            },
            Ok(None) => (
                event(
                    "problem",
                    &Problem::new(
                        Kind::BadGateway,
                        "the connector ended the run's stream without its result",
                    ),
                ),
                false,
            ),
            Err(status) => (
                event("problem", &Problem::from_status(SERVICE, &status)),
                false,
            ),
        };
        Some((Ok(ev), more.then_some(messages)))
    })
}

/// Runs a family's flow now, streaming its progress.
///
/// A pull from the ERP, or with `full` everything again (for a push family,
/// every shop record sent: the batch transfer). With `Accept:
/// text/event-stream` the answer is a stream of server-sent events: a
/// `progress` event (a run) as it goes, a `result` event with the finished
/// run (its status `succeeded`, `partial` or `failed`) and the end, or a
/// `problem` event (a problem document) if the connector fails on the way;
/// comments keep an idle stream alive. Otherwise the answer waits for the
/// finished run. What is refused before the run starts (a disabled
/// connection, a family it does not pull) is a problem as for any call. A
/// client that goes away stops listening; the run goes on to its end (see
/// the runs).
#[utoipa::path(post, path = "/v1/office/connections/{id}/runs", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id.")),
    request_body = RunSyncBody,
    security(("bearer" = [])),
    responses((status = 200, description = "The run's progress as server-sent events (`progress`, then `result` or `problem`), or the finished run as JSON.",
        content((String = "text/event-stream"), (Run = "application/json"))),
        WriteProblems))]
async fn run_sync(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RunSyncBody>,
) -> Result<Response, Problem> {
    let req = api.peers.request(
        &who,
        pb::RunSyncRequest {
            connection_id: id.to_string(),
            family: body.family,
            full: body.full,
        },
    )?;
    let messages = answer(api.peers.connector.clone().run_sync(req).await)?;
    if wants_events(&headers) {
        let mut res = Sse::new(run_events(messages))
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("alive"))
            .into_response();
        // Proxies that buffer (nginx) would hold the progress back.
        res.headers_mut()
            .insert("x-accel-buffering", HeaderValue::from_static("no"));
        return Ok(res);
    }
    let mut messages = messages;
    loop {
        match messages.message().await {
            Ok(Some(m)) if m.finished => {
                let run = m
                    .run
                    .map(Run::from)
                    .ok_or_else(|| Problem::new(Kind::BadGateway, "the connector sent no run"))?;
                return Ok(Json(run).into_response());
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Problem::new(
                    Kind::BadGateway,
                    "the connector ended the run's stream without its result",
                ));
            }
            Err(status) => return Err(Problem::from_status(SERVICE, &status)),
        }
    }
}

/// A connection's runs, newest first: pulls, batch transfers and verifies.
#[utoipa::path(get, path = "/v1/office/connections/{id}/runs", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id."), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = RunPage, description = "A page of runs."), ReadProblems))]
async fn list_runs(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    Query(page): Query<PageQuery>,
) -> Result<Json<RunPage>, Problem> {
    let req = api.peers.request(
        &who,
        pb::ListRunsRequest {
            connection_id: id.to_string(),
            page: page.page()?,
        },
    )?;
    let r = answer(api.peers.connector.clone().list_runs(req).await)?;
    Ok(Json(RunPage {
        items: r.runs.into_iter().map(Run::from).collect(),
        next_cursor: next_cursor(r.next_page_token),
    }))
}

/// Which shop service maps to which ERP tariff (skills sync only through
/// these).
#[utoipa::path(get, path = "/v1/office/connections/{id}/tariff-mappings", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id.")),
    security(("bearer" = [])),
    responses((status = 200, body = TariffMappingList, description = "The connection's tariff mappings."), ReadProblems))]
async fn list_tariff_mappings(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
) -> Result<Json<TariffMappingList>, Problem> {
    let req = api.peers.request(
        &who,
        pb::ListTariffMappingsRequest {
            connection_id: id.to_string(),
        },
    )?;
    let r = answer(api.peers.connector.clone().list_tariff_mappings(req).await)?;
    Ok(Json(TariffMappingList {
        items: r
            .mappings
            .into_iter()
            .map(|m| TariffMapping {
                service_id: m.service_id,
                tariff_id: m.tariff_id,
            })
            .collect(),
    }))
}

/// The `{service_id}` of the path, as given (the connector checks it).
struct ServiceId(String);

impl<S: Send + Sync> FromRequestParts<S> for ServiceId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::field("service_id", e.to_string()))?;
        params
            .iter()
            .find(|(name, _)| *name == "service_id")
            .map(|(_, v)| ServiceId(v.to_owned()))
            .ok_or_else(|| Problem::field("service_id", "is required"))
    }
}

async fn set_tariff(
    api: &Api,
    who: &Bearer,
    id: uuid::Uuid,
    service_id: String,
    tariff_id: String,
) -> Result<(), Problem> {
    let req = api.peers.request(
        who,
        pb::SetTariffMappingRequest {
            connection_id: id.to_string(),
            service_id,
            tariff_id,
        },
    )?;
    answer(api.peers.connector.clone().set_tariff_mapping(req).await)?;
    Ok(())
}

/// Maps a shop service to an ERP tariff (replacing its mapping).
#[utoipa::path(put, path = "/v1/office/connections/{id}/tariff-mappings/{service_id}", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id."),
        ("service_id" = uuid::Uuid, Path, description = "The shop service's id.")),
    request_body = TariffBody,
    security(("bearer" = [])),
    responses((status = 200, body = TariffMapping, description = "The mapping."), WriteProblems))]
async fn set_tariff_mapping(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    ServiceId(service_id): ServiceId,
    JsonBody(body): JsonBody<TariffBody>,
) -> Result<Json<TariffMapping>, Problem> {
    if body.tariff_id.trim().is_empty() {
        // Empty would remove the mapping: that is DELETE.
        return Err(Problem::field(
            "tariff_id",
            "is required (DELETE removes a mapping)",
        ));
    }
    let tariff_id = body.tariff_id.trim().to_owned();
    set_tariff(&api, &who, id, service_id.clone(), tariff_id.clone()).await?;
    Ok(Json(TariffMapping {
        service_id,
        tariff_id,
    }))
}

/// Removes a shop service's tariff mapping.
#[utoipa::path(delete, path = "/v1/office/connections/{id}/tariff-mappings/{service_id}", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id."),
        ("service_id" = uuid::Uuid, Path, description = "The shop service's id.")),
    security(("bearer" = [])),
    responses((status = 204, description = "No mapping left for the service."), WriteProblems))]
async fn remove_tariff_mapping(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    ServiceId(service_id): ServiceId,
) -> Result<StatusCode, Problem> {
    set_tariff(&api, &who, id, service_id, String::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Compares both sides under the connection's bindings, field by field.
///
/// Reports records that differ, bound records missing on one side and ERP
/// records made twice; with `repair`, settles each difference as a sync
/// would. Kept as a run of the family `verify`.
#[utoipa::path(post, path = "/v1/office/connections/{id}/verify", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection's id.")),
    request_body = VerifyBody,
    security(("bearer" = [])),
    responses((status = 200, body = VerifyReport, description = "The drift found (and repaired)."), WriteProblems))]
async fn verify(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Json<VerifyReport>, Problem> {
    let req = api.peers.request(
        &who,
        pb::VerifyRequest {
            connection_id: id.to_string(),
            repair: body.repair,
        },
    )?;
    let r = answer(api.peers.connector.clone().verify(req).await)?;
    r.report
        .map(|r| Json(r.into()))
        .ok_or_else(|| Problem::new(Kind::BadGateway, "the connector answered no report"))
}
