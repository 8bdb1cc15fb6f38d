//! What handlers take from a request, each refusing with a problem that
//! names the bad field (axum's own extractors answer in plain text): the
//! JSON body, the query string, the `id` in the path, the bearer token and
//! the idempotency key.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    http::{header, request::Parts},
};
use relais_platform::auth::Caller;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    Api,
    problem::{Kind, Problem},
};

/// A JSON body. Unknown fields are refused by the body types themselves
/// (`deny_unknown_fields`), so a misspelt field is an error, not ignored.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !json {
            return Err(Problem::new(
                Kind::UnsupportedMediaType,
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::field("body", format!("could not be read: {e}")))?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Problem::field("body", format!("is not valid JSON: {inner}"))
            } else {
                bad_field(&path, &inner.to_string())
            }
        })?;
        de.end()
            .map_err(|e| Problem::field("body", format!("is not valid JSON: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// The query string. Parameters the type does not know are ignored, as
/// HTTP caches and proxies add their own.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                bad_field(&path, &e.into_inner().to_string())
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// serde's message about a field as a problem naming it: a missing or
/// unknown field is named in the message, its parent in the path.
fn bad_field(path: &str, message: &str) -> Problem {
    let parent = if path == "." { "" } else { path };
    // serde_path_to_error ends the path with an unknown field's name, and
    // stops at the parent of a missing one.
    let join = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else if parent == name || parent.ends_with(&format!(".{name}")) {
            parent.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(join)
    };
    if let Some(field) = quoted("missing field `") {
        return Problem::field(field, "is required");
    }
    if let Some(field) = quoted("unknown field `") {
        let expected = message.split_once(", expected ").map(|(_, e)| e);
        return Problem::field(
            field,
            match expected {
                Some(e) => format!("is not a known field (expected {e})"),
                None => "is not a known field".to_owned(),
            },
        );
    }
    // serde cites the position in the message ("at line 1 column 5"); the
    // field already says where.
    let reason = message
        .rsplit_once(" at line ")
        .map_or(message, |(r, _)| r)
        .to_owned();
    Problem::field(if parent.is_empty() { "body" } else { parent }, reason)
}

/// The `{id}` of the path: a UUID (every record's id is a UUIDv7).
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::field("id", e.to_string()))?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        Uuid::parse_str(&raw)
            .map(Id)
            .map_err(|_| Problem::field("id", "is not a UUID"))
    }
}

/// The verified caller and the `authorization` value forwarded as is to
/// the services, which decide what the caller may do (crates/platform/src/
/// access.rs): the gateway only refuses, early, a token no service would
/// accept.
#[derive(Clone)]
pub struct Bearer {
    pub caller: Caller,
    pub authorization: String,
}

impl FromRequestParts<Api> for Bearer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Problem> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Problem::unauthenticated("missing bearer token (Authorization: Bearer <token>)")
        })?;
        let value = header
            .to_str()
            .map_err(|_| Problem::unauthenticated("the Authorization header is not text"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(Problem::unauthenticated(
                    "the Authorization header must be 'Bearer <token>'",
                ));
            }
        };
        let caller = api
            .auth
            .verify(token)
            .map_err(|e| Problem::unauthenticated(e.to_string()))?;
        Ok(Bearer {
            caller,
            authorization: format!("Bearer {token}"),
        })
    }
}

/// Who browses the shop: a signed-in caller (their bearer token, as
/// [`Bearer`]), or a visitor without one, who names the company whose shop
/// it is (`?tenant=`). For a visitor the gateway signs a token of a minute
/// for this request alone: a customer of that tenant with the nil customer
/// id, which the services' rules (crates/platform/src/access.rs) let read
/// the catalogue and who is free (without their contacts), and scope to a
/// customer who never exists for anything else. Only the shop's read
/// routes take a `Shopper`; ordering needs an account.
pub struct Shopper(pub Bearer);

/// The subject of a visitor's token, in the services' logs.
pub const VISITOR: &str = "visitor";

impl FromRequestParts<Api> for Shopper {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Problem> {
        // A `tenant` that is sent must be a company's id, token or not:
        // the document says so, and a typo should not pass unnoticed.
        let query = parts.uri.query().unwrap_or_default();
        let named = form_urlencoded_parse(query)
            .find(|(k, _)| k == "tenant")
            .map(|(_, v)| {
                Uuid::parse_str(v.trim()).map_err(|_| Problem::field("tenant", "is not a UUID"))
            })
            .transpose()?;
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Bearer::from_request_parts(parts, api).await.map(Shopper);
        }
        let tenant = named.ok_or_else(|| {
            Problem::field(
                "tenant",
                "is required without a bearer token: the company whose shop to browse",
            )
        })?;
        let token = api
            .auth
            .mint(&relais_platform::auth::Claims {
                sub: VISITOR.into(),
                tenant,
                role: relais_platform::auth::Role::Customer,
                customer_id: Some(Uuid::nil()),
                residences: vec![],
                connection: None,
                exp: chrono::Utc::now().timestamp() + 60,
            })
            .map_err(|e| Problem::own_failure("the shop is", e))?;
        // Who it is, as just signed: no need to verify our own signature.
        let caller = Caller {
            subject: VISITOR.into(),
            tenant,
            role: relais_platform::auth::Role::Customer,
            customer_id: Some(Uuid::nil()),
            residences: vec![],
            connection: None,
        };
        Ok(Shopper(Bearer {
            caller,
            authorization: format!("Bearer {token}"),
        }))
    }
}

/// The `?tenant=` a visitor names, as the document describes it.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShopTenant {
    /// Without a bearer token: the company (tenant) whose shop to browse.
    /// Ignored with one (the token says whose shop it is).
    #[allow(dead_code)]
    pub tenant: Option<Uuid>,
}

/// The `Idempotency-Key` of a request that creates something: the
/// services' `idempotency_key` (docs/architecture.md §3). Required: a
/// client on a flaky network retries, and only the key tells a retry from
/// a second order.
pub struct IdempotencyKey(pub String);

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The services keep keys of at most 255 characters.
const MAX_KEY_LEN: usize = 255;

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Err(Problem::field(
                IDEMPOTENCY_KEY,
                "is required: a new unique value (e.g. a UUID) per order, sent again unchanged on a retry",
            ));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| {
                !k.is_empty() && k.len() <= MAX_KEY_LEN && k.chars().all(|c| c.is_ascii_graphic())
            })
            .ok_or_else(|| {
                Problem::field(
                    IDEMPOTENCY_KEY,
                    format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
                )
            })?;
        Ok(IdempotencyKey(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_name_the_field() {
        let p = bad_field("schedule", "missing field `first_date`");
        assert_eq!(p.errors[0].field, "schedule.first_date");
        assert_eq!(p.errors[0].reason, "is required");
        let p = bad_field(".", "unknown field `colour`, expected one of `a`, `b`");
        assert_eq!(p.errors[0].field, "colour");
        let p = bad_field("lines[0].colour", "unknown field `colour`, expected `a`");
        assert_eq!(p.errors[0].field, "lines[0].colour");
        let p = bad_field(
            "lines[0].quantity",
            "invalid type: string \"x\", expected i32 at line 1 column 30",
        );
        assert_eq!(p.errors[0].field, "lines[0].quantity");
        assert_eq!(
            p.errors[0].reason,
            "invalid type: string \"x\", expected i32"
        );
    }
}
