//! The gateway's settings, from the environment (docs/configuration.md).

use std::{net::SocketAddr, time::Duration};

use relais_platform::config::{PlatformConfig, var};

use crate::accounts::AccountSettings;

pub const SERVICE: &str = "gateway";
/// The gateway serves no gRPC: `GRPC_ADDR` is read by the platform's
/// settings like every service's, and unused here.
pub const DEFAULT_GRPC_PORT: u16 = 50056;
pub const DEFAULT_HTTP_PORT: u16 = 8080;
pub const DEFAULT_ADMIN_PORT: u16 = 9106;

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Database (the gateway's own schema, for accounts to come), token
    /// settings, `ADMIN_ADDR` (default 127.0.0.1:9106: `/livez`,
    /// `/readyz`, `/metrics`).
    pub platform: PlatformConfig,
    /// `HTTP_ADDR` (default 127.0.0.1:8080): the public API.
    pub http_addr: SocketAddr,
    /// `CATALOGUE_ADDR` (default http://127.0.0.1:50051).
    pub catalogue_addr: String,
    /// `ORDERS_ADDR` (default http://127.0.0.1:50052).
    pub orders_addr: String,
    /// `PLANNING_ADDR` (default http://127.0.0.1:50053).
    pub planning_addr: String,
    /// `BILLING_ADDR` (default http://127.0.0.1:50054).
    pub billing_addr: String,
    /// `CONNECTOR_ADDR` (default http://127.0.0.1:50055): for the office's
    /// sync pages to come.
    pub connector_addr: String,
    /// `RELAIS_GATEWAY_DEADLINE_MS` (default 5000): how long a service may
    /// take to answer one call before the client gets a 503.
    pub deadline: Duration,
    /// Sign-in, sessions and lockout (`RELAIS_ACCESS_TOKEN_SECS`,
    /// `RELAIS_SESSION_DAYS`, `RELAIS_LOCK_AFTER_FAILURES`,
    /// `RELAIS_LOCK_MINUTES`, `RELAIS_SIGN_INS_PER_MINUTE`,
    /// `RELAIS_COOKIE_SECURE`, `RELAIS_PUBLIC_URL`, `RELAIS_BEHIND_PROXY`).
    pub accounts: AccountSettings,
}

impl GatewayConfig {
    /// Tests and `relais dev` give the services' addresses as they bound.
    pub fn new(platform: PlatformConfig) -> Self {
        Self {
            platform,
            http_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT)),
            catalogue_addr: "http://127.0.0.1:50051".into(),
            orders_addr: "http://127.0.0.1:50052".into(),
            planning_addr: "http://127.0.0.1:50053".into(),
            billing_addr: "http://127.0.0.1:50054".into(),
            connector_addr: "http://127.0.0.1:50055".into(),
            deadline: Duration::from_millis(5000),
            accounts: AccountSettings::default(),
        }
    }
}

pub fn config_from_env() -> anyhow::Result<GatewayConfig> {
    let defaults = GatewayConfig::new(PlatformConfig::from_env(
        DEFAULT_GRPC_PORT,
        DEFAULT_ADMIN_PORT,
    )?);
    Ok(GatewayConfig {
        http_addr: var("HTTP_ADDR", defaults.http_addr)?,
        catalogue_addr: var("CATALOGUE_ADDR", defaults.catalogue_addr)?,
        orders_addr: var("ORDERS_ADDR", defaults.orders_addr)?,
        planning_addr: var("PLANNING_ADDR", defaults.planning_addr)?,
        billing_addr: var("BILLING_ADDR", defaults.billing_addr)?,
        connector_addr: var("CONNECTOR_ADDR", defaults.connector_addr)?,
        deadline: Duration::from_millis(var("RELAIS_GATEWAY_DEADLINE_MS", 5000)?),
        accounts: accounts_from_env(&defaults.accounts)?,
        platform: defaults.platform,
    })
}

fn accounts_from_env(d: &AccountSettings) -> anyhow::Result<AccountSettings> {
    Ok(AccountSettings {
        access_ttl: Duration::from_secs(var("RELAIS_ACCESS_TOKEN_SECS", d.access_ttl.as_secs())?),
        session_ttl: Duration::from_secs(
            var("RELAIS_SESSION_DAYS", d.session_ttl.as_secs() / 86400)? * 86400,
        ),
        lock_after: var("RELAIS_LOCK_AFTER_FAILURES", d.lock_after)?.max(1),
        lock_for: Duration::from_secs(var("RELAIS_LOCK_MINUTES", d.lock_for.as_secs() / 60)? * 60),
        sign_ins_per_minute: var("RELAIS_SIGN_INS_PER_MINUTE", d.sign_ins_per_minute)?,
        cookie_secure: var("RELAIS_COOKIE_SECURE", d.cookie_secure)?,
        public_url: var("RELAIS_PUBLIC_URL", d.public_url.clone())?,
        behind_proxy: var("RELAIS_BEHIND_PROXY", d.behind_proxy)?,
    })
}
