//! The gateway's settings, from the environment (docs/configuration.md).

use std::{net::SocketAddr, time::Duration};

use relais_platform::config::{PlatformConfig, var};

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
        platform: defaults.platform,
    })
}
