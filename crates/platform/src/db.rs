//! Postgres: each service has its own role and schema (docs/architecture.md §1), a pool
//! whose `search_path` is that schema, and embedded migrations: the
//! platform's tables (outbox, inbox, dead letters, idempotency keys), then
//! the service's own.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};

use crate::config::PlatformConfig;

/// The role a service connects as: `relais_<service>`.
pub fn role_name(service: &str) -> String {
    format!("relais_{service}")
}

/// Connects as the service, provisioning its role and schema first when the
/// config says so, and applies migrations when it says so.
pub async fn connect(
    cfg: &PlatformConfig,
    service: &str,
    service_migrations: &Migrator,
) -> anyhow::Result<PgPool> {
    let admin = PgConnectOptions::from_str(&cfg.database_url).context("invalid DATABASE_URL")?;
    let opts = if cfg.db_provision {
        let password = cfg.db_password_for(service)?;
        provision(&admin, service, &password).await?;
        admin
            .clone()
            .username(&role_name(service))
            .password(&password)
    } else {
        admin
    };
    let opts = opts.options([("search_path", service)]);
    let pool = PgPoolOptions::new()
        .max_connections(cfg.db_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await
        .with_context(|| format!("failed to connect to Postgres as the {service} service"))?;
    if cfg.db_migrate {
        migrate(&pool, service_migrations).await?;
    }
    Ok(pool)
}

/// The platform's tables, in every service's schema, recorded in
/// `_platform_migrations` (the service's own are in `_sqlx_migrations`).
pub fn platform_migrator() -> Migrator {
    let mut platform = sqlx::migrate!("./migrations");
    platform.dangerous_set_table_name("_platform_migrations");
    platform
}

/// Applies the platform's migrations, then the service's.
pub async fn migrate(pool: &PgPool, service_migrations: &Migrator) -> anyhow::Result<()> {
    platform_migrator()
        .run(pool)
        .await
        .context("failed to apply platform migrations")?;
    service_migrations
        .run(pool)
        .await
        .context("failed to apply service migrations")?;
    Ok(())
}

/// Creates (or updates the password of) the service role and its schema,
/// using `admin` (a role allowed to create roles). Safe to run concurrently
/// (replicas starting together): roles are cluster-wide, so two processes
/// can race on the same catalog row ("tuple concurrently updated"); every
/// step is idempotent, so a lost race is simply tried again.
pub async fn provision(
    admin: &PgConnectOptions,
    service: &str,
    password: &str,
) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match provision_once(admin, service, password).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 8 && is_catalog_race(&e) => {
                attempt += 1;
                let delay = crate::retry::backoff_delay(
                    attempt,
                    Duration::from_millis(20),
                    Duration::from_millis(500),
                );
                tracing::debug!(error = %e, ?delay, "provisioning raced another process, retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Concurrent DDL on the same role or schema: XX000 "tuple concurrently
/// updated", or a duplicate that appeared between check and create.
fn is_catalog_race(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|db| db.code())
            .is_some_and(|code| {
                matches!(
                    code.as_ref(),
                    "XX000" | "23505" | "42710" | "40001" | "40P01"
                )
            })
    })
}

async fn provision_once(
    admin: &PgConnectOptions,
    service: &str,
    password: &str,
) -> anyhow::Result<()> {
    let role = role_name(service);
    anyhow::ensure!(
        service.starts_with(|c: char| c.is_ascii_lowercase())
            && service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "service name {service:?} must be a lower-case letter then letters, digits or underscores"
    );
    let mut conn = PgConnection::connect_with(admin)
        .await
        .context("failed to connect to Postgres with DATABASE_URL to provision the service")?;
    let db: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&mut conn)
        .await?;
    let pw = password.replace('\'', "''");
    let create_role = format!(
        "do $$ begin
             create role {role} login password '{pw}';
         exception when duplicate_object or unique_violation then
             alter role {role} login password '{pw}';
         end $$"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(create_role))
        .execute(&mut conn)
        .await
        .context("failed to create the service role")?;
    // btree_gist lets a service refuse overlapping time ranges per resource
    // (a worker booked twice) with an exclusion constraint; only a
    // privileged role may create it, so it is done here, once per database.
    let grants = format!(
        "grant connect, temporary on database \"{db}\" to {role};
         create schema if not exists {service} authorization {role};
         create extension if not exists btree_gist;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(grants))
        .execute(&mut conn)
        .await
        .context("failed to create the service schema")?;
    Ok(())
}
