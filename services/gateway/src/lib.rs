//! Gateway: the public HTTP/JSON API over the services' gRPC APIs
//! (docs/architecture.md §1). A request's bearer token is verified here,
//! so a bad one is refused before any service is called, then forwarded as
//! is: the services decide what the caller may do (crates/platform/src/
//! access.rs), and the gateway never grants more than the token does. Each
//! call carries a deadline and the request's trace context. Errors are RFC
//! 9457 problems; the OpenAPI 3.1 document is generated from the handlers
//! (`routes/`), served at `/openapi.json` with an interactive page at
//! `/docs`, and committed as `services/gateway/openapi.json`.
//!
//! The gateway owns a Postgres schema: people's accounts and sessions
//! (`accounts/`, docs/accounts.md), and the mails they are sent, which it
//! relays itself. It signs people's access tokens with its own key (the
//! only one trusted for them: docs/keys.md). It serves an admin port like every service: `/livez`, `/readyz`
//! (Postgres reachable; never another service), `/metrics`.

pub mod accounts;
mod admin;
pub mod config;
mod cors;
mod extract;
mod model;
mod paging;
mod peers;
mod problem;
mod routes;
mod slots;

use std::net::SocketAddr;

use relais_platform::{auth::Authenticator, db};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{GatewayConfig, SERVICE, config_from_env};
pub use routes::openapi;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What every handler reaches: the token verifier, the services, and
/// accounts.
#[derive(Clone)]
pub struct Api {
    auth: Authenticator,
    peers: peers::Peers,
    accounts: accounts::Accounts,
    origins: cors::Origins,
}

/// The OpenAPI document as committed (`cargo run -p relais-gateway --
/// openapi > services/gateway/openapi.json`): pretty JSON and a final
/// newline, so a change reads well in review.
pub fn openapi_json() -> anyhow::Result<String> {
    Ok(format!("{}\n", openapi().to_pretty_json()?))
}

pub struct App {
    api: Api,
    pool: PgPool,
    mail: relais_platform::mail::MailRelay,
    http: TcpListener,
    admin: TcpListener,
}

impl App {
    /// Connects to its database (role, schema, migrations) and binds its
    /// ports, so tests pass port 0 and read the real ones.
    pub async fn build(cfg: GatewayConfig) -> anyhow::Result<Self> {
        let pool = db::connect(&cfg.platform, SERVICE, &MIGRATIONS).await?;
        let auth = Authenticator::new(&cfg.platform.tokens, SERVICE)?;
        let peers = peers::Peers::new(&cfg)?;
        let accounts = accounts::Accounts::new(
            pool.clone(),
            auth.clone(),
            peers.clone(),
            cfg.accounts.clone(),
        )?;
        let mail = relais_platform::mail::MailRelay::new(
            SERVICE,
            pool.clone(),
            &cfg.platform.mail,
            cfg.platform.outbox_poll,
        )?;
        let api = Api {
            auth,
            peers,
            accounts,
            origins: cors::Origins::new(pool.clone()),
        };
        Ok(Self {
            api,
            pool,
            mail,
            http: TcpListener::bind(cfg.http_addr).await?,
            admin: TcpListener::bind(cfg.platform.admin_addr).await?,
        })
    }

    /// The accounts, to create the demo's (`relais dev`) before serving.
    pub fn accounts(&self) -> accounts::Accounts {
        self.api.accounts.clone()
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().unwrap_or(([127, 0, 0, 1], 0).into())
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .unwrap_or(([127, 0, 0, 1], 0).into())
    }

    /// Serves until `shutdown`, then finishes the requests in flight.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(service = SERVICE, http = %self.http_addr(), "serving");
        let admin = tokio::spawn(relais_platform::admin::serve(
            self.admin,
            admin::router(self.pool.clone()),
            shutdown.clone(),
        ));
        let mail = tokio::spawn(self.mail.run(shutdown.clone()));
        let app = routes::router(self.api)
            .layer(axum::middleware::from_fn(admin::record_metrics))
            .layer(admin::trace_layer());
        let stop = shutdown.clone();
        // With each connection's address: the sign-in limit counts per client.
        // TCP_NODELAY: axum 0.8's serve no longer sets it, and a streamed
        // answer written in small pieces (server-sent events, PDFs) would
        // otherwise wait on Nagle's algorithm.
        let listener = axum::serve::ListenerExt::tap_io(self.http, |s| {
            let _ = s.set_nodelay(true);
        });
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
        shutdown.cancel();
        let _ = admin.await;
        let _ = mail.await;
        self.pool.close().await;
        tracing::info!(service = SERVICE, "stopped");
        Ok(served?)
    }
}
