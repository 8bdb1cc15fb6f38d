//! `planning serve` runs the service; `planning migrate` provisions its
//! database role and schema, applies migrations and exits.

use relais_planning::{App, MIGRATIONS, SERVICE, config_from_env};
use relais_platform::{db, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init(SERVICE)?;
    let mut cfg = config_from_env()?;
    match std::env::args().nth(1).as_deref() {
        Some("serve") | None => App::build(cfg).await?.run(shutdown::on_signal()).await,
        Some("migrate") => {
            cfg.platform.db_migrate = true;
            db::connect(&cfg.platform, SERVICE, &MIGRATIONS)
                .await?
                .close()
                .await;
            tracing::info!("planning migrations applied");
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command {other:?}: use `serve` or `migrate`"),
    }
}
