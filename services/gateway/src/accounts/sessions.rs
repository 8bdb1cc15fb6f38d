//! Sessions: a short-lived access token (a JWT the services verify) plus a
//! refresh token that lives in an `HttpOnly`, `Secure`, `SameSite=Strict`
//! cookie scoped to `/v1/auth`, rotated on every use.
//!
//! The refresh cookie is `<session id>.<secret>`; only the secret's
//! SHA-256 is stored. A refresh replaces it; presenting the replaced one
//! again means two parties hold the session (a stolen cookie, or its
//! owner after a thief refreshed first), so the whole session is revoked
//! and both must sign in again.
//!
//! Calls authenticated by the cookie (refresh, sign-out) are what a
//! cross-site request could trigger, so they also need the session's CSRF
//! token in `X-CSRF-Token`: the sign-in answer carries it, and so does a
//! readable `relais_csrf` cookie for a page on the same site. It is bound
//! to the session (its hash is stored with it), so a token planted from a
//! sibling subdomain does not match. Bearer-authenticated calls need no
//! CSRF token: a browser never adds an `Authorization` header by itself.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::problem::Problem;

pub const REFRESH_COOKIE: &str = "relais_refresh";
pub const CSRF_COOKIE: &str = "relais_csrf";
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Where the browser sends the refresh cookie: the auth routes only.
pub const REFRESH_PATH: &str = "/v1/auth";

/// 32 random bytes, base64url: a refresh, CSRF or mailed-link token.
pub fn secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new session's tokens, to hand to the browser.
pub struct Opened {
    pub refresh: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn open(
    conn: &mut PgConnection,
    tenant: Uuid,
    account: Uuid,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<Opened> {
    let (id, refresh, csrf) = (Uuid::now_v7(), secret(), secret());
    sqlx::query(
        "insert into sessions (id, tenant_id, account_id, current_hash, csrf_hash, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(tenant)
    .bind(account)
    .bind(digest(&refresh))
    .bind(digest(&csrf))
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(Opened {
        refresh: format!("{id}.{refresh}"),
        csrf,
        expires_at,
    })
}

/// The session a refresh cookie and CSRF token stand for, locked for the
/// caller's transaction.
pub struct Presented {
    pub id: Uuid,
    pub tenant: Uuid,
    pub account: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Why a cookie was refused. Every case is the same 401 to the client,
/// which learns nothing from the difference; the log says which.
fn refused(why: &str) -> Problem {
    tracing::info!(why, "refresh refused");
    Problem::unauthenticated("the session is not valid: sign in again")
}

#[derive(sqlx::FromRow)]
struct Stored {
    tenant_id: Uuid,
    account_id: Uuid,
    current_hash: Vec<u8>,
    previous_hash: Option<Vec<u8>>,
    csrf_hash: Vec<u8>,
    expires_at: DateTime<Utc>,
    revoked: bool,
}

/// Checks `cookie` and `csrf` against the stored session, locking it. A
/// replayed (already rotated) refresh token revokes the session: the
/// caller must commit even then, so the revocation holds.
pub async fn present(
    conn: &mut PgConnection,
    cookie: Option<&str>,
    csrf: Option<&str>,
) -> Result<Result<Presented, Problem>, sqlx::Error> {
    let Some((id, secret)) = cookie.and_then(|c| c.split_once('.')) else {
        return Ok(Err(refused("no refresh cookie")));
    };
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(Err(refused("malformed refresh cookie")));
    };
    let row: Option<Stored> = sqlx::query_as(
        "select tenant_id, account_id, current_hash, previous_hash, csrf_hash, expires_at,
                revoked_at is not null as revoked
         from sessions where id = $1 for update",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(Stored {
        tenant_id: tenant,
        account_id: account,
        current_hash: current,
        previous_hash: previous,
        csrf_hash,
        expires_at,
        revoked,
    }) = row
    else {
        return Ok(Err(refused("unknown session")));
    };
    if revoked || expires_at <= Utc::now() {
        return Ok(Err(refused("revoked or expired session")));
    }
    let presented = digest(secret);
    if previous.as_deref() == Some(presented.as_slice()) {
        tracing::warn!(session = %id, %tenant, "a rotated refresh token was replayed: session revoked");
        revoke(conn, id).await?;
        return Ok(Err(refused("replayed refresh token")));
    }
    if presented != current {
        return Ok(Err(refused("wrong refresh secret")));
    }
    if csrf.map(digest).as_deref() != Some(csrf_hash.as_slice()) {
        return Ok(Err(Problem::new(
            crate::problem::Kind::Forbidden,
            format!("the {CSRF_HEADER} header is missing or does not match this session"),
        )));
    }
    Ok(Ok(Presented {
        id,
        tenant,
        account,
        expires_at,
    }))
}

/// Replaces the session's refresh and CSRF tokens; the old refresh token
/// is remembered to recognise its replay.
pub async fn rotate(conn: &mut PgConnection, s: &Presented) -> sqlx::Result<Opened> {
    let (refresh, csrf) = (secret(), secret());
    sqlx::query(
        "update sessions set previous_hash = current_hash, current_hash = $2, csrf_hash = $3,
             last_used_at = now()
         where id = $1",
    )
    .bind(s.id)
    .bind(digest(&refresh))
    .bind(digest(&csrf))
    .execute(conn)
    .await?;
    Ok(Opened {
        refresh: format!("{}.{refresh}", s.id),
        csrf,
        expires_at: s.expires_at,
    })
}

pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("update sessions set revoked_at = now() where id = $1 and revoked_at is null")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every session of an account: after a password change or reset, any
/// device signed in with the old password is signed out.
pub async fn revoke_all(conn: &mut PgConnection, tenant: Uuid, account: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update sessions set revoked_at = now()
         where tenant_id = $1 and account_id = $2 and revoked_at is null",
    )
    .bind(tenant)
    .bind(account)
    .execute(conn)
    .await?;
    Ok(())
}

/// The `Set-Cookie` values that hand `opened` to a browser (or, with
/// `None`, clear both cookies). `secure` is false only for plain-HTTP
/// development setups that ask for it (`RELAIS_COOKIE_SECURE=false`).
pub fn cookies(opened: Option<&Opened>, secure: bool) -> [String; 2] {
    let secure = if secure { "; Secure" } else { "" };
    match opened {
        Some(o) => {
            let age = (o.expires_at - Utc::now()).num_seconds().max(0);
            [
                format!(
                    "{REFRESH_COOKIE}={}; Path={REFRESH_PATH}; Max-Age={age}; HttpOnly{secure}; SameSite=Strict",
                    o.refresh
                ),
                format!(
                    "{CSRF_COOKIE}={}; Path=/; Max-Age={age}{secure}; SameSite=Strict",
                    o.csrf
                ),
            ]
        }
        None => [
            format!(
                "{REFRESH_COOKIE}=; Path={REFRESH_PATH}; Max-Age=0; HttpOnly{secure}; SameSite=Strict"
            ),
            format!("{CSRF_COOKIE}=; Path=/; Max-Age=0{secure}; SameSite=Strict"),
        ],
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others() {
        let h = "a=1; relais_refresh=abc.def; relais_csrf=x";
        assert_eq!(cookie(h, REFRESH_COOKIE), Some("abc.def"));
        assert_eq!(cookie(h, CSRF_COOKIE), Some("x"));
        assert_eq!(cookie(h, "b"), None);
        assert_eq!(cookie("relais_refreshX=1", REFRESH_COOKIE), None);
    }

    #[test]
    fn the_refresh_cookie_is_http_only_secure_strict_and_scoped() {
        let o = Opened {
            refresh: "id.secret".into(),
            csrf: "c".into(),
            expires_at: Utc::now() + chrono::Duration::days(30),
        };
        let [refresh, csrf] = cookies(Some(&o), true);
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/v1/auth"] {
            assert!(refresh.contains(part), "{refresh}");
        }
        assert!(!csrf.contains("HttpOnly"), "a page must read it: {csrf}");
    }
}
