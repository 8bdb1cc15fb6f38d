//! The one place the Relais stack is started in one process: the tests
//! (every service's, the end-to-end ones in `tests/`, the attacker's),
//! `relais dev` and the benchmarks all ask it for the parts they need.
//!
//! ```ignore
//! let stack = Stack::builder().orders().billing().erp().spawn().await?;
//! let mut orders = stack.orders();
//! ```
//!
//! A part brings what it needs: orders starts the catalogue and planning
//! (it prices from one and asks the other about workers), planning the
//! catalogue (skills), the connector the three shop services, the gateway
//! orders and billing (its routes call them). They start in
//! that order (catalogue, planning, orders, billing, reference ERP,
//! connector, gateway), each told where the others bound, all in one NATS namespace
//! as in a deployment. With `Source::Testing` (the default) each part gets a
//! fresh database and port 0; `relais dev` uses `Source::Env` and each
//! service's settings from the environment. Production runs each service's
//! own binary and never this crate.

mod parts;

use std::{net::SocketAddr, sync::Arc};

use relais_platform::nats::Namespace;
use relais_proto::{
    billing::billing_service_client::BillingServiceClient,
    catalogue::catalogue_service_client::CatalogueServiceClient,
    connector::connector_service_client::ConnectorServiceClient,
    orders::orders_service_client::OrdersServiceClient,
    planning::planning_service_client::PlanningServiceClient,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

pub use parts::{ERP_KEYS, Source};

type Hook<T> = Box<dyn FnOnce(&mut T) + Send>;
/// What every service's platform settings get (the same for each).
type PlatformHook = Box<dyn Fn(&mut relais_platform::config::PlatformConfig) + Send>;

/// Which parts to start, from where their settings come, and what to
/// change in each before it is built.
pub struct StackBuilder {
    source: Source,
    nats_url: Option<String>,
    namespace: Option<String>,
    catalogue: bool,
    planning: bool,
    orders: bool,
    billing: bool,
    erp: bool,
    connector: bool,
    gateway: bool,
    shutdown: CancellationToken,
    provider: Option<Arc<dyn relais_billing::PaymentProvider>>,
    platform_hook: Option<PlatformHook>,
    catalogue_hook: Option<Hook<relais_platform::config::PlatformConfig>>,
    planning_hook: Option<Hook<relais_planning::PlanningConfig>>,
    orders_hook: Option<Hook<relais_orders::OrdersConfig>>,
    billing_hook: Option<Hook<relais_billing::BillingConfig>>,
    erp_hook: Option<Hook<relais_reference_erp::Config>>,
    connector_hook: Option<Hook<relais_connector::ConnectorConfig>>,
    gateway_hook: Option<Hook<relais_gateway::GatewayConfig>>,
}

/// A started service: where it listens, its database, its task.
pub struct Part {
    pub grpc_addr: SocketAddr,
    /// `/livez`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    /// The URL the service was given (its owner's, before it provisions
    /// its own role), to look at what it stores.
    pub database_url: String,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The started parts. Dropping it stops them all.
pub struct Stack {
    /// A tenant no other stack uses (test sources), for the caller's data.
    pub tenant: Uuid,
    pub ns: Namespace,
    pub nats_url: String,
    catalogue: Option<Part>,
    planning: Option<Part>,
    orders: Option<Part>,
    billing: Option<Part>,
    connector: Option<Part>,
    erp: Option<parts::Erp>,
    gateway: Option<parts::Gateway>,
    /// The in-process payment simulator behind billing, unless the builder
    /// was given another provider.
    simulator: Option<relais_billing::Simulator>,
    connector_cfg: Option<relais_connector::ConnectorConfig>,
    connector_stop: Option<CancellationToken>,
    shutdown: CancellationToken,
}

impl Stack {
    pub fn builder() -> StackBuilder {
        StackBuilder {
            source: Source::default(),
            nats_url: None,
            namespace: None,
            catalogue: false,
            planning: false,
            orders: false,
            billing: false,
            erp: false,
            connector: false,
            gateway: false,
            shutdown: CancellationToken::new(),
            provider: None,
            platform_hook: None,
            catalogue_hook: None,
            planning_hook: None,
            orders_hook: None,
            billing_hook: None,
            erp_hook: None,
            connector_hook: None,
            gateway_hook: None,
        }
    }
}

impl StackBuilder {
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Another NATS server than the source's (a private one a test can
    /// kill).
    pub fn nats_url(mut self, url: impl Into<String>) -> Self {
        self.nats_url = Some(url.into());
        self
    }

    /// Joins an existing namespace (a service the caller starts itself,
    /// e.g. the one a benchmark measures, round after round).
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Stops the stack when `token` is cancelled (`relais dev`: on a signal).
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    pub fn catalogue(mut self) -> Self {
        self.catalogue = true;
        self
    }

    pub fn planning(mut self) -> Self {
        self.planning = true;
        self.catalogue()
    }

    pub fn orders(mut self) -> Self {
        self.orders = true;
        self.planning()
    }

    pub fn billing(mut self) -> Self {
        self.billing = true;
        self
    }

    /// The reference ERP (`fakes/reference-erp`).
    pub fn erp(mut self) -> Self {
        self.erp = true;
        self
    }

    /// The connector, and the shop services it reads and writes.
    pub fn connector(mut self) -> Self {
        self.connector = true;
        self.orders()
    }

    /// The gateway (the public HTTP API), and the services its routes
    /// call: orders (with the catalogue and planning) and billing.
    pub fn gateway(mut self) -> Self {
        self.gateway = true;
        self.orders().billing()
    }

    /// Every service and the reference ERP (`relais dev` adds the
    /// gateway).
    pub fn all(self) -> Self {
        self.connector().billing().erp()
    }

    /// Billing's payment provider (the in-process simulator otherwise).
    pub fn payment_provider(mut self, p: Arc<dyn relais_billing::PaymentProvider>) -> Self {
        self.provider = Some(p);
        self
    }

    /// Changes every service's platform settings the same way, before
    /// each service's own hook: e.g. `stream_replicas` for a JetStream
    /// cluster, or production's `consumer_max_deliver`.
    pub fn with_platform(
        mut self,
        f: impl Fn(&mut relais_platform::config::PlatformConfig) + Send + 'static,
    ) -> Self {
        self.platform_hook = Some(Box::new(f));
        self
    }

    pub fn with_catalogue(
        mut self,
        f: impl FnOnce(&mut relais_platform::config::PlatformConfig) + Send + 'static,
    ) -> Self {
        self.catalogue_hook = Some(Box::new(f));
        self.catalogue()
    }

    pub fn with_planning(
        mut self,
        f: impl FnOnce(&mut relais_planning::PlanningConfig) + Send + 'static,
    ) -> Self {
        self.planning_hook = Some(Box::new(f));
        self.planning()
    }

    pub fn with_orders(
        mut self,
        f: impl FnOnce(&mut relais_orders::OrdersConfig) + Send + 'static,
    ) -> Self {
        self.orders_hook = Some(Box::new(f));
        self.orders()
    }

    pub fn with_billing(
        mut self,
        f: impl FnOnce(&mut relais_billing::BillingConfig) + Send + 'static,
    ) -> Self {
        self.billing_hook = Some(Box::new(f));
        self.billing()
    }

    pub fn with_erp(
        mut self,
        f: impl FnOnce(&mut relais_reference_erp::Config) + Send + 'static,
    ) -> Self {
        self.erp_hook = Some(Box::new(f));
        self.erp()
    }

    pub fn with_connector(
        mut self,
        f: impl FnOnce(&mut relais_connector::ConnectorConfig) + Send + 'static,
    ) -> Self {
        self.connector_hook = Some(Box::new(f));
        self.connector()
    }

    pub fn with_gateway(
        mut self,
        f: impl FnOnce(&mut relais_gateway::GatewayConfig) + Send + 'static,
    ) -> Self {
        self.gateway_hook = Some(Box::new(f));
        self.gateway()
    }

    /// Builds and starts the parts asked for, in dependency order.
    pub async fn spawn(self) -> anyhow::Result<Stack> {
        parts::spawn(self).await
    }
}

fn started<'a>(part: &'a Option<Part>, name: &str) -> &'a Part {
    part.as_ref().unwrap_or_else(|| panic!("{}", missing(name)))
}

fn missing(part: &str) -> String {
    format!("this stack was built without {part}: add .{part}() to its builder")
}

impl Stack {
    pub fn catalogue_part(&self) -> &Part {
        started(&self.catalogue, "catalogue")
    }

    pub fn planning_part(&self) -> &Part {
        started(&self.planning, "planning")
    }

    pub fn orders_part(&self) -> &Part {
        started(&self.orders, "orders")
    }

    pub fn billing_part(&self) -> &Part {
        started(&self.billing, "billing")
    }

    pub fn connector_part(&self) -> &Part {
        started(&self.connector, "connector")
    }

    pub fn catalogue(&self) -> CatalogueServiceClient<Channel> {
        CatalogueServiceClient::new(channel(self.catalogue_part().grpc_addr))
    }

    pub fn planning(&self) -> PlanningServiceClient<Channel> {
        PlanningServiceClient::new(channel(self.planning_part().grpc_addr))
    }

    pub fn orders(&self) -> OrdersServiceClient<Channel> {
        OrdersServiceClient::new(channel(self.orders_part().grpc_addr))
    }

    pub fn billing(&self) -> BillingServiceClient<Channel> {
        BillingServiceClient::new(channel(self.billing_part().grpc_addr))
    }

    pub fn connector(&self) -> ConnectorServiceClient<Channel> {
        ConnectorServiceClient::new(channel(self.connector_part().grpc_addr))
    }

    /// The reference ERP's base URL (`http://host:port`).
    pub fn erp_base(&self) -> String {
        let erp = self
            .erp
            .as_ref()
            .unwrap_or_else(|| panic!("{}", missing("erp")));
        format!("http://{}", erp.addr)
    }

    pub fn erp_database_url(&self) -> String {
        let erp = self
            .erp
            .as_ref()
            .unwrap_or_else(|| panic!("{}", missing("erp")));
        erp.database_url.clone()
    }

    /// The gateway's base URL (`http://127.0.0.1:PORT`), where the public
    /// API, `/openapi.json` and `/docs` are served.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_part().http_addr)
    }

    /// The gateway's admin address (`/livez`, `/readyz`, `/metrics`).
    pub fn gateway_admin_addr(&self) -> SocketAddr {
        self.gateway_part().admin_addr
    }

    /// The gateway's accounts: the demo's are made there (`relais dev`).
    pub fn gateway_accounts(&self) -> &relais_gateway::accounts::Accounts {
        &self.gateway_part().accounts
    }

    fn gateway_part(&self) -> &parts::Gateway {
        self.gateway
            .as_ref()
            .unwrap_or_else(|| panic!("{}", missing("gateway")))
    }

    /// The payment simulator billing calls in process.
    pub fn simulator(&self) -> relais_billing::Simulator {
        self.simulator
            .clone()
            .unwrap_or_else(|| panic!("billing was given another payment provider"))
    }

    /// Stops the connector as a crash would leave things for the next one:
    /// whatever it was doing is cut short.
    pub fn stop_connector(&mut self) {
        if let Some(stop) = self.connector_stop.take() {
            stop.cancel();
        }
    }

    /// Starts the connector (again, after `stop_connector`) on new ports,
    /// with the settings it was first built with.
    pub async fn start_connector(&mut self) -> anyhow::Result<()> {
        let Some(mut cfg) = self.connector_cfg.clone() else {
            anyhow::bail!("{}", missing("connector"));
        };
        cfg.platform.grpc_addr = "127.0.0.1:0".parse()?;
        cfg.platform.admin_addr = "127.0.0.1:0".parse()?;
        let stop = self.shutdown.child_token();
        let part = parts::start_connector(cfg, stop.clone()).await?;
        self.connector = Some(part);
        self.connector_stop = Some(stop);
        Ok(())
    }

    /// The connector's settings as it was started.
    pub fn connector_config(&self) -> &relais_connector::ConnectorConfig {
        self.connector_cfg
            .as_ref()
            .unwrap_or_else(|| panic!("{}", missing("connector")))
    }

    /// Cancels every part.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Waits until every part has stopped (after the shutdown token is
    /// cancelled): the first error any of them returned.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut first = Ok(());
        let tasks = [
            self.gateway.take().map(|g| g.task),
            self.erp.take().map(|e| e.task),
            self.connector.take().map(|p| p.task),
            self.catalogue.take().map(|p| p.task),
            self.orders.take().map(|p| p.task),
            self.planning.take().map(|p| p.task),
            self.billing.take().map(|p| p.task),
        ];
        for task in tasks.into_iter().flatten() {
            let result = task.await.map_err(anyhow::Error::from).and_then(|r| r);
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A client channel to a part, connected on first use.
pub fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{addr}: {e}"))
        .connect_lazy()
}

#[cfg(feature = "testing")]
pub mod erp;
#[cfg(feature = "testing")]
pub mod reading;
#[cfg(feature = "testing")]
mod shop;
#[cfg(feature = "testing")]
pub use shop::erp_invoice;
#[cfg(feature = "testing")]
mod testing;
#[cfg(feature = "testing")]
pub use testing::*;
