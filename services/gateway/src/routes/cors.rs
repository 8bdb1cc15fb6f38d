//! The office's list of web origins allowed to call the API from a
//! browser: the company's website with the embedded booking widget
//! (crate::cors).

use axum::{Json, extract::State};
use relais_platform::auth::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ReadProblems, WriteProblems};
use crate::{
    Api,
    cors::origin,
    extract::{Bearer, JsonBody},
    problem::{Kind, Problem},
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(list_origins, replace_origins))
}

/// At most this many origins per company.
const MAX_ORIGINS: usize = 50;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsOrigins {
    /// `https://host[:port]` (`http://` for localhost only), no path.
    #[schema(example = json!(["https://www.menage-lyon.example"]))]
    pub origins: Vec<String>,
}

/// Only the office manages where its API may be called from: a gateway
/// setting, so its check is here (docs/access.md).
fn office_only(who: &Bearer) -> Result<(), Problem> {
    who.caller.require(&[Role::Admin]).map_err(|_| {
        Problem::new(
            Kind::Forbidden,
            "only the office (admin) manages the allowed web origins",
        )
    })
}

/// The web origins allowed to call the API from a browser.
#[utoipa::path(get, path = "/v1/office/cors-origins", tag = "office",
    security(("bearer" = [])),
    responses((status = 200, body = CorsOrigins, description = "The company's allowed origins."), ReadProblems))]
async fn list_origins(State(api): State<Api>, who: Bearer) -> Result<Json<CorsOrigins>, Problem> {
    office_only(&who)?;
    Ok(Json(CorsOrigins {
        origins: api.origins.list(who.caller.tenant).await?,
    }))
}

/// Replaces the web origins allowed to call the API from a browser.
#[utoipa::path(put, path = "/v1/office/cors-origins", tag = "office",
    request_body = CorsOrigins, security(("bearer" = [])),
    responses((status = 200, body = CorsOrigins, description = "The origins now allowed."), WriteProblems))]
async fn replace_origins(
    State(api): State<Api>,
    who: Bearer,
    JsonBody(body): JsonBody<CorsOrigins>,
) -> Result<Json<CorsOrigins>, Problem> {
    office_only(&who)?;
    if body.origins.len() > MAX_ORIGINS {
        return Err(Problem::field("origins", format!("at most {MAX_ORIGINS}")));
    }
    let mut clean = Vec::with_capacity(body.origins.len());
    let mut bad: Option<Problem> = None;
    for (i, raw) in body.origins.iter().enumerate() {
        match origin(raw) {
            Ok(o) => clean.push(o),
            Err(why) => {
                let field = format!("origins[{i}]");
                bad = Some(match bad {
                    None => Problem::field(field, why),
                    Some(p) => p.with_field(field, why),
                });
            }
        }
    }
    if let Some(p) = bad {
        return Err(p);
    }
    clean.sort();
    clean.dedup();
    api.origins.replace(who.caller.tenant, &clean).await?;
    Ok(Json(CorsOrigins { origins: clean }))
}
