//! The whole stack for the connector's tests: catalogue, orders, planning,
//! the reference ERP and the connector, each on port 0, one namespace.
//! Here: the stack, its tokens, the ERP and the connector's runs, bindings
//! and conflicts; what the tests make in the shop is in `shop.rs`.

use std::time::Duration;

use relais_connector::{adapter::ErpRecord, reference_erp::ReferenceErpClient};
use relais_platform::{auth::Role, testing};
use relais_proto::{
    catalogue::catalogue_service_client::CatalogueServiceClient,
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, RunSyncRequest, RunSyncResponse,
        connector_service_client::ConnectorServiceClient,
    },
    orders::orders_service_client::OrdersServiceClient,
    planning::planning_service_client::PlanningServiceClient,
};
use serde_json::Value;
use tonic::transport::Channel;
use uuid::Uuid;

pub use relais_testkit::ERP_KEYS;

mod shop;

pub struct Stack {
    pub tenant: Uuid,
    pub orders: OrdersServiceClient<Channel>,
    pub catalogue: CatalogueServiceClient<Channel>,
    pub planning: PlanningServiceClient<Channel>,
    pub connector: ConnectorServiceClient<Channel>,
    pub billing: relais_proto::billing::billing_service_client::BillingServiceClient<Channel>,
    pub erp_base: String,
    /// The NATS namespace the stack's services share.
    pub ns: relais_platform::nats::Namespace,
    pub(super) kit: relais_testkit::Stack,
}

pub async fn spawn() -> Stack {
    spawn_with(|_| {}).await
}

/// The stack with the connector's settings changed by `configure`.
pub async fn spawn_with(
    configure: impl FnOnce(&mut relais_connector::ConnectorConfig) + Send + 'static,
) -> Stack {
    let kit = relais_testkit::Stack::builder()
        .all()
        .with_connector(configure)
        .spawn()
        .await
        .unwrap();
    Stack {
        tenant: kit.tenant,
        orders: kit.orders(),
        catalogue: kit.catalogue(),
        planning: kit.planning(),
        billing: kit.billing(),
        connector: kit.connector(),
        erp_base: kit.erp_base(),
        ns: kit.ns.clone(),
        kit,
    }
}

impl Stack {
    /// Starts the connector (again, after `stop_connector`), on a new port.
    pub async fn start_connector(&mut self) {
        self.kit.start_connector().await.unwrap();
        self.connector = self.kit.connector();
    }

    /// Stops the connector as a crash would leave things for the next one:
    /// whatever it was doing is cut short.
    pub fn stop_connector(&mut self) {
        self.kit.stop_connector();
    }

    /// The connector's database (its admin URL), to look at what it stores.
    pub fn connector_database_url(&self) -> String {
        self.kit.connector_config().platform.database_url.clone()
    }

    pub fn token(&self, role: Role) -> String {
        self.kit.token(role)
    }

    pub fn admin<T>(&self, msg: T) -> tonic::Request<T> {
        self.kit.admin(msg)
    }

    /// The ERP as the connector reaches it.
    pub fn erp(&self) -> ReferenceErpClient {
        self.kit.erp()
    }

    pub async fn faults(&self, faults: Value) {
        self.kit.faults(faults).await;
    }

    /// Every record of `object` in the ERP.
    pub async fn erp_records(&self, object: &str) -> Vec<ErpRecord> {
        self.kit.erp_records(object).await
    }

    /// Waits until the ERP holds `n` records of `object` that `check` accepts.
    pub async fn erp_eventually(
        &self,
        object: &str,
        n: usize,
        check: impl Fn(&ErpRecord) -> bool,
    ) -> Vec<ErpRecord> {
        self.kit.erp_eventually(object, n, check).await
    }

    pub async fn erp_within(
        &self,
        timeout: Duration,
        object: &str,
        n: usize,
        check: impl Fn(&ErpRecord) -> bool,
    ) -> Vec<ErpRecord> {
        self.kit.erp_within(timeout, object, n, check).await
    }

    /// A connection to the test ERP: customers, workers and bookings pushed;
    /// workers, the catalogue, invoices and certificates pulled.
    pub async fn connect(&self, policy: ConflictPolicy) -> String {
        let family = |f: &str, d: Direction| FamilySettings {
            family: f.into(),
            direction: d as i32,
            schedule: String::new(),
        };
        self.connector
            .clone()
            .create_connection(self.admin(CreateConnectionRequest {
                idempotency_key: "connect".into(),
                fields: Some(ConnectionFields {
                    name: "test-erp".into(),
                    adapter: AdapterKind::ReferenceErp as i32,
                    endpoint: self.erp_base.clone(),
                    secret_ref: String::new(),
                    secret: crate::stack::ERP_KEYS.into(),
                    families: vec![
                        family("customers", Direction::Both),
                        family("workers", Direction::Both),
                        family("bookings", Direction::Push),
                        family("catalogue", Direction::Pull),
                        family("invoices", Direction::Pull),
                        family("certificates", Direction::Pull),
                        family("planning", Direction::Both),
                    ],
                    order_statuses: vec![],
                    conflict_policy: policy as i32,
                    enabled: true,
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .connection
            .unwrap()
            .id
    }

    /// Runs a family now; every progress message, the last one finished.
    pub async fn sync(
        &self,
        connection: &str,
        family: &str,
        full: bool,
    ) -> Result<Vec<RunSyncResponse>, tonic::Status> {
        let mut stream = self
            .connector
            .clone()
            .run_sync(self.admin(RunSyncRequest {
                connection_id: connection.into(),
                family: family.into(),
                full,
            }))
            .await?
            .into_inner();
        let mut all = Vec::new();
        while let Some(m) = stream.message().await? {
            all.push(m);
        }
        Ok(all)
    }

    /// Runs a family now; the finished run.
    pub async fn run(&self, connection: &str, family: &str) -> relais_proto::connector::Run {
        let progress = self.sync(connection, family, false).await.unwrap();
        progress.last().unwrap().run.clone().unwrap()
    }

    /// Both sides compared under the connection's bindings (and repaired).
    pub async fn verify(
        &self,
        connection: &str,
        repair: bool,
    ) -> relais_proto::connector::VerifyReport {
        self.connector
            .clone()
            .verify(self.admin(relais_proto::connector::VerifyRequest {
                connection_id: connection.into(),
                repair,
            }))
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap()
    }

    /// The connection's conflicts (only those waiting for staff with `open_only`).
    pub async fn conflicts(
        &self,
        connection: &str,
        open_only: bool,
    ) -> Vec<relais_proto::connector::Conflict> {
        self.connector
            .clone()
            .list_conflicts(self.admin(relais_proto::connector::ListConflictsRequest {
                connection_id: connection.into(),
                open_only,
                // Every one the tests make.
                page: Some(relais_proto::types::PageRequest {
                    page_size: 500,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .conflicts
    }

    /// Waits until the connector has recorded each of `records` as the
    /// version it last wrote or read: an ERP edit made before that is
    /// indistinguishable from the connector's own write (the race the
    /// sync-fidelity work is about), not what these tests are for.
    pub async fn bound(&self, connection: &str, entity: &str, records: &[ErpRecord]) {
        self.kit.bound(connection, entity, records).await;
    }

    /// The first conflict waiting for staff, once there is one.
    pub async fn open_conflict(&self, connection: &str) -> relais_proto::connector::Conflict {
        testing::eventually(Duration::from_secs(15), || async {
            self.conflicts(connection, true).await.pop()
        })
        .await
        .expect("a conflict waits for staff")
    }
}

pub use relais_testkit::erp::{fields, text};
