//! Every service's `migrate` command, written once:
//!
//! - `<service> migrate` provisions its role and schema (when configured)
//!   and applies the platform's migrations, then the service's;
//! - `<service> migrate --check [--wait <seconds>]` applies nothing: it
//!   connects as the service (its own `DATABASE_URL`, no provisioning) and
//!   succeeds when every migration this binary embeds is applied, with the
//!   same checksum. Run as a pod's init container, it holds the pod until
//!   the migration Job is done, instead of a service crash-looping on a
//!   schema it does not have yet. Exit 0: up to date (migrations a newer
//!   image applied are fine, and logged); 3: pending (or the database not
//!   readable yet), without `--wait`; 1: still pending after the wait, or a
//!   migration that failed or whose checksum differs (edited after it was
//!   applied): waiting will not fix those.

use std::{collections::HashMap, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    Connection,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgConnection},
};

use crate::{config::PlatformConfig, db};

/// Runs `migrate` with `args` (what follows it on the command line).
pub async fn command(
    cfg: &mut PlatformConfig,
    service: &str,
    migrations: &Migrator,
    args: &[String],
) -> anyhow::Result<()> {
    match args {
        [] => {
            cfg.db_migrate = true;
            db::connect(cfg, service, migrations).await?.close().await;
            tracing::info!(service, "migrations applied");
            Ok(())
        }
        [check] if check == "--check" => check_once(cfg, service, migrations, None).await,
        [check, wait, secs] if check == "--check" && wait == "--wait" => {
            let secs: u64 = secs
                .parse()
                .with_context(|| format!("--wait {secs:?}: a number of seconds"))?;
            check_once(cfg, service, migrations, Some(Duration::from_secs(secs))).await
        }
        _ => anyhow::bail!("usage: {service} migrate [--check [--wait <seconds>]]"),
    }
}

async fn check_once(
    cfg: &PlatformConfig,
    service: &str,
    migrations: &Migrator,
    wait: Option<Duration>,
) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(&cfg.database_url)
        .context("invalid DATABASE_URL")?
        .options([("search_path", service)]);
    let deadline = wait.map(|w| tokio::time::Instant::now() + w);
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), pending(&opts, migrations))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("Postgres did not answer within 10 s")));
        let pending = match read {
            Ok(Status::UpToDate) => {
                tracing::info!(service, "migrations up to date");
                return Ok(());
            }
            Ok(Status::Edited(what)) => {
                anyhow::bail!(
                    "migrations applied with another checksum: {}",
                    what.join(", ")
                )
            }
            Ok(Status::Pending(what)) => what.join(", "),
            // No role, schema or table yet, or no database: the Job has
            // not got that far. Pending, not a failure, while we wait.
            Err(e) => format!("not readable yet ({e:#})"),
        };
        match deadline {
            None => {
                eprintln!("{service}: migrations pending: {pending}");
                std::process::exit(3);
            }
            Some(d) if tokio::time::Instant::now() >= d => {
                anyhow::bail!("migrations still pending after the wait: {pending}")
            }
            Some(_) => {
                tracing::info!(service, pending, "waiting for migrations");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

enum Status {
    UpToDate,
    Pending(Vec<String>),
    Edited(Vec<String>),
}

async fn pending(opts: &PgConnectOptions, service: &Migrator) -> anyhow::Result<Status> {
    let mut conn = PgConnection::connect_with(opts).await?;
    let platform = db::platform_migrator();
    let mut missing = Vec::new();
    let mut edited = Vec::new();
    for (table, migrator) in [
        ("_platform_migrations", &platform),
        ("_sqlx_migrations", service),
    ] {
        let applied: HashMap<i64, (Vec<u8>, bool)> = sqlx::query_as::<_, (i64, Vec<u8>, bool)>(
            sqlx::AssertSqlSafe(format!("select version, checksum, success from {table}")),
        )
        .fetch_all(&mut conn)
        .await?
        .into_iter()
        .map(|(v, c, s)| (v, (c, s)))
        .collect();
        for m in migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
        {
            let name = format!("{table} {} {}", m.version, m.description);
            match applied.get(&m.version) {
                Some((checksum, true)) if *checksum == *m.checksum => {}
                Some((_, true)) => edited.push(name),
                // A failed one needs a person too: waiting will not fix it.
                Some((_, false)) => edited.push(format!("{name} (failed)")),
                None => missing.push(name),
            }
        }
        let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        for newer in applied.keys().filter(|v| !known.contains(v)) {
            tracing::info!(table, version = newer, "applied by a newer version; fine");
        }
    }
    conn.close().await?;
    Ok(if !edited.is_empty() {
        Status::Edited(edited)
    } else if missing.is_empty() {
        Status::UpToDate
    } else {
        Status::Pending(missing)
    })
}
