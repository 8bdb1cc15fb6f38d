//! The whole stack in this process, each service on port 0, one NATS
//! namespace: as `services/connector/tests/api/stack.rs` starts it, but
//! keeping each service's channel, since calls here are made dynamically
//! by the service's full name rather than through generated clients.

use std::{collections::HashMap, sync::Arc, time::Duration};

use relais_platform::testing;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The reference ERP's `public:private` key pair, and the variable the
/// connection names for it.
pub const ERP_KEYS: &str = "conn-pub:conn-secret";

pub struct Stack {
    /// Keyed by the gRPC service's full name, e.g. `relais.orders.v1.OrdersService`.
    pub channels: HashMap<String, Channel>,
    pub erp_base: String,
    shutdown: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

pub async fn spawn() -> Stack {
    testing::init_logging();
    let shutdown = CancellationToken::new();
    let url = testing::nats_url();
    let connector_cfg = testing::config(&url).await.unwrap();
    let ns = connector_cfg.namespace.clone();
    let config = || async {
        let mut cfg = testing::config(&url).await.unwrap();
        cfg.namespace = ns.clone();
        cfg
    };
    let billing = relais_billing::App::build(relais_billing::BillingConfig::simulated(
        config().await,
        Arc::new(relais_billing::Simulator::new()),
    ))
    .await
    .unwrap();
    let billing_addr = billing.grpc_addr();
    tokio::spawn(billing.run(shutdown.clone()));
    let catalogue = relais_catalogue::App::build(config().await).await.unwrap();
    let catalogue_addr = catalogue.grpc_addr();
    tokio::spawn(catalogue.run(shutdown.clone()));
    let planning = relais_planning::App::build(relais_planning::PlanningConfig {
        platform: config().await,
        catalogue_addr: format!("http://{catalogue_addr}"),
    })
    .await
    .unwrap();
    let planning_addr = planning.grpc_addr();
    tokio::spawn(planning.run(shutdown.clone()));
    let orders = relais_orders::App::build(relais_orders::OrdersConfig {
        platform: config().await,
        catalogue_addr: format!("http://{catalogue_addr}"),
        planning_addr: format!("http://{planning_addr}"),
    })
    .await
    .unwrap();
    let orders_addr = orders.grpc_addr();
    tokio::spawn(orders.run(shutdown.clone()));
    let erp = relais_reference_erp::App::build(relais_reference_erp::Config {
        database_url: testing::fresh_database().await.unwrap(),
        db_password: testing::db_password(relais_reference_erp::SERVICE),
        addr: "127.0.0.1:0".parse().unwrap(),
        keys: relais_reference_erp::parse_keys(ERP_KEYS).unwrap(),
        token_ttl: Duration::from_secs(600),
        // The attacker suite attacks the services, not the ERP's test hook.
        faults: false,
    })
    .await
    .unwrap();
    let erp_base = format!("http://{}", erp.addr());
    tokio::spawn(erp.run(shutdown.clone()));
    let cfg = relais_connector::ConnectorConfig::quick(
        connector_cfg,
        format!("http://{catalogue_addr}"),
        format!("http://{orders_addr}"),
        format!("http://{planning_addr}"),
    );
    let connector = relais_connector::App::build(cfg).await.unwrap();
    let connector_addr = connector.grpc_addr();
    tokio::spawn(connector.run(shutdown.clone()));
    let channels = [
        ("relais.catalogue.v1.CatalogueService", catalogue_addr),
        ("relais.orders.v1.OrdersService", orders_addr),
        ("relais.planning.v1.PlanningService", planning_addr),
        ("relais.billing.v1.BillingService", billing_addr),
        ("relais.connector.v1.ConnectorService", connector_addr),
    ]
    .into_iter()
    .map(|(name, addr)| (name.to_owned(), channel(addr)))
    .collect();
    Stack {
        channels,
        erp_base,
        shutdown,
    }
}
