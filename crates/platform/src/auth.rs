//! Bearer JWT authentication for gRPC: the tenant, role and subject of every
//! call come from a verified token, never from a request body (docs/architecture.md §3).

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status, service::Interceptor};
use uuid::Uuid;

use crate::{
    error::Error,
    keys::{SigningKey, TEST_ISSUER, Trust, TrustedKeys},
};

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

/// How tokens are signed and which ones are accepted (docs/keys.md).
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// `RELAIS_SIGNING_KEY`: this issuer's own private key,
    /// `<kid>:<base64url seed>`. Empty: derived from `dev_seed` in
    /// development mode, or none (the process verifies but cannot mint).
    pub signing_key: String,
    /// The development stack's seed (development mode only), from which
    /// every issuer's key derives when none is given.
    pub dev_seed: String,
    /// The public keys accepted, and what each may sign.
    pub trust: Trust,
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

    /// A development stack's settings: every key derived from `seed`; with
    /// `testing`, the tests' own issuer trusted too.
    pub fn dev(seed: &str, testing: bool) -> Self {
        Self {
            signing_key: String::new(),
            dev_seed: seed.to_owned(),
            trust: Trust::Dev {
                seed: seed.to_owned(),
                testing,
            },
            issuer: Self::ISSUER.into(),
            audience: Self::AUDIENCE.into(),
            max_ttl: Self::MAX_TTL,
        }
    }
}

/// Verifies tokens (EdDSA with a trusted key named by the token's `kid`,
/// a role that key may grant, `iss`, `aud` and a capped lifetime) and
/// signs this process's own with its key, if it holds one.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Keys>,
}

struct Keys {
    /// Who this process is, as an issuer (`gateway`, `orders`...).
    name: String,
    signing: Option<SigningKey>,
    trusted: TrustedKeys,
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
    /// The authenticator of `name`: it signs with `name`'s key and accepts
    /// what `settings` trusts. Fails when the key or the trusted keys are
    /// unusable, saying which.
    pub fn new(settings: &TokenSettings, name: &str) -> anyhow::Result<Self> {
        let signing = if !settings.signing_key.trim().is_empty() {
            Some(SigningKey::parse(name, &settings.signing_key)?)
        } else if !settings.dev_seed.is_empty() {
            Some(SigningKey::derived(&settings.dev_seed, name)?)
        } else {
            None
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        Ok(Self {
            inner: Arc::new(Keys {
                name: name.to_owned(),
                signing,
                trusted: TrustedKeys::load(&settings.trust)?,
                validation,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                max_ttl: i64::try_from(settings.max_ttl.as_secs()).unwrap_or(i64::MAX),
            }),
        })
    }

    /// The public keys this process accepts, as a JWKS document.
    pub fn trusted_keys(&self) -> serde_json::Value {
        self.inner.trusted.current().document()
    }

    pub fn verify(&self, token: &str) -> Result<Caller, Error> {
        let invalid = |why: String| Error::Unauthenticated(format!("invalid token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| invalid("no kid: which key signed it?".into()))?;
        let keys = self.inner.trusted.current();
        let key = keys
            .get(&kid)
            .ok_or_else(|| invalid(format!("key {kid:?} is not trusted")))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.inner.validation)
            .map_err(|e| invalid(e.to_string()))?;
        let c = data.claims;
        let now = chrono::Utc::now().timestamp();
        let longest = self.inner.max_ttl.saturating_add(LEEWAY_SECS as i64);
        if c.exp.saturating_sub(now) > longest {
            return Err(invalid(format!(
                "valid for longer than the {} s a token may be",
                self.inner.max_ttl
            )));
        }
        // What the key may sign: a service's key only its own service
        // tokens, so a compromised service signs as nobody else.
        let issuer = &key.jwk.relais_issuer;
        if !key.jwk.relais_roles.contains(&c.role) {
            return Err(invalid(format!(
                "{issuer}'s key may not sign {} tokens",
                c.role.as_str()
            )));
        }
        if c.role == Role::Service && issuer != TEST_ISSUER && &c.sub != issuer {
            return Err(invalid(format!(
                "{issuer}'s key may not sign for {:?}",
                c.sub
            )));
        }
        if c.role == Role::Customer && c.customer_id.is_none() {
            return Err(invalid("a customer token needs customer_id".into()));
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

    /// Signs `claims` with this process's key, stamped with the issuer and
    /// audience and the time of issue.
    pub fn mint(&self, claims: &Claims) -> anyhow::Result<String> {
        let key = self.inner.signing.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "{} holds no signing key: set RELAIS_SIGNING_KEY (docs/keys.md)",
                self.inner.name
            )
        })?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            &Stamped {
                claims,
                iss: &self.inner.issuer,
                aud: &self.inner.audience,
                iat: chrono::Utc::now().timestamp(),
            },
            key.encoding(),
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

    fn claims(role: Role, sub: &str, exp_in: i64) -> Claims {
        Claims {
            sub: sub.into(),
            tenant: Uuid::nil(),
            role,
            customer_id: None,
            residences: vec![],
            connection: None,
            exp: chrono::Utc::now().timestamp() + exp_in,
        }
    }

    fn auth(name: &str, settings: &TokenSettings) -> Authenticator {
        Authenticator::new(settings, name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_token_valid_for_centuries_is_refused() {
        let gateway = auth("gateway", &TokenSettings::dev("s", false));
        let ok = gateway
            .mint(&claims(Role::Admin, "a", 600))
            .unwrap_or_default();
        assert!(gateway.verify(&ok).is_ok());
        let forever = gateway
            .mint(&claims(Role::Admin, "a", 200 * 365 * 24 * 3600))
            .unwrap_or_default();
        let err = gateway.verify(&forever).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("longer")));
    }

    #[test]
    fn a_service_signs_only_its_own_service_tokens() {
        let settings = TokenSettings::dev("s", false);
        let orders = auth("orders", &settings);
        let own = orders
            .mint(&claims(Role::Service, "orders", 60))
            .unwrap_or_default();
        assert!(orders.verify(&own).is_ok());
        for (role, sub) in [
            (Role::Admin, "orders"),
            (Role::Staff, "orders"),
            (Role::Connector, "orders"),
            (Role::Service, "connector"),
        ] {
            let forged = orders.mint(&claims(role, sub, 60)).unwrap_or_default();
            let err = orders.verify(&forged).err().map(|e| e.to_string());
            assert!(
                err.is_some_and(|e| e.contains("may not sign")),
                "{role:?} {sub}"
            );
        }
    }

    #[test]
    fn an_unknown_key_another_issuer_or_audience_is_refused() {
        let ours = auth("orders", &TokenSettings::dev("s", false));
        // Another stack's keys: same kid, other key.
        let theirs = auth("gateway", &TokenSettings::dev("other", false));
        let token = theirs
            .mint(&claims(Role::Admin, "a", 600))
            .unwrap_or_default();
        assert!(ours.verify(&token).is_err());
        // The tests' issuer is not trusted outside the tests.
        let tests = auth(TEST_ISSUER, &TokenSettings::dev("s", true));
        let token = tests
            .mint(&claims(Role::Admin, "a", 600))
            .unwrap_or_default();
        assert!(ours.verify(&token).is_err());
        for other in [
            TokenSettings {
                issuer: "someone-else".into(),
                ..TokenSettings::dev("s", false)
            },
            TokenSettings {
                audience: "another-system".into(),
                ..TokenSettings::dev("s", false)
            },
        ] {
            let token = auth("gateway", &other)
                .mint(&claims(Role::Admin, "a", 600))
                .unwrap_or_default();
            assert!(ours.verify(&token).is_err(), "{other:?}");
        }
    }

    #[test]
    fn an_hs256_token_or_one_without_kid_is_refused() {
        let ours = auth("orders", &TokenSettings::dev("s", false));
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(Role::Admin, "a", 600),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap_or_default();
        assert!(ours.verify(&hs).is_err());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("dev-gateway".into());
        let confused = jsonwebtoken::encode(
            &header,
            &claims(Role::Admin, "a", 600),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap_or_default();
        assert!(ours.verify(&confused).is_err());
    }

    #[test]
    fn a_process_without_a_key_verifies_but_cannot_mint() {
        let settings = TokenSettings {
            dev_seed: String::new(),
            ..TokenSettings::dev("s", false)
        };
        let verifier = auth("billing", &settings);
        let err = verifier
            .mint(&claims(Role::Service, "billing", 60))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("RELAIS_SIGNING_KEY")));
    }
}
