//! `gateway serve` runs the API; `gateway migrate` provisions its database
//! role and schema, applies migrations and exits (`migrate --check [--wait <s>]` only checks: relais_platform::migrations); `gateway openapi` prints
//! the OpenAPI document (`> services/gateway/openapi.json` to commit it).

use relais_gateway::{App, GatewayConfig, MIGRATIONS, SERVICE, config_from_env, openapi_json};
use relais_platform::{migrations, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("openapi") => {
            // No configuration needed: the document is the code's.
            print!("{}", openapi_json()?);
            Ok(())
        }
        Some("serve") | None => {
            let _telemetry = telemetry::init(SERVICE)?;
            let cfg: GatewayConfig = config_from_env()?;
            let app = App::build(cfg).await?;
            app.run(shutdown::on_signal()).await
        }
        Some("migrate") => {
            let _telemetry = telemetry::init(SERVICE)?;
            let mut cfg = config_from_env()?;
            let args: Vec<String> = std::env::args().skip(2).collect();
            migrations::command(&mut cfg.platform, SERVICE, &MIGRATIONS, &args).await
        }
        Some(other) => {
            anyhow::bail!("unknown command {other:?}: use `serve`, `migrate` or `openapi`")
        }
    }
}
