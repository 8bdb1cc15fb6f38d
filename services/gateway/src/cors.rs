//! CORS per company: a browser may call the API from the origins a company
//! registered (its website with the embedded booking widget), and from no
//! other. A request that names its company — by its bearer token, or by
//! `?tenant=` for a visitor — is allowed only from that company's origins;
//! a preflight, or a sign-in whose company is in its body, from the
//! origins some company registered. Credentials (cookies) are never
//! allowed cross-site: the refresh cookie is `SameSite=Strict` anyway, and
//! a widget holds its access token itself.
//!
//! The origins are read from the database at most every [`REFRESH`] per
//! gateway replica, and at once after a change through this replica.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{Api, problem::Problem};

const REFRESH: Duration = Duration::from_secs(30);
const ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key, x-csrf-token";
const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE";
const EXPOSED_HEADERS: &str = "location, retry-after, content-disposition";

/// Every company's origins, as last read.
#[derive(Clone)]
pub struct Origins {
    pool: PgPool,
    cache: Arc<RwLock<Cached>>,
}

struct Cached {
    by_tenant: HashMap<Uuid, HashSet<String>>,
    any: HashSet<String>,
    read_at: Option<Instant>,
}

impl Origins {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            cache: Arc::new(RwLock::new(Cached {
                by_tenant: HashMap::new(),
                any: HashSet::new(),
                read_at: None,
            })),
        }
    }

    async fn fresh(&self) {
        let stale = self
            .cache
            .read()
            .map(|c| c.read_at.is_none_or(|t| t.elapsed() >= REFRESH))
            .unwrap_or(true);
        if stale {
            self.reload().await;
        }
    }

    /// Reads every origin again (after a change, or when stale). A failed
    /// read keeps the last ones: the API stays usable from the widget
    /// while the database blinks.
    pub async fn reload(&self) {
        let rows: Result<Vec<(Uuid, String)>, _> =
            sqlx::query_as("select tenant_id, origin from cors_origins")
                .fetch_all(&self.pool)
                .await;
        match rows {
            Ok(rows) => {
                let mut by_tenant: HashMap<Uuid, HashSet<String>> = HashMap::new();
                let mut any = HashSet::new();
                for (t, o) in rows {
                    any.insert(o.clone());
                    by_tenant.entry(t).or_default().insert(o);
                }
                if let Ok(mut c) = self.cache.write() {
                    *c = Cached {
                        by_tenant,
                        any,
                        read_at: Some(Instant::now()),
                    };
                }
            }
            Err(e) => tracing::warn!(error = %e, "CORS origins not read; keeping the last ones"),
        }
    }

    fn allows(&self, tenant: Option<Uuid>, origin: &str) -> bool {
        self.cache.read().is_ok_and(|c| match tenant {
            Some(t) => c.by_tenant.get(&t).is_some_and(|o| o.contains(origin)),
            None => c.any.contains(origin),
        })
    }

    pub async fn list(&self, tenant: Uuid) -> Result<Vec<String>, Problem> {
        sqlx::query_scalar("select origin from cors_origins where tenant_id = $1 order by origin")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)
    }

    /// Replaces the company's origins with `origins` (already checked).
    pub async fn replace(&self, tenant: Uuid, origins: &[String]) -> Result<(), Problem> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("delete from cors_origins where tenant_id = $1")
            .bind(tenant)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        for o in origins {
            sqlx::query(
                "insert into cors_origins (tenant_id, origin) values ($1, $2)
                 on conflict do nothing",
            )
            .bind(tenant)
            .bind(o)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        self.reload().await;
        Ok(())
    }
}

fn unavailable(e: sqlx::Error) -> Problem {
    Problem::own_failure("CORS origins are", e)
}

/// An origin as browsers send it, or why `raw` is not one: `https://` (or
/// `http://` for localhost) and a host, an optional port, nothing else.
pub fn origin(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a URL: {e}"))?;
    let host = url.host_str().ok_or("has no host")?.to_ascii_lowercase();
    let local = host == "localhost" || host == "127.0.0.1" || host.ends_with(".localhost");
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => return Err("must be https:// (http:// only for localhost)".into()),
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin alone: scheme, host and port, no path".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// The company a request names without reading its body: its bearer
/// token's (verified), or a visitor's `?tenant=`.
fn named_tenant(api: &Api, headers: &HeaderMap, query: Option<&str>) -> Option<Uuid> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
    {
        return api.auth.verify(token).ok().map(|c| c.tenant);
    }
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "tenant")
        .and_then(|(_, v)| Uuid::parse_str(v.trim()).ok())
}

/// The middleware: answers preflights, and marks allowed responses.
pub async fn layer(State(api): State<Api>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    api.origins.fresh().await;
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let tenant = named_tenant(&api, req.headers(), req.uri().query());
    let allowed = api.origins.allows(tenant, &origin);
    if preflight {
        let mut res = StatusCode::NO_CONTENT.into_response();
        if allowed {
            let h = res.headers_mut();
            allow(h, &origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        res.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("origin"));
        return res;
    }
    let mut res = next.run(req).await;
    if allowed {
        allow(res.headers_mut(), &origin);
        res.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
    res
}

fn allow(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_anything_else_refused() {
        assert_eq!(
            origin("https://Shop.Example.org").as_deref(),
            Ok("https://shop.example.org")
        );
        assert_eq!(
            origin("https://shop.example.org:8443/").as_deref(),
            Ok("https://shop.example.org:8443")
        );
        assert_eq!(
            origin("http://localhost:3000").as_deref(),
            Ok("http://localhost:3000")
        );
        for bad in [
            "shop.example.org",
            "http://shop.example.org",
            "https://shop.example.org/widget",
            "https://shop.example.org/?a=1",
            "https://user:pw@shop.example.org",
            "ftp://shop.example.org",
            "",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }
}
