//! The office's planning: the interventions to read (a worker's, a
//! customer's, a booking's, or those nobody is assigned to yet) and the
//! changes to one — assign a worker, move it, cancel it, record it done —
//! for it alone, the following ones of its booking, or all. Planning
//! refuses a change that would clash (worker booked, absent, outside their
//! hours, lacking the skill) whole, naming why: a 409 here.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use relais_proto::planning as plan;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ReadProblems, WriteProblems};
use crate::{
    Api,
    extract::{Bearer, Id, JsonBody, Query},
    model::{
        planning::{Intervention, InterventionList, InterventionPage},
        timestamp,
    },
    paging::{PageQuery, next_cursor},
    peers::answer,
    problem::Problem,
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_interventions))
        .routes(routes!(change_intervention))
        .routes(routes!(change_my_intervention))
}

/// Which interventions: at least one of worker, customer and booking, or
/// `unassigned_only`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InterventionQuery {
    worker_id: Option<String>,
    customer_id: Option<String>,
    /// The booking.
    order_id: Option<String>,
    /// Starting at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Starting before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only the planned ones nobody is assigned to (each says why): what
    /// still needs someone.
    unassigned_only: Option<bool>,
}

/// Interventions, in start order.
#[utoipa::path(get, path = "/v1/office/interventions", tag = "office",
    params(PageQuery, InterventionQuery), security(("bearer" = [])),
    responses((status = 200, body = InterventionPage, description = "A page of interventions."), ReadProblems))]
async fn list_interventions(
    State(api): State<Api>,
    who: Bearer,
    Query(page): Query<PageQuery>,
    Query(q): Query<InterventionQuery>,
) -> Result<Json<InterventionPage>, Problem> {
    let req = api.peers.request(
        &who,
        plan::ListInterventionsRequest {
            page: page.page()?,
            worker_id: q.worker_id.unwrap_or_default(),
            customer_id: q.customer_id.unwrap_or_default(),
            order_id: q.order_id.unwrap_or_default(),
            from: q.from.map(timestamp),
            to: q.to.map(timestamp),
            unassigned_only: q.unassigned_only.unwrap_or(false),
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

/// Which interventions of the booking a change applies to.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// This intervention only.
    #[default]
    One,
    /// This one and the later ones of its booking.
    Following,
    /// Every intervention of its booking.
    All,
}

/// One change, exactly one of its kinds.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// Assign a worker (empty: unassign).
    Reassign {
        worker_id: String,
    },
    /// Move it: `start` for one, `local_start_time` (HH:MM) for several;
    /// `duration_minutes` 0 keeps each one's length.
    Reschedule {
        start: Option<DateTime<Utc>>,
        #[serde(default)]
        local_start_time: String,
        #[serde(default)]
        duration_minutes: i32,
    },
    Cancel {
        reason: String,
    },
    /// Record it done; `actual_minutes` 0 means as planned.
    Done {
        #[serde(default)]
        actual_minutes: i32,
    },
}

/// A change to an intervention.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIntervention {
    #[serde(default)]
    pub scope: Scope,
    /// When set, refused (409) unless the intervention is at this version.
    #[serde(default)]
    pub expected_version: i64,
    pub change: Change,
}

/// Changes an intervention (and, with `scope`, the following ones of its
/// booking or all): assign, move, cancel, or record done. A change that
/// would clash is refused whole (409, saying why); nothing is changed.
#[utoipa::path(post, path = "/v1/office/interventions/{id}/changes", tag = "office",
    params(("id" = uuid::Uuid, Path, description = "The intervention's id.")),
    request_body = ChangeIntervention, security(("bearer" = [])),
    responses((status = 200, body = InterventionList, description = "The interventions changed, in start order."), WriteProblems))]
async fn change_intervention(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    JsonBody(body): JsonBody<ChangeIntervention>,
) -> Result<Json<InterventionList>, Problem> {
    change(&api, &who, id, body).await
}

/// Moves or cancels one of my interventions (and, with `scope`, the
/// following ones of the booking or all): up to 48 h before each starts
/// (`customer_changes_until` in my interventions); nearer than that, 409:
/// the office changes it. Assigning a worker or recording work done is
/// the office's (403).
#[utoipa::path(post, path = "/v1/me/interventions/{id}/changes", tag = "account",
    params(("id" = uuid::Uuid, Path, description = "The intervention's id.")),
    request_body = ChangeIntervention, security(("bearer" = [])),
    responses((status = 200, body = InterventionList, description = "The interventions changed, in start order."), WriteProblems))]
async fn change_my_intervention(
    State(api): State<Api>,
    who: Bearer,
    Id(id): Id,
    JsonBody(body): JsonBody<ChangeIntervention>,
) -> Result<Json<InterventionList>, Problem> {
    super::account::me(&who)?;
    change(&api, &who, id, body).await
}

/// One change, whoever asks: planning decides what the caller may do.
async fn change(
    api: &Api,
    who: &Bearer,
    id: uuid::Uuid,
    body: ChangeIntervention,
) -> Result<Json<InterventionList>, Problem> {
    use plan::change_interventions_request::Change as C;
    let change = match body.change {
        Change::Reassign { worker_id } => C::Reassign(plan::Reassign { worker_id }),
        Change::Reschedule {
            start,
            local_start_time,
            duration_minutes,
        } => C::Reschedule(plan::Reschedule {
            start: start.map(timestamp),
            local_start_time,
            duration_minutes,
        }),
        Change::Cancel { reason } => C::Cancel(plan::Cancel { reason }),
        Change::Done { actual_minutes } => C::Done(plan::MarkDone { actual_minutes }),
    };
    let scope = match body.scope {
        Scope::One => plan::ChangeScope::One,
        Scope::Following => plan::ChangeScope::Following,
        Scope::All => plan::ChangeScope::All,
    };
    let req = api.peers.request(
        who,
        plan::ChangeInterventionsRequest {
            intervention_id: id.to_string(),
            scope: scope as i32,
            expected_version: body.expected_version,
            change: Some(change),
        },
    )?;
    let r = answer(
        "planning",
        api.peers.planning.clone().change_interventions(req).await,
    )
    .map_err(|p| p.renamed("intervention_id", "id"))?;
    Ok(Json(InterventionList {
        items: r
            .interventions
            .into_iter()
            .map(Intervention::from)
            .collect(),
    }))
}
