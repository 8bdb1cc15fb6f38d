//! `reference-erp`: serves the reference ERP until SIGINT/SIGTERM.

use relais_platform::{shutdown, telemetry};
use relais_reference_erp::{App, Config, SERVICE};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init(SERVICE)?;
    App::build(Config::from_env()?)
        .await?
        .run(shutdown::on_signal())
        .await
}
