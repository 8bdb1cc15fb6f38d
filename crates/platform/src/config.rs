//! Configuration from environment variables, each with a default that works
//! with the local stack (`make run`). Every variable is listed in
//! `docs/configuration.md`.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use anyhow::Context;

/// Settings every service reads the same way.
#[derive(Clone, Debug)]
pub struct PlatformConfig {
    /// `DATABASE_URL`: the service's connection. With `RELAIS_DB_PROVISION`
    /// it is an admin connection used to create the service's own role and
    /// schema, and the service then connects as that role.
    pub database_url: String,
    /// `RELAIS_DB_PROVISION` (default true): create the service role and schema.
    pub db_provision: bool,
    /// `RELAIS_MIGRATE` (default true): apply embedded migrations at start.
    pub db_migrate: bool,
    /// `RELAIS_DB_PASSWORD` (default `relais-dev`): the service role's password.
    pub db_password: String,
    /// `RELAIS_DB_MAX_CONNECTIONS` (default 16).
    pub db_max_connections: u32,
    /// `NATS_URL` (default `nats://127.0.0.1:54222`).
    pub nats_url: String,
    /// `RELAIS_NAMESPACE` (default `relais`): the first token of every subject
    /// and the prefix of every stream, so environments can share one NATS.
    pub namespace: String,
    /// `GRPC_ADDR` (default per service, e.g. `127.0.0.1:50051`).
    pub grpc_addr: SocketAddr,
    /// `ADMIN_ADDR` (default per service): `/livez`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    /// `RELAIS_JWT_SECRET` (default `relais-dev-secret`): HS256 key.
    pub jwt_secret: String,
    /// `RELAIS_OUTBOX_POLL_MS` (default 250): how often the relay looks for
    /// commits made by other processes.
    pub outbox_poll: Duration,
    /// `RELAIS_OUTBOX_RETENTION_SECS` (default 600): how long published rows
    /// are kept; longer than JetStream's 2-minute fsync interval.
    pub outbox_retention: Duration,
    /// `RELAIS_CONSUMER_MAX_DELIVER` (default 5): attempts before dead letter.
    pub consumer_max_deliver: i64,
    /// Outgoing mail: `RELAIS_MAIL_FROM` (default `Relais <no-reply@relais.localhost>`),
    /// `RELAIS_SMTP_URL` (unset: no SMTP), `RELAIS_MAIL_DIR` (default
    /// `.local/mail`, where mails are written when there is no SMTP),
    /// `RELAIS_MAIL_MAX_ATTEMPTS` (default 8).
    pub mail: crate::mail::MailConfig,
}

impl PlatformConfig {
    /// Reads the environment; `grpc_port` and `admin_port` are the service's
    /// defaults when `GRPC_ADDR` / `ADMIN_ADDR` are unset.
    pub fn from_env(grpc_port: u16, admin_port: u16) -> anyhow::Result<Self> {
        Ok(Self {
            database_url: var(
                "DATABASE_URL",
                "postgres://relais:relais@127.0.0.1:55432/relais".into(),
            )?,
            db_provision: var("RELAIS_DB_PROVISION", true)?,
            db_migrate: var("RELAIS_MIGRATE", true)?,
            db_password: var("RELAIS_DB_PASSWORD", "relais-dev".into())?,
            db_max_connections: var("RELAIS_DB_MAX_CONNECTIONS", 16)?,
            nats_url: var("NATS_URL", "nats://127.0.0.1:54222".into())?,
            namespace: var("RELAIS_NAMESPACE", "relais".into())?,
            grpc_addr: var("GRPC_ADDR", SocketAddr::from(([127, 0, 0, 1], grpc_port)))?,
            admin_addr: var("ADMIN_ADDR", SocketAddr::from(([127, 0, 0, 1], admin_port)))?,
            jwt_secret: var("RELAIS_JWT_SECRET", "relais-dev-secret".into())?,
            outbox_poll: Duration::from_millis(var("RELAIS_OUTBOX_POLL_MS", 250)?),
            outbox_retention: Duration::from_secs(var("RELAIS_OUTBOX_RETENTION_SECS", 600)?),
            consumer_max_deliver: var("RELAIS_CONSUMER_MAX_DELIVER", 5)?,
            mail: crate::mail::MailConfig {
                from: var(
                    "RELAIS_MAIL_FROM",
                    "Relais <no-reply@relais.localhost>".into(),
                )?,
                smtp_url: Some(var("RELAIS_SMTP_URL", String::new())?).filter(|u| !u.is_empty()),
                dir: var("RELAIS_MAIL_DIR", std::path::PathBuf::from(".local/mail"))?,
                max_attempts: var("RELAIS_MAIL_MAX_ATTEMPTS", 8)?,
            },
        })
    }
}

/// Reads `name`, or `default` when unset or empty; a value that does not
/// parse is an error naming the variable, never a silent default.
pub fn var<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("environment variable {name}={v:?} is invalid")),
        _ => Ok(default),
    }
}
