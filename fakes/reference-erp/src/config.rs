//! What the reference ERP is started with, from the environment.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use anyhow::Context;

pub const SERVICE: &str = "reference_erp";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8800";

#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL`: an admin connection; the ERP keeps its records in
    /// its own role and schema (`reference_erp`).
    pub database_url: String,
    /// `RELAIS_DB_PASSWORD`: its role's password (in development, derived
    /// from `RELAIS_DEV_SEED` when unset, as every service's is).
    pub db_password: String,
    /// `REFERENCE_ERP_ADDR` (default 127.0.0.1:8800).
    pub addr: SocketAddr,
    /// `REFERENCE_ERP_KEYS`: `public:private` pairs, comma-separated
    /// (default `demo-public:demo-private`).
    pub keys: HashMap<String, String>,
    /// `REFERENCE_ERP_TOKEN_TTL_SECS` (default 600).
    pub token_ttl: Duration,
    /// `REFERENCE_ERP_FAULTS` (default false): serve `/_faults`, through
    /// which anyone who reaches the ERP can make it fail. Tests that inject
    /// faults set it.
    pub faults: bool,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        use relais_platform::config::var;
        Ok(Self {
            database_url: var(
                "DATABASE_URL",
                "postgres://relais:relais@127.0.0.1:55432/relais".into(),
            )?,
            db_password: relais_platform::config::resolve_db_password(
                &var("RELAIS_DB_PASSWORD", String::new())?,
                &relais_platform::config::dev_seed()?,
                SERVICE,
            )?,
            addr: var("REFERENCE_ERP_ADDR", DEFAULT_ADDR.parse()?)?,
            keys: parse_keys(&var(
                "REFERENCE_ERP_KEYS",
                "demo-public:demo-private".to_owned(),
            )?)?,
            token_ttl: Duration::from_secs(var("REFERENCE_ERP_TOKEN_TTL_SECS", 600)?),
            faults: flag(&var("REFERENCE_ERP_FAULTS", String::new())?)
                .context("REFERENCE_ERP_FAULTS must be 1/true or 0/false")?,
        })
    }
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`/empty; anything else
/// is a mistake worth stopping for, not a silent "off".
pub(crate) fn flag(v: &str) -> anyhow::Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        other => anyhow::bail!("{other:?} is not a flag"),
    }
}

pub fn parse_keys(s: &str) -> anyhow::Result<HashMap<String, String>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once(':')
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .with_context(|| format!("REFERENCE_ERP_KEYS: {p:?} is not public:private"))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_faults_flag_is_off_by_default_and_strict() {
        assert!(!flag("").unwrap());
        assert!(!flag("0").unwrap());
        assert!(flag("1").unwrap());
        assert!(flag("true").unwrap());
        assert!(flag("maybe").is_err());
    }
}
