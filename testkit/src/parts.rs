//! Building each part from its settings, in dependency order.

use std::net::SocketAddr;

#[cfg(feature = "testing")]
use relais_platform::config::PlatformConfig;
use relais_platform::nats::Namespace;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Part, Stack, StackBuilder};

/// The reference ERP's API keys in a test stack (`public:private`).
pub const ERP_KEYS: &str = "conn-pub:conn-secret";

/// Where the parts' settings come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    /// A fresh database per part, ports 0, a namespace no one else uses,
    /// quick polls, the test signing key; the reference ERP's fault
    /// injection on.
    #[cfg(feature = "testing")]
    #[default]
    Testing,
    /// Each service's settings from the environment, as its own binary
    /// reads them (`relais dev`).
    #[cfg_attr(not(feature = "testing"), default)]
    Env,
}

pub(crate) struct Gateway {
    pub http_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub accounts: relais_gateway::accounts::Accounts,
    pub task: JoinHandle<anyhow::Result<()>>,
}

pub(crate) struct Erp {
    pub addr: SocketAddr,
    pub database_url: String,
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// Settings for one service under test: a fresh database, the stack's
/// namespace.
#[cfg(feature = "testing")]
async fn platform(ns: &str, nats_url: &str) -> anyhow::Result<PlatformConfig> {
    let mut cfg = relais_platform::testing::config(nats_url).await?;
    cfg.namespace = ns.to_owned();
    Ok(cfg)
}

fn run<F>(task: F) -> JoinHandle<anyhow::Result<()>>
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    tokio::spawn(task)
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

pub(crate) async fn spawn(mut b: StackBuilder) -> anyhow::Result<Stack> {
    #[cfg(feature = "testing")]
    if b.source == Source::Testing {
        relais_platform::testing::init_logging();
    }
    let (ns, nats_url) = match b.source {
        #[cfg(feature = "testing")]
        Source::Testing => (
            relais_platform::testing::namespace(),
            relais_platform::testing::nats_url(),
        ),
        Source::Env => (
            relais_platform::config::var("RELAIS_NAMESPACE", "relais".to_owned())?,
            relais_platform::config::var("NATS_URL", "nats://127.0.0.1:4222".to_owned())?,
        ),
    };
    let nats_url = b.nats_url.take().unwrap_or(nats_url);
    let ns = b.namespace.take().unwrap_or(ns);
    let shutdown = b.shutdown.clone();
    let mut stack = Stack {
        tenant: Uuid::now_v7(),
        ns: Namespace::new(ns.clone()),
        nats_url: nats_url.clone(),
        catalogue: None,
        planning: None,
        orders: None,
        billing: None,
        connector: None,
        erp: None,
        gateway: None,
        simulator: None,
        connector_cfg: None,
        connector_stop: None,
        shutdown: shutdown.clone(),
    };

    if b.catalogue {
        let mut cfg = match b.source {
            Source::Env => relais_catalogue::config_from_env()?,
            #[cfg(feature = "testing")]
            Source::Testing => platform(&ns, &nats_url).await?,
        };
        if let Some(f) = &b.platform_hook {
            f(&mut cfg);
        }
        if let Some(hook) = b.catalogue_hook.take() {
            hook(&mut cfg);
        }
        let database_url = cfg.database_url.clone();
        let app = relais_catalogue::App::build(cfg).await?;
        stack.catalogue = Some(Part {
            grpc_addr: app.grpc_addr(),
            admin_addr: app.admin_addr(),
            database_url,
            task: run(app.run(shutdown.clone())),
        });
    }
    let catalogue_url = stack.catalogue.as_ref().map(|p| url(p.grpc_addr));

    if b.planning {
        let mut cfg = match b.source {
            Source::Env => relais_planning::config_from_env()?,
            #[cfg(feature = "testing")]
            Source::Testing => relais_planning::PlanningConfig {
                platform: platform(&ns, &nats_url).await?,
                catalogue_addr: String::new(),
            },
        };
        // Skills are checked with the catalogue of this stack.
        cfg.catalogue_addr = catalogue_url.clone().unwrap_or_default();
        if let Some(f) = &b.platform_hook {
            f(&mut cfg.platform);
        }
        if let Some(hook) = b.planning_hook.take() {
            hook(&mut cfg);
        }
        let database_url = cfg.platform.database_url.clone();
        let app = relais_planning::App::build(cfg).await?;
        stack.planning = Some(Part {
            grpc_addr: app.grpc_addr(),
            admin_addr: app.admin_addr(),
            database_url,
            task: run(app.run(shutdown.clone())),
        });
    }
    let planning_url = stack.planning.as_ref().map(|p| url(p.grpc_addr));

    if b.orders {
        let mut cfg = match b.source {
            Source::Env => relais_orders::config_from_env()?,
            #[cfg(feature = "testing")]
            Source::Testing => relais_orders::OrdersConfig {
                platform: platform(&ns, &nats_url).await?,
                catalogue_addr: String::new(),
                planning_addr: String::new(),
            },
        };
        cfg.catalogue_addr = catalogue_url.clone().unwrap_or_default();
        cfg.planning_addr = planning_url.clone().unwrap_or_default();
        if let Some(f) = &b.platform_hook {
            f(&mut cfg.platform);
        }
        if let Some(hook) = b.orders_hook.take() {
            hook(&mut cfg);
        }
        let database_url = cfg.platform.database_url.clone();
        let app = relais_orders::App::build(cfg).await?;
        stack.orders = Some(Part {
            grpc_addr: app.grpc_addr(),
            admin_addr: app.admin_addr(),
            database_url,
            task: run(app.run(shutdown.clone())),
        });
    }
    let orders_url = stack.orders.as_ref().map(|p| url(p.grpc_addr));

    if b.billing {
        let mut cfg = match b.source {
            Source::Env => relais_billing::config_from_env()?,
            #[cfg(feature = "testing")]
            Source::Testing => {
                let provider: std::sync::Arc<dyn relais_billing::PaymentProvider> =
                    match b.provider.take() {
                        Some(p) => p,
                        None => {
                            let simulator = relais_billing::Simulator::new();
                            stack.simulator = Some(simulator.clone());
                            std::sync::Arc::new(simulator)
                        }
                    };
                relais_billing::BillingConfig::simulated(platform(&ns, &nats_url).await?, provider)
            }
        };
        if let Some(f) = &b.platform_hook {
            f(&mut cfg.platform);
        }
        if let Some(hook) = b.billing_hook.take() {
            hook(&mut cfg);
        }
        let database_url = cfg.platform.database_url.clone();
        let app = relais_billing::App::build(cfg).await?;
        stack.billing = Some(Part {
            grpc_addr: app.grpc_addr(),
            admin_addr: app.admin_addr(),
            database_url,
            task: run(app.run(shutdown.clone())),
        });
    }

    if b.erp {
        let mut cfg = match b.source {
            Source::Env => relais_reference_erp::Config::from_env()?,
            #[cfg(feature = "testing")]
            Source::Testing => relais_reference_erp::Config {
                database_url: relais_platform::testing::fresh_database().await?,
                db_password: relais_platform::testing::db_password(relais_reference_erp::SERVICE),
                addr: "127.0.0.1:0".parse()?,
                keys: relais_reference_erp::parse_keys(ERP_KEYS)?,
                token_ttl: std::time::Duration::from_secs(600),
                // Tests inject faults.
                faults: true,
            },
        };
        if let Some(hook) = b.erp_hook.take() {
            hook(&mut cfg);
        }
        let database_url = cfg.database_url.clone();
        let app = relais_reference_erp::App::build(cfg).await?;
        stack.erp = Some(Erp {
            addr: app.addr(),
            database_url,
            task: run(app.run(shutdown.clone())),
        });
    }

    if b.connector {
        let mut cfg = match b.source {
            Source::Env => relais_connector::config_from_env()?,
            #[cfg(feature = "testing")]
            Source::Testing => relais_connector::ConnectorConfig::quick(
                platform(&ns, &nats_url).await?,
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        // The connector reads and writes the shop through this stack's
        // services, wherever they bound.
        cfg.catalogue_addr = catalogue_url.clone().unwrap_or_default();
        cfg.orders_addr = orders_url.clone().unwrap_or_default();
        cfg.planning_addr = planning_url.clone().unwrap_or_default();
        if let Some(f) = &b.platform_hook {
            f(&mut cfg.platform);
        }
        if let Some(hook) = b.connector_hook.take() {
            hook(&mut cfg);
        }
        stack.connector_cfg = Some(cfg.clone());
        let stop = shutdown.child_token();
        stack.connector = Some(start_connector(cfg, stop.clone()).await?);
        stack.connector_stop = Some(stop);
    }

    // Last: the API calls the services started above, wherever they bound.
    if b.gateway {
        let mut cfg = match b.source {
            Source::Env => relais_gateway::config_from_env()?,
            #[cfg(feature = "testing")]
            Source::Testing => {
                let mut cfg = relais_gateway::GatewayConfig::new(platform(&ns, &nats_url).await?);
                cfg.http_addr = "127.0.0.1:0".parse()?;
                cfg
            }
        };
        let at = |p: &Option<Part>| p.as_ref().map(|p| url(p.grpc_addr)).unwrap_or_default();
        cfg.catalogue_addr = at(&stack.catalogue);
        cfg.orders_addr = at(&stack.orders);
        cfg.planning_addr = at(&stack.planning);
        cfg.billing_addr = at(&stack.billing);
        if stack.connector.is_some() {
            cfg.connector_addr = at(&stack.connector);
        }
        if let Some(f) = &b.platform_hook {
            f(&mut cfg.platform);
        }
        if let Some(hook) = b.gateway_hook.take() {
            hook(&mut cfg);
        }
        let app = relais_gateway::App::build(cfg).await?;
        stack.gateway = Some(Gateway {
            http_addr: app.http_addr(),
            admin_addr: app.admin_addr(),
            accounts: app.accounts(),
            task: run(app.run(shutdown.clone())),
        });
    }
    Ok(stack)
}

pub(crate) async fn start_connector(
    cfg: relais_connector::ConnectorConfig,
    stop: CancellationToken,
) -> anyhow::Result<Part> {
    let database_url = cfg.platform.database_url.clone();
    let app = relais_connector::App::build(cfg).await?;
    Ok(Part {
        grpc_addr: app.grpc_addr(),
        admin_addr: app.admin_addr(),
        database_url,
        task: run(app.run(stop)),
    })
}
