//! Accounts and sign-in over HTTP (docs/accounts.md): sign-up, sign-in,
//! refresh, sign-out, password reset, invitations, the caller's account,
//! and the public keys tokens are verified with.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Json,
    extract::{ConnectInfo, FromRequestParts, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{ReadProblems, WriteProblems};
use crate::{
    Api,
    accounts::{Account, Issued, Session, SignUp, links::Invitation, sessions},
    extract::{Bearer, JsonBody},
    problem::Problem,
};

pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(sign_out))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
        .routes(routes!(invite))
        .routes(routes!(accept_invitation))
        .routes(routes!(me))
        .routes(routes!(jwks))
}

/// The client's address, for the sign-in limit: the peer's, or behind a
/// proxy (`RELAIS_BEHIND_PROXY`) the last `X-Forwarded-For` hop, the one
/// the proxy itself added (earlier hops are the client's to forge).
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<Api> for ClientAddr {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Problem> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if !api.accounts.settings.behind_proxy {
            return Ok(ClientAddr(peer));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse::<IpAddr>().ok());
        Ok(ClientAddr(forwarded.unwrap_or(peer)))
    }
}

/// The refresh cookie and the CSRF header of a cookie-authenticated call.
pub struct CookieSession {
    refresh: Option<String>,
    csrf: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for CookieSession {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let refresh = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| sessions::cookie(h, sessions::REFRESH_COOKIE).map(str::to_owned));
        let csrf = parts
            .headers
            .get(sessions::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned());
        Ok(Self { refresh, csrf })
    }
}

/// `status` with the session as JSON and its cookies set; never cached.
fn with_cookies(
    status: StatusCode,
    body: impl serde::Serialize,
    cookies: &[String; 2],
) -> Response {
    let mut res = (status, Json(body)).into_response();
    set_cookies(res.headers_mut(), cookies);
    res
}

fn set_cookies(headers: &mut HeaderMap, cookies: &[String; 2]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn issued(status: StatusCode, i: Issued) -> Response {
    with_cookies(status, i.session, &i.cookies)
}

/// The `Idempotency-Key` header, when sent: sign-up passes it on to the
/// customer it creates. One that is sent must be valid, as on every POST.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get(crate::extract::IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| {
            Problem::field(
                crate::extract::IDEMPOTENCY_KEY,
                "must be 1 to 255 visible ASCII characters",
            )
        })
}

/// Opens a customer account on a company's shop: the customer is created
/// and signed in. Signing up again with the same e-mail and the right
/// password (a retry whose answer was lost) signs in instead (200); with
/// another password it is refused (409).
#[utoipa::path(post, path = "/v1/auth/sign-up", tag = "auth",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Optional: the key of the customer this creates, so a retry never makes a second one.")),
    request_body = SignUp,
    responses(
        (status = 201, body = Session, description = "Signed up and in; the refresh cookie is set.",
            headers(("Set-Cookie" = String, description = "relais_refresh (HttpOnly) and relais_csrf"))),
        (status = 200, body = Session, description = "The account existed with this password: signed in."),
        WriteProblems))]
async fn sign_up(
    State(api): State<Api>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignUp>,
) -> Result<Response, Problem> {
    api.accounts.attempt(addr)?;
    let key = idempotency_key(&headers)?;
    let (i, created) = api.accounts.sign_up(body, key.as_deref()).await?;
    Ok(issued(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        i,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The company (tenant) whose shop or office this is.
    pub tenant: Uuid,
    pub email: String,
    pub password: String,
}

/// Signs in. Wrong e-mail or password: 401, the same for both. Too many
/// attempts from one address, or 5 failures in a row on one account (which
/// then refuses every sign-in for 15 minutes): 429 with `Retry-After`.
#[utoipa::path(post, path = "/v1/auth/sign-in", tag = "auth",
    request_body = SignIn,
    responses(
        (status = 200, body = Session, description = "Signed in; the refresh cookie is set.",
            headers(("Set-Cookie" = String, description = "relais_refresh (HttpOnly) and relais_csrf"))),
        WriteProblems))]
async fn sign_in(
    State(api): State<Api>,
    ClientAddr(addr): ClientAddr,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, Problem> {
    api.accounts.attempt(addr)?;
    let i = api
        .accounts
        .sign_in(body.tenant, &body.email, &body.password)
        .await?;
    Ok(issued(StatusCode::OK, i))
}

/// A new access token for the session of the refresh cookie, which is
/// replaced: the old cookie no longer works, and using it again signs the
/// session out everywhere (it was copied). Needs the session's CSRF token
/// in `X-CSRF-Token`.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token (the last sign-in or refresh answer's csrf_token, or the relais_csrf cookie).")),
    responses(
        (status = 200, body = Session, description = "A new access token; the cookies are replaced."),
        WriteProblems))]
async fn refresh(State(api): State<Api>, s: CookieSession) -> Result<Response, Problem> {
    let i = api
        .accounts
        .refresh(s.refresh.as_deref(), s.csrf.as_deref())
        .await?;
    Ok(issued(StatusCode::OK, i))
}

/// Ends the session of the refresh cookie and clears the cookies. Needs
/// the session's CSRF token in `X-CSRF-Token`.
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "auth",
    params(("X-CSRF-Token" = Option<String>, Header, description = "The session's CSRF token: required with the refresh cookie (without a session there is nothing to sign out, and the answer is the same 204).")),
    responses((status = 204, description = "Signed out; the cookies are cleared."), WriteProblems))]
async fn sign_out(State(api): State<Api>, s: CookieSession) -> Result<Response, Problem> {
    let cookies = api
        .accounts
        .sign_out(s.refresh.as_deref(), s.csrf.as_deref())
        .await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    set_cookies(res.headers_mut(), &cookies);
    Ok(res)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub tenant: Uuid,
    pub email: String,
}

/// Mails a password-reset link (valid 30 minutes) if an active account has
/// this e-mail. The answer is the same either way.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses((status = 202, description = "If the account exists, the mail is on its way."), WriteProblems))]
async fn request_reset(
    State(api): State<Api>,
    ClientAddr(addr): ClientAddr,
    JsonBody(body): JsonBody<ResetRequest>,
) -> Result<StatusCode, Problem> {
    api.accounts.attempt(addr)?;
    api.accounts.request_reset(body.tenant, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithToken {
    /// The token of the mailed link.
    pub token: String,
    /// The new password: 10 to 256 characters, not the e-mail.
    pub password: String,
}

/// Sets a new password with a reset link's token (usable once), signs out
/// every other device, and signs in.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth",
    request_body = WithToken,
    responses((status = 200, body = Session, description = "Password changed; signed in."), WriteProblems))]
async fn confirm_reset(
    State(api): State<Api>,
    ClientAddr(addr): ClientAddr,
    JsonBody(body): JsonBody<WithToken>,
) -> Result<Response, Problem> {
    api.accounts.attempt(addr)?;
    let i = api
        .accounts
        .confirm_reset(&body.token, &body.password)
        .await?;
    Ok(issued(StatusCode::OK, i))
}

/// Invites someone to an account of the caller's company: an admin may
/// invite anyone, staff the customers they may see. The account is created
/// `invited` and a link to choose a password is mailed (valid 7 days).
#[utoipa::path(post, path = "/v1/auth/invitations", tag = "auth",
    request_body = Invitation, security(("bearer" = [])),
    responses((status = 201, body = Account, description = "Invited; the mail is on its way."), WriteProblems))]
async fn invite(
    State(api): State<Api>,
    who: Bearer,
    JsonBody(body): JsonBody<Invitation>,
) -> Result<(StatusCode, Json<Account>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(api.accounts.invite(&who, body).await?),
    ))
}

/// Accepts an invitation: sets the first password and signs in.
#[utoipa::path(post, path = "/v1/auth/invitations/accept", tag = "auth",
    request_body = WithToken,
    responses((status = 200, body = Session, description = "Password set; signed in."), WriteProblems))]
async fn accept_invitation(
    State(api): State<Api>,
    ClientAddr(addr): ClientAddr,
    JsonBody(body): JsonBody<WithToken>,
) -> Result<Response, Problem> {
    api.accounts.attempt(addr)?;
    let i = api
        .accounts
        .accept_invitation(&body.token, &body.password)
        .await?;
    Ok(issued(StatusCode::OK, i))
}

/// The signed-in account.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Account), ReadProblems))]
async fn me(State(api): State<Api>, who: Bearer) -> Result<Json<Account>, Problem> {
    Ok(Json(api.accounts.me(&who.caller).await?))
}

/// The public keys tokens are verified with (JWKS, with each key's issuer
/// and the roles it may sign): for services and clients that verify the
/// gateway's tokens themselves (docs/keys.md).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "A JWKS document.", body = Object)))]
async fn jwks(State(api): State<Api>) -> Json<serde_json::Value> {
    Json(api.auth.trusted_keys())
}
