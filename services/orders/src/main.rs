//! `orders serve` runs the service; `orders migrate` provisions its
//! database role and schema, applies migrations and exits (`migrate --check [--wait <s>]` only checks: relais_platform::migrations).

use relais_orders::{App, MIGRATIONS, OrdersConfig, SERVICE, config_from_env};
use relais_platform::{migrations, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init(SERVICE)?;
    let mut cfg: OrdersConfig = config_from_env()?;
    match std::env::args().nth(1).as_deref() {
        Some("serve") | None => {
            let app = App::build(cfg).await?;
            app.run(shutdown::on_signal()).await
        }
        Some("migrate") => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            migrations::command(&mut cfg.platform, SERVICE, &MIGRATIONS, &args).await
        }
        Some(other) => anyhow::bail!("unknown command {other:?}: use `serve` or `migrate`"),
    }
}
