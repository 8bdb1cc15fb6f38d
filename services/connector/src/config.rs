//! The connector's settings, from the environment (docs/configuration.md).

use std::time::Duration;

use relais_platform::config::{PlatformConfig, var};

use crate::{availability, egress, secrets};

pub const SERVICE: &str = "connector";
pub const DEFAULT_GRPC_PORT: u16 = 50055;
pub const DEFAULT_ADMIN_PORT: u16 = 9105;

/// How writes to the ERP are retried.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// `RELAIS_CONNECTOR_MAX_ATTEMPTS` (default 8): then a dead letter.
    pub max_attempts: i32,
    /// `RELAIS_CONNECTOR_RETRY_BASE_MS` (default 1000): doubles each
    /// attempt, with jitter, up to 5 minutes.
    pub retry_base: Duration,
    /// `RELAIS_CONNECTOR_RETRY_MAX_SECS` (default 300): the longest wait
    /// between two attempts.
    pub retry_max: Duration,
    /// `RELAIS_CONNECTOR_POLL_MS` (default 500): how often due writes are
    /// looked for when no event woke the worker.
    pub poll: Duration,
    /// `RELAIS_CONNECTOR_ERP_TIMEOUT_MS` (default 10000): per ERP call.
    pub erp_timeout: Duration,
    /// `RELAIS_CONNECTOR_PUSH_PER_CONNECTION` (default 4, at least 1): the
    /// writes one connection may have in flight at once, so a slow ERP
    /// holds up only its own.
    pub per_connection: usize,
}

#[derive(Clone)]
pub struct ConnectorConfig {
    pub platform: PlatformConfig,
    /// `CATALOGUE_ADDR`: the ERP's catalogue is applied there.
    pub catalogue_addr: String,
    /// `ORDERS_ADDR`: customers and orders are read there, ERP customers
    /// written there.
    pub orders_addr: String,
    /// `PLANNING_ADDR`: workers and interventions.
    pub planning_addr: String,
    pub push: PushConfig,
    /// `RELAIS_CONNECTOR_SCHEDULE_TICK_SECS` (default 30): how often the
    /// scheduler looks for pulls that are due.
    pub schedule_tick: Duration,
    /// `RELAIS_CONNECTOR_VERIFY_EVERY_SECS` (default 3600; 0: never): how
    /// often each connection is verified (a report, no repair), so the
    /// drift metrics stay current.
    pub verify_every: Duration,
    /// Credentials named by connections' `secret_ref`, per tenant.
    pub secrets: secrets::Secrets,
    /// `RELAIS_CONNECTOR_SECRET_KEYS`: seal the credentials stored with
    /// connections (secrets.rs).
    pub secret_keys: secrets::SecretKeys,
    /// `RELAIS_CONNECTOR_ALLOWED_NETWORKS`: the private networks
    /// connections may reach (egress.rs).
    pub egress: egress::EgressPolicy,
    /// `RELAIS_CONNECTOR_EXCHANGE_ROOT` (default `/srv/exchange`): CSV
    /// connections' folders lie in `<root>/<tenant id>/`.
    pub exchange_root: std::path::PathBuf,
    /// `RELAIS_CONNECTOR_OPENING_HOURS` (default `Mon-Fri 08:00-19:00`):
    /// the weekly hours an ERP worker gets when the ERP's record carries
    /// none (availability.rs).
    pub opening_hours: availability::OpeningHours,
}

impl ConnectorConfig {
    /// Test and dev defaults around `platform`: quick retries.
    pub fn quick(
        platform: PlatformConfig,
        catalogue_addr: String,
        orders_addr: String,
        planning_addr: String,
    ) -> Self {
        Self {
            platform,
            catalogue_addr,
            orders_addr,
            planning_addr,
            push: PushConfig {
                max_attempts: 6,
                retry_base: Duration::from_millis(100),
                retry_max: Duration::from_secs(2),
                poll: Duration::from_millis(100),
                erp_timeout: Duration::from_millis(1500),
                per_connection: 4,
            },
            schedule_tick: Duration::from_secs(1),
            verify_every: Duration::from_secs(3600),
            secrets: secrets::Secrets::from_env(),
            secret_keys: secrets::SecretKeys::development(),
            // Tests and the demo run their ERPs on loopback.
            egress: egress::EgressPolicy::allowing(vec![
                ipnet::IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])),
                ipnet::IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            ]),
            exchange_root: std::env::temp_dir().join("relais-exchange"),
            opening_hours: availability::OpeningHours::default(),
        }
    }
}

pub fn config_from_env() -> anyhow::Result<ConnectorConfig> {
    Ok(ConnectorConfig {
        platform: PlatformConfig::from_env(DEFAULT_GRPC_PORT, DEFAULT_ADMIN_PORT)?,
        catalogue_addr: var("CATALOGUE_ADDR", "http://127.0.0.1:50051".to_owned())?,
        orders_addr: var("ORDERS_ADDR", "http://127.0.0.1:50052".to_owned())?,
        planning_addr: var("PLANNING_ADDR", "http://127.0.0.1:50053".to_owned())?,
        push: PushConfig {
            max_attempts: var("RELAIS_CONNECTOR_MAX_ATTEMPTS", 8)?,
            retry_base: Duration::from_millis(var("RELAIS_CONNECTOR_RETRY_BASE_MS", 1000)?),
            retry_max: Duration::from_secs(var("RELAIS_CONNECTOR_RETRY_MAX_SECS", 300)?),
            poll: Duration::from_millis(var("RELAIS_CONNECTOR_POLL_MS", 500)?),
            erp_timeout: Duration::from_millis(var("RELAIS_CONNECTOR_ERP_TIMEOUT_MS", 10_000)?),
            per_connection: var("RELAIS_CONNECTOR_PUSH_PER_CONNECTION", 4usize)?.max(1),
        },
        schedule_tick: Duration::from_secs(var("RELAIS_CONNECTOR_SCHEDULE_TICK_SECS", 30)?),
        verify_every: Duration::from_secs(var("RELAIS_CONNECTOR_VERIFY_EVERY_SECS", 3600)?),
        secrets: secrets::Secrets::from_env(),
        secret_keys: secrets::SecretKeys::from_env()?,
        egress: egress::EgressPolicy::from_env()?,
        exchange_root: var(
            "RELAIS_CONNECTOR_EXCHANGE_ROOT",
            std::path::PathBuf::from("/srv/exchange"),
        )?,
        opening_hours: var(
            "RELAIS_CONNECTOR_OPENING_HOURS",
            availability::OpeningHours::default(),
        )?,
    })
}
