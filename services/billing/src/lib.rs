//! Billing service: invoices drafted from paid orders and residences'
//! months (it follows the orders stream) and from interventions done (it
//! follows planning's), numbered per tenant without gaps when validated,
//! each kept as a PDF and e-mailed; saved cards debited through the payment
//! provider; credit notes refunded; annual tax certificates. Every change emits an event through the outbox
//! (`<ns>.billing.v1.<tenant>.invoice.*`, `.payment.*`, `.credit_note.*`).

mod certificates;
mod config;
mod customers;
mod erp;
mod flows;
mod grpc;
mod invoices;
pub mod payments;
pub mod pdfs;
mod services;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::FutureExt;
use relais_platform::runtime::Runtime;
use relais_proto::billing::billing_service_server::BillingServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use config::{BillingConfig, config_from_env};
pub use payments::{
    PaymentsConfig,
    provider::{PaymentProvider, StripeProvider},
    simulator::Simulator,
};
pub use pdfs::Seller;

pub const SERVICE: &str = "billing";
pub const DEFAULT_GRPC_PORT: u16 = 50054;
pub const DEFAULT_ADMIN_PORT: u16 = 9104;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub struct App {
    runtime: Runtime,
    seller: Seller,
    payments: PaymentsConfig,
    close_months_every: Duration,
}

impl App {
    pub async fn build(cfg: BillingConfig) -> anyhow::Result<Self> {
        Ok(Self {
            // Invoices, credit notes and failed debits are e-mailed.
            runtime: Runtime::start(SERVICE, cfg.platform, &MIGRATIONS)
                .await?
                .with_mail(),
            seller: cfg.seller,
            payments: cfg.payments,
            close_months_every: cfg.close_months_every,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.runtime.grpc_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.runtime.admin_addr()
    }

    /// The service's pool (benchmarks seed and read through it).
    pub fn pool(&self) -> sqlx::PgPool {
        self.runtime.pool.clone()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let rt = &self.runtime;
        let api = grpc::BillingApi::new(
            rt.pool.clone(),
            rt.outbox.clone(),
            rt.ns.clone(),
            self.seller.clone(),
        );
        let service = InterceptedService::new(BillingServiceServer::new(api), rt.auth.clone());
        let max = rt.cfg.consumer_max_deliver;
        let paid_orders = rt.consumer(
            flows::paid_orders::spec(&rt.ns, max),
            Arc::new(flows::paid_orders::PaidOrders {
                ns: rt.ns.clone(),
                seller: self.seller.clone(),
            }),
        );
        let customers = rt.consumer(customers::spec(&rt.ns, max), Arc::new(customers::Customers));
        // Who may see which customer's records (relais_platform::access).
        let access = rt.consumer(
            relais_platform::access::replica_spec(SERVICE, &rt.ns, max),
            Arc::new(relais_platform::access::Replica),
        );
        let interventions = rt.consumer(
            services::spec(&rt.ns, max),
            Arc::new(services::Interventions),
        );
        let erp_documents = rt.consumer(
            erp::spec(&rt.ns, max),
            Arc::new(erp::ErpDocuments {
                ns: rt.ns.clone(),
                seller: self.seller.clone(),
            }),
        );
        let payments = payments::PaymentRunner {
            pool: rt.pool.clone(),
            outbox: rt.outbox.clone(),
            ns: rt.ns.clone(),
            cfg: self.payments.clone(),
            settle: flows::settle::InvoiceSettler,
        };
        let month_closer = services::MonthCloser {
            pool: rt.pool.clone(),
            outbox: rt.outbox.clone(),
            ns: rt.ns.clone(),
            every: self.close_months_every,
        };
        let tasks = vec![
            month_closer.run(shutdown.clone()).boxed(),
            paid_orders.run(shutdown.clone()).boxed(),
            customers.run(shutdown.clone()).boxed(),
            access.run(shutdown.clone()).boxed(),
            interventions.run(shutdown.clone()).boxed(),
            erp_documents.run(shutdown.clone()).boxed(),
            payments.run(shutdown.clone()).boxed(),
        ];
        self.runtime
            .serve(
                service,
                &[relais_proto::FILE_DESCRIPTOR_SET],
                tasks,
                shutdown,
            )
            .await
    }
}
