//! People's accounts (docs/accounts.md): sign-up, sign-in with rate
//! limiting and lockout, sessions (a short access token and a rotating
//! refresh cookie), password resets and invitations by mail.
//!
//! An account belongs to one tenant. A customer's account speaks for one
//! customer of the orders service (created at sign-up, or named by the
//! staff member who invited them); staff and admins are invited. The access
//! token the gateway signs carries the account's role and customer, and
//! the services decide from it what the caller may do, as for any token.

pub mod limiter;
pub mod links;
pub mod passwords;
pub mod sessions;
mod sign_up;

pub use sign_up::SignUp;

use std::time::Duration;

use chrono::Utc;
use relais_platform::auth::{Authenticator, Claims, Role};

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::{Kind, Problem};
use passwords::Hasher;

/// How sessions, lockout and limits behave (docs/configuration.md).
#[derive(Clone, Debug)]
pub struct AccountSettings {
    /// `RELAIS_ACCESS_TOKEN_SECS` (default 900): an access token's life.
    /// Short, since it cannot be revoked: a disabled account or a
    /// revoked session loses access within this time.
    pub access_ttl: Duration,
    /// `RELAIS_SESSION_DAYS` (default 30): how long a device stays signed
    /// in without a password, refreshing.
    pub session_ttl: Duration,
    /// `RELAIS_LOCK_AFTER_FAILURES` (default 5) consecutive failed
    /// sign-ins lock an account for `RELAIS_LOCK_MINUTES` (default 15).
    pub lock_after: i32,
    pub lock_for: Duration,
    /// `RELAIS_SIGN_INS_PER_MINUTE` (default 30): attempts per client
    /// address and gateway replica; 0 disables the limit.
    pub sign_ins_per_minute: u32,
    /// `RELAIS_COOKIE_SECURE` (default true): cookies only over HTTPS.
    pub cookie_secure: bool,
    /// `RELAIS_PUBLIC_URL` (default http://127.0.0.1:8080): the base of the
    /// links sent by mail.
    pub public_url: String,
    /// `RELAIS_BEHIND_PROXY` (default false): take the client's address
    /// from the last `X-Forwarded-For` hop (the ingress's), not the peer.
    pub behind_proxy: bool,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(900),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            lock_after: 5,
            lock_for: Duration::from_secs(15 * 60),
            sign_ins_per_minute: 30,
            cookie_secure: true,
            public_url: "http://127.0.0.1:8080".into(),
            behind_proxy: false,
        }
    }
}

#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
    auth: Authenticator,
    hasher: Hasher,
    limiter: limiter::Limiter,
    peers: crate::peers::Peers,
    pub settings: AccountSettings,
}

/// An account as its owner and the office see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub tenant: Uuid,
    pub email: String,
    /// `customer`, `staff` or `admin`.
    pub role: String,
    /// The customer a customer account speaks for.
    pub customer_id: Option<Uuid>,
    /// `invited` (no password yet), `active` or `disabled`.
    pub status: String,
}

/// A signed-in session: the access token to send as `Authorization:
/// Bearer`, and the CSRF token that `refresh` and `sign-out` need beside
/// the refresh cookie (which the answer sets, HttpOnly).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Session {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    pub csrf_token: String,
    pub account: Account,
}

/// A session and the cookies that carry it.
pub struct Issued {
    pub session: Session,
    pub cookies: [String; 2],
}

/// An account as every query reads it (the same columns in each).
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    password_hash: Option<String>,
    role: String,
    customer_id: Option<Uuid>,
    status: String,
    #[allow(dead_code)]
    failed_attempts: i32,
    locked_until: Option<chrono::DateTime<Utc>>,
}

impl Row {
    fn account(&self) -> Account {
        Account {
            id: self.id,
            tenant: self.tenant_id,
            email: self.email.clone(),
            role: self.role.clone(),
            customer_id: self.customer_id,
            status: self.status.clone(),
        }
    }
}

/// The same answer for an unknown e-mail and a wrong password, so the
/// sign-in form tells nobody who has an account.
fn wrong_credentials() -> Problem {
    Problem::unauthenticated("the e-mail or the password is wrong")
}

fn internal(e: impl std::fmt::Display) -> Problem {
    Problem::own_failure("accounts are", e)
}

/// An e-mail address as stored: trimmed, lower-cased, of a plausible
/// shape (the mail sent to it is the real check).
pub fn email(field: &str, raw: &str) -> Result<String, Problem> {
    let e = raw.trim().to_lowercase();
    let plausible = (3..=254).contains(&e.len())
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if plausible {
        Ok(e)
    } else {
        Err(Problem::field(field, "is not an e-mail address"))
    }
}

impl Accounts {
    pub fn new(
        pool: PgPool,
        auth: Authenticator,
        peers: crate::peers::Peers,
        settings: AccountSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            auth,
            hasher: Hasher::new()?,
            limiter: limiter::Limiter::new(settings.sign_ins_per_minute),
            peers,
            settings,
        })
    }

    async fn find(&self, tenant: Uuid, email: &str) -> Result<Option<Row>, Problem> {
        sqlx::query_as::<_, Row>(
            "select id, tenant_id, email, password_hash, role, customer_id, status, failed_attempts, locked_until from accounts where tenant_id = $1 and email = $2",
        )
        .bind(tenant)
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)
    }

    /// Counts an attempt from `addr`, or refuses it with how long to wait.
    pub fn attempt(&self, addr: std::net::IpAddr) -> Result<(), Problem> {
        self.limiter.attempt(addr).map_err(|wait| {
            Problem::new(
                Kind::TooManyRequests,
                format!("too many attempts from this address: retry in {wait} s"),
            )
            .retry_after(wait)
        })
    }

    /// Signs in with an e-mail and password. Five wrong passwords in a row
    /// lock the account for a while, whoever tries; a right one resets the
    /// count.
    pub async fn sign_in(
        &self,
        tenant: Uuid,
        raw_email: &str,
        password: &str,
    ) -> Result<Issued, Problem> {
        let email = email("email", raw_email)?;
        if password.is_empty() || password.chars().count() > passwords::MAX_LEN {
            return Err(wrong_credentials());
        }
        let row = self.find(tenant, &email).await?;
        if let Some(until) = row
            .as_ref()
            .and_then(|r| r.locked_until)
            .filter(|u| *u > Utc::now())
        {
            let wait = (until - Utc::now()).num_seconds().max(1) as u64;
            return Err(Problem::new(
                Kind::TooManyRequests,
                format!(
                    "too many failed sign-ins for this account: retry in {} min, or reset the password",
                    wait.div_ceil(60)
                ),
            )
            .retry_after(wait));
        }
        let hash = row
            .as_ref()
            .filter(|r| r.status == "active")
            .and_then(|r| r.password_hash.as_deref());
        let ok = self.hasher.verify(password, hash).await.map_err(internal)?;
        let Some(row) = row.filter(|_| ok) else {
            if let Some(r) = self.find(tenant, &email).await? {
                self.failed(&r).await?;
            }
            return Err(wrong_credentials());
        };
        sqlx::query(
            "update accounts set failed_attempts = 0, locked_until = null
             where tenant_id = $1 and id = $2 and (failed_attempts <> 0 or locked_until is not null)",
        )
        .bind(row.tenant_id)
        .bind(row.id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        self.issue(&row).await
    }

    /// One more failure; the one that reaches the limit locks the account.
    async fn failed(&self, r: &Row) -> Result<(), Problem> {
        let lock_for = chrono::Duration::from_std(self.settings.lock_for).unwrap_or_default();
        sqlx::query(
            "update accounts set
                 locked_until = case when failed_attempts + 1 >= $3 then now() + $4 else locked_until end,
                 failed_attempts = case when failed_attempts + 1 >= $3 then 0 else failed_attempts + 1 end
             where tenant_id = $1 and id = $2",
        )
        .bind(r.tenant_id)
        .bind(r.id)
        .bind(self.settings.lock_after)
        .bind(lock_for)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(())
    }

    /// A new session for `row`: its access token and refresh cookie.
    async fn issue(&self, row: &Row) -> Result<Issued, Problem> {
        let expires =
            Utc::now() + chrono::Duration::from_std(self.settings.session_ttl).unwrap_or_default();
        let mut conn = self.pool.acquire().await.map_err(internal)?;
        let opened = sessions::open(&mut conn, row.tenant_id, row.id, expires)
            .await
            .map_err(internal)?;
        self.session(row, &opened)
    }

    fn session(&self, row: &Row, opened: &sessions::Opened) -> Result<Issued, Problem> {
        let role = match row.role.as_str() {
            "customer" => Role::Customer,
            "staff" => Role::Staff,
            _ => Role::Admin,
        };
        let ttl = self.settings.access_ttl.as_secs();
        let token = self
            .auth
            .mint(&Claims {
                sub: row.id.to_string(),
                tenant: row.tenant_id,
                role,
                customer_id: row.customer_id,
                residences: vec![],
                connection: None,
                exp: Utc::now().timestamp() + ttl as i64,
            })
            .map_err(internal)?;
        Ok(Issued {
            session: Session {
                access_token: token,
                token_type: "Bearer".into(),
                expires_in: ttl,
                csrf_token: opened.csrf.clone(),
                account: row.account(),
            },
            cookies: sessions::cookies(Some(opened), self.settings.cookie_secure),
        })
    }

    /// A new access token for the session in the refresh cookie, whose
    /// tokens are replaced (the old ones no longer work).
    pub async fn refresh(
        &self,
        cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<Issued, Problem> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let presented = sessions::present(&mut tx, cookie, csrf)
            .await
            .map_err(internal)?;
        let s = match presented {
            Ok(s) => s,
            Err(p) => {
                // A replay revoked the session: that must hold.
                tx.commit().await.map_err(internal)?;
                return Err(p);
            }
        };
        let row = sqlx::query_as::<_, Row>(
            "select id, tenant_id, email, password_hash, role, customer_id, status, failed_attempts, locked_until from accounts where tenant_id = $1 and id = $2 and status = 'active'",
        )
        .bind(s.tenant)
        .bind(s.account)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?
        .ok_or_else(|| Problem::unauthenticated("the account is no longer active"))?;
        let opened = sessions::rotate(&mut tx, &s).await.map_err(internal)?;
        let issued = self.session(&row, &opened)?;
        tx.commit().await.map_err(internal)?;
        Ok(issued)
    }

    /// Ends the session in the refresh cookie. Without a valid cookie there
    /// is nothing to end, and the answer is the same.
    pub async fn sign_out(
        &self,
        cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<[String; 2], Problem> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        match sessions::present(&mut tx, cookie, csrf)
            .await
            .map_err(internal)?
        {
            Ok(s) => sessions::revoke(&mut tx, s.id).await.map_err(internal)?,
            Err(p) if p.status() == axum::http::StatusCode::FORBIDDEN => return Err(p),
            Err(_) => {}
        }
        tx.commit().await.map_err(internal)?;
        Ok(sessions::cookies(None, self.settings.cookie_secure))
    }

    /// The account of a bearer token the gateway signed.
    pub async fn me(&self, caller: &relais_platform::auth::Caller) -> Result<Account, Problem> {
        let id = Uuid::parse_str(&caller.subject)
            .map_err(|_| Problem::not_found("this token is not an account's"))?;
        sqlx::query_as::<_, Row>(
            "select id, tenant_id, email, password_hash, role, customer_id, status, failed_attempts, locked_until from accounts where tenant_id = $1 and id = $2",
        )
        .bind(caller.tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .map(|r| r.account())
        .ok_or_else(|| Problem::not_found("this token is not an account's"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_nonsense_refused() {
        assert_eq!(
            email("e", "  Anne@Example.ORG ").ok().as_deref(),
            Some("anne@example.org")
        );
        for bad in [
            "",
            "anne",
            "anne@",
            "@example.org",
            "anne@example",
            "an ne@example.org",
            "a@b@c.d",
            "anne@.org",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }
}
