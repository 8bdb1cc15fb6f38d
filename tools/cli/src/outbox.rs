//! `relais outbox`: operating a service's outbox directly in its database.

use clap::Subcommand;
use relais_platform::config::PlatformConfig;
#[derive(Subcommand)]
pub enum OutboxOp {
    /// Mark every event since a time unpublished, so the relay sends them
    /// again (after a broker lost acknowledged messages).
    Republish {
        #[arg(long)]
        service: String,
        /// RFC 3339, e.g. 2026-11-23T10:00:00Z.
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
    },
    /// Unpublished events and the age of the oldest.
    Backlog {
        #[arg(long)]
        service: String,
    },
}

pub async fn outbox(op: OutboxOp) -> anyhow::Result<()> {
    let service = match &op {
        OutboxOp::Republish { service, .. } | OutboxOp::Backlog { service } => service.clone(),
    };
    let mut cfg = PlatformConfig::from_env(0, 0)?;
    cfg.db_migrate = false;
    let pool = relais_platform::db::connect(&cfg, &service, &relais_catalogue::MIGRATIONS).await?;
    match op {
        OutboxOp::Republish { since, .. } => {
            let n = relais_platform::outbox::republish_since(&pool, since).await?;
            println!("{n} events of {service} since {since} will be published again");
        }
        OutboxOp::Backlog { .. } => {
            let (count, age) = relais_platform::outbox::backlog(&pool).await?;
            println!("{service}: {count} unpublished, oldest {age:.1} s");
        }
    }
    Ok(())
}
