//! Billing's test stack: billing with the real orders, catalogue and
//! planning services (the testkit), its payment provider and mail folder;
//! the tokens its tests call with.

use relais_platform::{
    auth::{Claims, Role},
    testing::with_token,
};
use relais_proto::{
    billing::billing_service_client::BillingServiceClient,
    catalogue::catalogue_service_client::CatalogueServiceClient,
    orders::orders_service_client::OrdersServiceClient,
};
use tonic::transport::Channel;
use uuid::Uuid;

pub(crate) struct Stack {
    pub tenant: Uuid,
    pub orders: OrdersServiceClient<Channel>,
    pub catalogue: CatalogueServiceClient<Channel>,
    pub billing: BillingServiceClient<Channel>,
    pub planning: relais_proto::planning::planning_service_client::PlanningServiceClient<Channel>,
    pub js: async_nats::jetstream::Context,
    pub ns: relais_platform::nats::Namespace,
    /// Where the service writes the mails it sends.
    pub mail_dir: std::path::PathBuf,
    /// The payment provider behind billing (in process unless `spawn_with`
    /// was given another).
    pub provider: relais_billing::Simulator,
    kit: relais_testkit::Stack,
}

pub(crate) async fn spawn() -> Stack {
    spawn_with(None).await
}

/// The stack with billing's mail sent to `smtp` (a URL) instead of the
/// folder.
pub(crate) async fn spawn_with(smtp: Option<String>) -> Stack {
    let simulator = relais_billing::Simulator::new();
    let provider: std::sync::Arc<dyn relais_billing::PaymentProvider> =
        std::sync::Arc::new(simulator.clone());
    let (mail_dir_tx, mail_dir) = std::sync::mpsc::channel();
    let kit = relais_testkit::Stack::builder()
        .orders()
        .payment_provider(provider)
        .with_billing(move |cfg| {
            cfg.platform.mail.smtp_url = smtp;
            let _ = mail_dir_tx.send(cfg.platform.mail.dir.clone());
        })
        .spawn()
        .await
        .unwrap();
    Stack {
        tenant: kit.tenant,
        orders: kit.orders(),
        catalogue: kit.catalogue(),
        billing: kit.billing(),
        planning: kit.planning(),
        js: kit.jetstream().await,
        ns: kit.ns.clone(),
        mail_dir: mail_dir.recv().unwrap(),
        provider: simulator,
        kit,
    }
}

impl Stack {
    pub fn token(&self, role: Role, customer: Option<Uuid>) -> String {
        relais_testkit::sign(&Claims {
            customer_id: customer,
            ..self.kit.claims(role)
        })
    }

    pub fn admin<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(&self.token(Role::Admin, None), msg)
    }

    /// A request as the connector sends it (a connector token).
    pub(crate) fn connector<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(
            &relais_testkit::sign(&Claims {
                sub: "connector".into(),
                connection: Some("demo-erp".into()),
                ..self.kit.claims(Role::Connector)
            }),
            msg,
        )
    }
}
