//! The reference ERP: a small management-software API modelled on Ogust
//! Manager's v2 API (../shared/ERP-APIS.md), with its own Postgres store,
//! for the connector's tests and the demo.
//!
//! - One endpoint, `POST /api/v2/apiogust.php?method=<name>`, a JSON body,
//!   answers `{"status": "OK", ...}` or `{"status": "KO", "message": ...}`.
//! - `getToken`: `key`, `request` = `GET_TOKEN`, `time` =
//!   `YYYYMMDDHHmmss.<random>` (UTC, within 5 minutes of the server's), and
//!   `api_signature` = upper-case hex HMAC-SHA1 of `key + GET_TOKEN + time`
//!   under the private key; the token lasts `token_ttl` (10 minutes) and is
//!   sent as `token` in every later body.
//! - `get<Object>` (`id`), `set<Object>` (create, or update with `id`),
//!   `rem<Object>` (`id`), `search<Object>` (equality filters on fields,
//!   `updated_since` RFC 3339, `nbperpage`, `pagenum`; results in
//!   `array_<object>.result`, oldest change first) for the objects customer,
//!   employee, tariff, service (an intervention), quote, invoice,
//!   taxcertificate, and for product sales family (of articles), article
//!   and order.
//! - An employee may carry `availability`, its weekly hours (Ogust's
//!   "disponibilités"): `[{"weekday": 1..7 (Monday = 1), "start": "HH:MM",
//!   "end": "HH:MM"}]`, start before end; `setEmployee` refuses anything
//!   else with the field named (`availability[0].end: ...`).
//! - A `set` without `id` but with a `reference` already used for that
//!   object returns the first record: the connector's idempotency reference,
//!   so a retry never creates a second record.
//! - `POST /_faults` (and `GET`) injects faults for tests: the ERP down,
//!   a share of errors, slow answers, answers lost after the commit, and
//!   search pages that deliver records twice. It has no authentication, so
//!   it exists only when `Config::faults` (`REFERENCE_ERP_FAULTS=1`) says
//!   so; otherwise it answers 404 like any unknown path.

mod config;
mod faults;
mod http;
mod records;
mod reply;
mod state;
mod tokens;

use std::{net::SocketAddr, str::FromStr, sync::Arc};

use anyhow::Context;
use axum::{
    Router,
    routing::{get, post},
};
use sqlx::{postgres::PgConnectOptions, postgres::PgPoolOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DEFAULT_ADDR, SERVICE, parse_keys};
pub use faults::Faults;
pub use tokens::signature;

use crate::state::Erp;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub struct App {
    erp: Erp,
    listener: TcpListener,
    faults: bool,
}

impl App {
    pub async fn build(cfg: Config) -> anyhow::Result<Self> {
        let admin =
            PgConnectOptions::from_str(&cfg.database_url).context("invalid DATABASE_URL")?;
        relais_platform::db::provision(&admin, SERVICE, &cfg.db_password).await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(
                admin
                    .username(&relais_platform::db::role_name(SERVICE))
                    .password(&cfg.db_password)
                    .options([("search_path", SERVICE)]),
            )
            .await
            .context("failed to connect to Postgres as the reference ERP")?;
        MIGRATIONS
            .run(&pool)
            .await
            .context("reference ERP migrations")?;
        let listener = TcpListener::bind(cfg.addr).await?;
        Ok(Self {
            erp: Erp {
                pool,
                keys: Arc::new(cfg.keys),
                tokens: Arc::default(),
                faults: Arc::default(),
                token_ttl: cfg.token_ttl,
            },
            listener,
            faults: cfg.faults,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut router = Router::new()
            .route("/api/v2/apiogust.php", post(http::api))
            .route("/livez", get(|| async { "ok" }));
        if self.faults {
            tracing::warn!("fault injection is on: POST /_faults can make this ERP fail");
            router = router.route("/_faults", get(http::get_faults).post(http::set_faults));
        }
        let router = router.with_state(self.erp);
        tracing::info!(addr = %self.listener.local_addr()?, "reference ERP serving");
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        Ok(())
    }
}
