//! Bearer JWT authentication for gRPC: the tenant, role and subject of every
//! call come from a verified token, never from a request body (docs/architecture.md §3).

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status, service::Interceptor};
use uuid::Uuid;

use crate::error::Error;

/// The origin of changes made on the shop's side (not by the ERP).
pub const SHOP_ORIGIN: &str = "shop";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Staff,
    Admin,
    /// An ERP connection acting through the connector.
    Connector,
    /// Another Relais service.
    Service,
}

impl Role {
    /// The name used in tokens and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Connector => "connector",
            Role::Service => "service",
        }
    }
}

/// The claims Relais tokens carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: Uuid,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub residences: Vec<Uuid>,
    /// For `connector` tokens: the ERP connection the changes come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    pub exp: i64,
}

/// Who is calling, as put into each request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub tenant: Uuid,
    pub role: Role,
    pub customer_id: Option<Uuid>,
    pub residences: Vec<Uuid>,
    pub connection: Option<String>,
}

impl Caller {
    /// `shop`, or `erp:<connection>` for a connector: stamped on each change
    /// so the connector never echoes it back to where it came from.
    pub fn origin(&self) -> String {
        match (&self.role, &self.connection) {
            (Role::Connector, Some(c)) => format!("erp:{c}"),
            (Role::Connector, None) => "erp".into(),
            _ => SHOP_ORIGIN.into(),
        }
    }

    /// Who this caller is within its tenant, the same on every token it
    /// presents: role, subject and, for a customer, the customer.
    pub fn identity(&self) -> String {
        match self.customer_id {
            Some(c) => format!("{}:{}:{c}", self.role.as_str(), self.subject),
            None => format!("{}:{}", self.role.as_str(), self.subject),
        }
    }

    /// Fails with PERMISSION_DENIED unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Error> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "role {:?} may not do this",
                self.role
            )))
        }
    }

    /// For a customer token, the customer it speaks for, which is also the
    /// only one it may name in `asked` (another gives NOT_FOUND, telling
    /// nothing about it); for every other role, None: the caller decides.
    pub fn own_customer(&self, asked: &str) -> Result<Option<Uuid>, Error> {
        if self.role != Role::Customer {
            return Ok(None);
        }
        let me = self
            .customer_id
            .ok_or_else(|| Error::Unauthenticated("customer token without customer_id".into()))?;
        if !asked.trim().is_empty() && asked.trim() != me.to_string() {
            return Err(Error::not_found(format!("customer {}", asked.trim())));
        }
        Ok(Some(me))
    }

    /// Roles that may change reference data (catalogue, workers...).
    pub const WRITERS: &'static [Role] =
        &[Role::Admin, Role::Staff, Role::Connector, Role::Service];
}

/// Reads the caller put in place by [`Authenticator`].
pub fn caller<T>(req: &Request<T>) -> Result<Caller, Error> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Error::Unauthenticated("missing bearer token".into()))
}

/// How tokens are signed and which ones are accepted.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// The HS256 key. Never a built-in value outside development mode
    /// (see [`crate::config::token_settings`]).
    pub secret: String,
    /// `iss` stamped on minted tokens and required on verified ones.
    pub issuer: String,
    /// `aud` likewise: a token minted for another system is refused.
    pub audience: String,
    /// The longest a token may still be valid when presented: a token with
    /// a far `exp` is refused, whoever signed it.
    pub max_ttl: std::time::Duration,
}

impl TokenSettings {
    pub const ISSUER: &'static str = "relais";
    pub const AUDIENCE: &'static str = "relais";
    pub const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

    /// The standard issuer, audience and lifetime cap with `secret`.
    pub fn with_secret(secret: &str) -> Self {
        Self {
            secret: secret.to_owned(),
            issuer: Self::ISSUER.into(),
            audience: Self::AUDIENCE.into(),
            max_ttl: Self::MAX_TTL,
        }
    }
}

/// Verifies tokens (HS256 with the configured secret, `iss`, `aud` and a
/// capped lifetime) and mints them for tests, the CLI and service-to-service
/// calls.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Keys>,
}

struct Keys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    max_ttl: i64,
}

/// What a minted token carries besides [`Claims`]: who issued it, for
/// whom, and when.
#[derive(Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    claims: &'a Claims,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
}

/// Seconds of clock difference tolerated between services.
const LEEWAY_SECS: u64 = 30;

impl Authenticator {
    pub fn new(settings: &TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        Self {
            inner: Arc::new(Keys {
                decoding: DecodingKey::from_secret(settings.secret.as_bytes()),
                encoding: EncodingKey::from_secret(settings.secret.as_bytes()),
                validation,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                max_ttl: i64::try_from(settings.max_ttl.as_secs()).unwrap_or(i64::MAX),
            }),
        }
    }

    /// The standard settings with `secret`.
    pub fn hs256(secret: &str) -> Self {
        Self::new(&TokenSettings::with_secret(secret))
    }

    pub fn verify(&self, token: &str) -> Result<Caller, Error> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|e| Error::Unauthenticated(format!("invalid token: {e}")))?;
        let c = data.claims;
        let now = chrono::Utc::now().timestamp();
        let longest = self.inner.max_ttl.saturating_add(LEEWAY_SECS as i64);
        if c.exp.saturating_sub(now) > longest {
            return Err(Error::Unauthenticated(format!(
                "invalid token: valid for longer than the {} s a token may be",
                self.inner.max_ttl
            )));
        }
        if c.role == Role::Customer && c.customer_id.is_none() {
            return Err(Error::Unauthenticated(
                "invalid token: a customer token needs customer_id".into(),
            ));
        }
        Ok(Caller {
            subject: c.sub,
            tenant: c.tenant,
            role: c.role,
            customer_id: c.customer_id,
            residences: c.residences,
            connection: c.connection,
        })
    }

    /// Signs `claims`, stamped with this authenticator's issuer and
    /// audience and the time of issue.
    pub fn mint(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Stamped {
                claims,
                iss: &self.inner.issuer,
                aud: &self.inner.audience,
                iat: chrono::Utc::now().timestamp(),
            },
            &self.inner.encoding,
        )?)
    }

    /// A token for `role` in `tenant`, valid for `ttl`.
    pub fn mint_for(
        &self,
        tenant: Uuid,
        role: Role,
        sub: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<String> {
        self.mint(&Claims {
            sub: sub.into(),
            tenant,
            role,
            customer_id: None,
            residences: vec![],
            connection: None,
            exp: chrono::Utc::now().timestamp() + ttl.as_secs() as i64,
        })
    }
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let header = req
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or_else(|| Status::unauthenticated("authorization must be 'Bearer <token>'"))?;
        let caller = self.verify(token.trim())?;
        tracing::Span::current().record("tenant", tracing::field::display(caller.tenant));
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> Claims {
        Claims {
            sub: "u".into(),
            tenant: Uuid::nil(),
            role: Role::Admin,
            customer_id: None,
            residences: vec![],
            connection: None,
            exp: chrono::Utc::now().timestamp() + exp_in,
        }
    }

    #[test]
    fn a_token_valid_for_centuries_is_refused() {
        let auth = Authenticator::hs256("k");
        let ok = auth.mint(&claims(600)).unwrap_or_default();
        assert!(auth.verify(&ok).is_ok());
        let forever = auth
            .mint(&claims(200 * 365 * 24 * 3600))
            .unwrap_or_default();
        let err = auth.verify(&forever).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("longer")));
    }

    #[test]
    fn another_issuer_or_audience_is_refused() {
        let ours = Authenticator::hs256("k");
        for other in [
            TokenSettings {
                issuer: "someone-else".into(),
                ..TokenSettings::with_secret("k")
            },
            TokenSettings {
                audience: "another-system".into(),
                ..TokenSettings::with_secret("k")
            },
        ] {
            let token = Authenticator::new(&other)
                .mint(&claims(600))
                .unwrap_or_default();
            assert!(ours.verify(&token).is_err(), "{other:?}");
        }
    }

    #[test]
    fn a_token_without_issuer_and_audience_is_refused() {
        // Signed with the right key but minted without the stamp.
        let bare = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(600),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap_or_default();
        assert!(Authenticator::hs256("k").verify(&bare).is_err());
    }
}
