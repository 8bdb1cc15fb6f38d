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
    /// `RELAIS_DB_PASSWORD`: the service role's password, given when
    /// provisioning. Empty: derived per service from `dev_seed` (see
    /// [`PlatformConfig::db_password_for`]).
    pub db_password: String,
    /// `RELAIS_DB_MAX_CONNECTIONS` (default 16).
    pub db_max_connections: u32,
    /// `NATS_URL` (default `nats://127.0.0.1:54222`).
    pub nats_url: String,
    /// `NATS_USER`: the NATS user to connect as (default: the service's
    /// name, which is its user in `k8s/base/shared/nats/users.conf`).
    pub nats_user: String,
    /// `NATS_PASSWORD`: that user's password. Empty: derived from
    /// `dev_seed`, or no credentials at all without one (see
    /// [`PlatformConfig::nats_auth_for`]).
    pub nats_password: String,
    /// `RELAIS_DEV_SEED`, read only in development mode (`RELAIS_ENV=dev`):
    /// the local stack's random seed (`scripts/stack.sh` writes it to
    /// `.local/env`), from which each service's database and NATS passwords
    /// are derived when not given ([`derive_secret`]).
    pub dev_seed: String,
    /// `RELAIS_NAMESPACE` (default `relais`): the first token of every subject
    /// and the prefix of every stream, so environments can share one NATS.
    pub namespace: String,
    /// `GRPC_ADDR` (default per service, e.g. `127.0.0.1:50051`).
    pub grpc_addr: SocketAddr,
    /// `ADMIN_ADDR` (default per service): `/livez`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    /// Bearer tokens: `RELAIS_SIGNING_KEY`, `RELAIS_TRUSTED_KEYS`,
    /// `RELAIS_JWT_ISSUER`, `RELAIS_JWT_AUDIENCE`,
    /// `RELAIS_JWT_MAX_TTL_SECS`; see [`token_settings`].
    pub tokens: crate::auth::TokenSettings,
    /// `RELAIS_STREAM_REPLICAS` (default 1): servers of a JetStream cluster
    /// each stream this service creates is kept on (3 in production).
    pub stream_replicas: usize,
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
            db_password: var("RELAIS_DB_PASSWORD", String::new())?,
            db_max_connections: var("RELAIS_DB_MAX_CONNECTIONS", 16)?,
            nats_url: var("NATS_URL", "nats://127.0.0.1:54222".into())?,
            nats_user: var("NATS_USER", String::new())?,
            nats_password: var("NATS_PASSWORD", String::new())?,
            dev_seed: dev_seed()?,
            namespace: var("RELAIS_NAMESPACE", "relais".into())?,
            stream_replicas: var("RELAIS_STREAM_REPLICAS", 1)?,
            grpc_addr: var("GRPC_ADDR", SocketAddr::from(([127, 0, 0, 1], grpc_port)))?,
            admin_addr: var("ADMIN_ADDR", SocketAddr::from(([127, 0, 0, 1], admin_port)))?,
            tokens: token_settings()?,
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

impl PlatformConfig {
    /// The password of `service`'s database role: `RELAIS_DB_PASSWORD` when
    /// given, else derived from the development seed, so that every service
    /// of a stack has its own and none is a value written in the code.
    /// Without either it fails: a public default would let any service (or
    /// anyone who read this file) log in as any other.
    pub fn db_password_for(&self, service: &str) -> anyhow::Result<String> {
        resolve_db_password(&self.db_password, &self.dev_seed, service)
    }

    /// Who `service` connects to NATS as: `NATS_USER` (default: the
    /// service's name) with `NATS_PASSWORD`, or with the password derived
    /// from the development seed. `None` (no credentials) when neither is
    /// given: a server without authorization accepts that, one with
    /// authorization refuses it.
    pub fn nats_auth_for(&self, service: &str) -> Option<crate::nats::NatsAuth> {
        nats_auth(
            &self.nats_user,
            &self.nats_password,
            &self.dev_seed,
            service,
        )
    }
}

/// `given` (`RELAIS_DB_PASSWORD`) when set, else `service`'s password
/// derived from `seed` (`RELAIS_DEV_SEED`), else an error saying what to set.
pub fn resolve_db_password(given: &str, seed: &str, service: &str) -> anyhow::Result<String> {
    if !given.is_empty() {
        return Ok(given.to_owned());
    }
    anyhow::ensure!(
        !seed.is_empty(),
        "RELAIS_DB_PASSWORD is not set: provisioning the {service} service's role needs \
         its password (from a secret store); in development, `scripts/stack.sh up` \
         writes RELAIS_DEV_SEED to .local/env, from which each service's is derived"
    );
    Ok(derive_secret(seed, "db", service))
}

fn nats_auth(user: &str, given: &str, seed: &str, service: &str) -> Option<crate::nats::NatsAuth> {
    let user = if user.is_empty() { service } else { user };
    let password = if !given.is_empty() {
        given.to_owned()
    } else if !seed.is_empty() {
        derive_secret(seed, "nats", user)
    } else {
        return None;
    };
    Some(crate::nats::NatsAuth {
        user: user.to_owned(),
        password,
    })
}

/// Credentials for a tool (not a service) that connects to NATS as
/// `default_user` (e.g. `operator`) unless `NATS_USER` says otherwise, with
/// `NATS_PASSWORD` or the password derived from the development seed.
pub fn nats_auth_from_env(default_user: &str) -> anyhow::Result<Option<crate::nats::NatsAuth>> {
    Ok(nats_auth(
        &var("NATS_USER", String::new())?,
        &var("NATS_PASSWORD", String::new())?,
        &dev_seed()?,
        default_user,
    ))
}

/// `RELAIS_DEV_SEED` in development mode; empty otherwise, so a seed left
/// in a production environment derives nothing.
pub fn dev_seed() -> anyhow::Result<String> {
    Ok(if dev_mode() {
        var("RELAIS_DEV_SEED", String::new())?
    } else {
        String::new()
    })
}

/// A password for `name` (a service, or a NATS user) and `purpose` (`db`,
/// `nats`) from a stack's seed: the SHA-256 of `<seed>:<purpose>:<name>`,
/// in hex. Each service of a stack gets its own, and knowing one tells
/// nothing of another. `scripts/stack.sh` computes the same with
/// `sha256sum` for the nats-server it starts.
pub fn derive_secret(seed: &str, purpose: &str, name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("{seed}:{purpose}:{name}")))
}

/// `RELAIS_ENV=dev`: the explicit development mode of `make run` and the
/// tests, the only one in which built-in keys and loopback endpoints are
/// accepted. Anything else, or nothing, is production.
pub fn dev_mode() -> bool {
    std::env::var("RELAIS_ENV").is_ok_and(|v| v.trim() == "dev")
}

/// How bearer tokens are signed and checked (docs/keys.md):
/// `RELAIS_SIGNING_KEY` (this process's private key, `<kid>:<seed>`),
/// `RELAIS_TRUSTED_KEYS` (the JWKS file of accepted public keys),
/// `RELAIS_JWT_ISSUER` (default `relais`), `RELAIS_JWT_AUDIENCE` (default
/// `relais`), `RELAIS_JWT_MAX_TTL_SECS` (default 86400). In development
/// mode both keys default to ones derived from `RELAIS_DEV_SEED`; outside
/// it, no trusted keys is an error when a service starts serving, saying
/// what to set; the
/// retired shared secret `RELAIS_JWT_SECRET` (a deployment still giving it
/// believes something it no longer gets).
pub fn token_settings() -> anyhow::Result<crate::auth::TokenSettings> {
    let seed = dev_seed()?;
    let trust = resolve_trust(
        &var("RELAIS_JWT_SECRET", String::new())?,
        &var("RELAIS_TRUSTED_KEYS", String::new())?,
        &seed,
    )?;
    Ok(crate::auth::TokenSettings {
        signing_key: var("RELAIS_SIGNING_KEY", String::new())?,
        dev_seed: seed,
        trust,
        issuer: var(
            "RELAIS_JWT_ISSUER",
            crate::auth::TokenSettings::ISSUER.to_owned(),
        )?,
        audience: var(
            "RELAIS_JWT_AUDIENCE",
            crate::auth::TokenSettings::AUDIENCE.to_owned(),
        )?,
        max_ttl: Duration::from_secs(var(
            "RELAIS_JWT_MAX_TTL_SECS",
            crate::auth::TokenSettings::MAX_TTL.as_secs(),
        )?),
    })
}

/// Which public keys to trust, given `RELAIS_JWT_SECRET` (retired),
/// `RELAIS_TRUSTED_KEYS` and the development seed.
fn resolve_trust(
    jwt_secret: &str,
    trusted: &str,
    seed: &str,
) -> anyhow::Result<crate::keys::Trust> {
    anyhow::ensure!(
        jwt_secret.is_empty(),
        "RELAIS_JWT_SECRET is no longer used: tokens are signed with each issuer's own key \
         (RELAIS_SIGNING_KEY) and checked with the public keys in RELAIS_TRUSTED_KEYS; \
         see docs/keys.md, and remove the variable"
    );
    if !trusted.is_empty() {
        return Ok(crate::keys::Trust::File(trusted.into()));
    }
    // No keys at all is refused when a service starts serving (the
    // authenticator says what to set), not here: `<service> migrate`
    // reads the same configuration and needs no keys.
    if seed.is_empty() {
        return Ok(crate::keys::Trust::Unset);
    }
    Ok(crate::keys::Trust::Dev {
        seed: seed.to_owned(),
        testing: false,
    })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn outside_development_a_service_needs_trusted_keys() {
        let unset = resolve_trust("", "", "").unwrap();
        let err = crate::auth::Authenticator::new(
            &crate::auth::TokenSettings {
                trust: unset,
                ..crate::auth::TokenSettings::dev("", false)
            },
            "orders",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("RELAIS_TRUSTED_KEYS is not set"), "{err}");
        let err = resolve_trust("old-shared-secret", "/k.json", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RELAIS_JWT_SECRET is no longer used"), "{err}");
        assert!(matches!(
            resolve_trust("", "/k.json", "seed").unwrap(),
            crate::keys::Trust::File(_)
        ));
        assert!(matches!(
            resolve_trust("", "", "seed").unwrap(),
            crate::keys::Trust::Dev { testing: false, .. }
        ));
    }

    #[test]
    fn each_service_gets_its_own_derived_passwords() {
        let orders = resolve_db_password("", "seed-1", "orders").expect("derived");
        let billing = resolve_db_password("", "seed-1", "billing").expect("derived");
        assert_ne!(orders, billing);
        assert_eq!(orders, derive_secret("seed-1", "db", "orders"));
        // Another stack (another seed) derives other passwords.
        assert_ne!(orders, resolve_db_password("", "seed-2", "orders").unwrap());
        let nats = nats_auth("", "", "seed-1", "orders").expect("derived");
        assert_eq!(nats.user, "orders");
        assert_ne!(nats.password, orders, "database and NATS passwords differ");
        let billing_nats = nats_auth("", "", "seed-1", "billing").unwrap();
        assert_ne!(nats.password, billing_nats.password);
    }

    #[test]
    fn given_passwords_win_and_nothing_falls_back_to_a_shared_default() {
        assert_eq!(
            resolve_db_password("db-pw", "seed", "orders").unwrap(),
            "db-pw"
        );
        let given = nats_auth("svc-user", "nats-pw", "seed", "orders").unwrap();
        assert_eq!(
            (given.user.as_str(), given.password.as_str()),
            ("svc-user", "nats-pw")
        );
        let err = resolve_db_password("", "", "orders")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RELAIS_DB_PASSWORD is not set"), "{err}");
        assert!(nats_auth("", "", "", "orders").is_none());
    }
}
