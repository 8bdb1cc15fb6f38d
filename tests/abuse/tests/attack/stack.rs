//! The whole stack in this process, each service on port 0, one NATS
//! namespace (`relais_testkit`), keeping each service's channel, since calls here are made dynamically
//! by the service's full name rather than through generated clients.

use std::collections::HashMap;

use tonic::transport::Channel;

pub use relais_testkit::ERP_KEYS;

pub struct Stack {
    /// Keyed by the gRPC service's full name, e.g. `relais.orders.v1.OrdersService`.
    pub channels: HashMap<String, Channel>,
    pub erp_base: String,
    _kit: relais_testkit::Stack,
}

pub async fn spawn() -> Stack {
    let kit = relais_testkit::Stack::builder()
        .all()
        // The attacker suite attacks the services, not the ERP's test hook.
        .with_erp(|cfg| cfg.faults = false)
        .spawn()
        .await
        .unwrap();
    let channels = [
        ("relais.catalogue.v1.CatalogueService", kit.catalogue_part()),
        ("relais.orders.v1.OrdersService", kit.orders_part()),
        ("relais.planning.v1.PlanningService", kit.planning_part()),
        ("relais.billing.v1.BillingService", kit.billing_part()),
        ("relais.connector.v1.ConnectorService", kit.connector_part()),
        // Served by every service beside its API, written once: attacked
        // on billing's, whose consumers hold the most tenants' events.
        ("relais.messaging.v1.MessagingService", kit.billing_part()),
    ]
    .into_iter()
    .map(|(name, part)| (name.to_owned(), relais_testkit::channel(part.grpc_addr)))
    .collect();
    Stack {
        channels,
        erp_base: kit.erp_base(),
        _kit: kit,
    }
}
