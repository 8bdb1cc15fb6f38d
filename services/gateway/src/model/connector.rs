//! The connector's records as the office sees them: connections (their
//! credentials taken, never returned), runs, tariff mappings and verify
//! reports (what a sync leaves behind is in `sync_records`). Field names
//! are the connector's, so a field it refuses is named as the client sent
//! it.

use chrono::{DateTime, Utc};
use relais_proto::connector as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{page, pb_enum, some, time};

pb_enum!(
    /// The ERP's kind: the reference ERP, Tryton (JSON-RPC), or a CSV
    /// file exchange.
    Adapter from pb::AdapterKind {
        ReferenceErp = ReferenceErp,
        Tryton = Tryton,
        Csv = Csv,
    }
);

pb_enum!(
    /// Which way a family's data flows: `pull` ERP → shop, `push`
    /// shop → ERP.
    Direction from pb::Direction {
        Off = Off,
        Pull = Pull,
        Push = Push,
        Both = Both,
    }
);

pb_enum!(
    /// Who wins when a record changed on both sides: the ERP, the shop,
    /// or nobody until the office settles it (`manual`).
    ConflictPolicy from pb::ConflictPolicy {
        ErpWins = ErpWins,
        ShopWins = ShopWins,
        Manual = Manual,
    }
);

pb_enum!(
    /// How a product order in a status is sent to the ERP.
    SendAs from pb::SendAs {
        NotSent = NotSent,
        Quote = Quote,
        Order = Order,
    }
);

pb_enum!(
    /// Where a run is: `partial` finished with records that failed.
    RunStatus from pb::RunStatus {
        Running = Running,
        Succeeded = Succeeded,
        Partial = Partial,
        Failed = Failed,
    }
);

/// One data family's flow.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilySettings {
    /// customers, workers, bookings, planning, orders, catalogue,
    /// invoices or certificates.
    #[schema(example = "customers")]
    pub family: String,
    pub direction: Direction,
    /// When pulls run: five cron fields in UTC (`0 2 * * *` nightly);
    /// empty or absent: only when run now.
    #[serde(default)]
    #[schema(example = "0 2 * * *")]
    pub schedule: String,
}

/// How product orders in one status are sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusRule {
    /// paid, validated or cancelled.
    #[schema(example = "paid")]
    pub status: String,
    pub send_as: SendAs,
}

fn yes() -> bool {
    true
}

/// A connection's settings as the office gives them (creating, or
/// replacing them all).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    /// Replacing only: the version the office saw, refused (409) if the
    /// connection changed since; 0 or absent: whatever it is now.
    /// Ignored when creating.
    #[serde(default)]
    pub expected_version: i64,
    /// Short name, unique in the tenant (letters, digits, `-`, `_`): the
    /// ERP's changes carry the origin `erp:<name>`. It cannot change.
    #[schema(example = "erp-lyon")]
    pub name: String,
    /// It cannot change.
    pub adapter: Adapter,
    /// Base URL (reference ERP; Tryton with its database as the path) or
    /// `file:///` folder (CSV).
    #[schema(example = "https://erp.example.org")]
    pub endpoint: String,
    /// The name of credentials kept in the tenant's namespace of the
    /// deployment's secrets, instead of `secret`.
    #[serde(default)]
    pub secret_ref: String,
    /// The credentials themselves (reference ERP `public:private`, Tryton
    /// `login:password`, CSV none), stored sealed and never returned;
    /// empty or absent when replacing keeps the stored ones.
    #[serde(default)]
    #[schema(write_only)]
    pub secret: String,
    #[serde(default)]
    pub families: Vec<FamilySettings>,
    #[serde(default)]
    pub order_statuses: Vec<OrderStatusRule>,
    /// Absent: `erp_wins`.
    #[serde(default)]
    pub conflict_policy: Option<ConflictPolicy>,
    /// Absent: true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl ConnectionBody {
    pub fn fields(self) -> pb::ConnectionFields {
        pb::ConnectionFields {
            name: self.name,
            adapter: self.adapter.into_pb(),
            endpoint: self.endpoint,
            secret_ref: self.secret_ref,
            families: self
                .families
                .into_iter()
                .map(|f| pb::FamilySettings {
                    family: f.family,
                    direction: f.direction.into_pb(),
                    schedule: f.schedule,
                })
                .collect(),
            order_statuses: self
                .order_statuses
                .into_iter()
                .map(|r| pb::OrderStatusRule {
                    status: r.status,
                    send_as: r.send_as.into_pb(),
                })
                .collect(),
            conflict_policy: self.conflict_policy.map_or(0, ConflictPolicy::into_pb),
            enabled: self.enabled,
            secret: self.secret,
        }
    }
}

/// A connection to an ERP. Its credentials are never shown: only whether
/// some are stored (`has_secret`) or the name they are kept under
/// (`secret_ref`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub adapter: Adapter,
    pub endpoint: String,
    pub secret_ref: Option<String>,
    pub has_secret: bool,
    pub families: Vec<FamilySettings>,
    pub order_statuses: Vec<OrderStatusRule>,
    pub conflict_policy: ConflictPolicy,
    pub enabled: bool,
    pub version: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Connection> for Connection {
    fn from(c: pb::Connection) -> Self {
        // The fields' `secret` is dropped here whatever the connector
        // sends: credentials never leave through the API.
        let f = c.fields.unwrap_or_default();
        Self {
            id: c.id,
            name: f.name,
            adapter: Adapter::from_pb(f.adapter),
            endpoint: f.endpoint,
            secret_ref: some(f.secret_ref),
            has_secret: c.has_secret,
            families: f
                .families
                .into_iter()
                .map(|f| FamilySettings {
                    family: f.family,
                    direction: Direction::from_pb(f.direction),
                    schedule: f.schedule,
                })
                .collect(),
            order_statuses: f
                .order_statuses
                .into_iter()
                .map(|r| OrderStatusRule {
                    status: r.status,
                    send_as: SendAs::from_pb(r.send_as),
                })
                .collect(),
            conflict_policy: ConflictPolicy::from_pb(f.conflict_policy),
            enabled: f.enabled,
            version: c.version,
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

/// The tenant's connections.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    pub items: Vec<Connection>,
}

/// What to run now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSyncBody {
    /// The family whose flow runs: workers, customers, catalogue, orders,
    /// planning, invoices, certificates (pulls); customers, workers (the
    /// batch transfer with `full`).
    #[schema(example = "customers")]
    pub family: String,
    /// Everything, not only what changed since the last run; for a push
    /// family, every shop record sent.
    #[serde(default)]
    pub full: bool,
}

/// A sync run: a pull from the ERP, a batch transfer, or a verify.
#[derive(Debug, Serialize, ToSchema)]
pub struct Run {
    pub id: String,
    pub connection_id: String,
    pub family: String,
    /// manual or schedule.
    pub trigger: String,
    pub status: RunStatus,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// Records applied (created or changed).
    pub applied: i64,
    /// Records already in step.
    pub skipped: i64,
    /// Records that cannot be applied yet (their customer not bound),
    /// tried again at each run.
    pub parked: i64,
    /// One line per failed record or for the run itself.
    pub errors: Vec<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: i64,
}

impl From<pb::Run> for Run {
    fn from(r: pb::Run) -> Self {
        Self {
            id: r.id,
            connection_id: r.connection_id,
            family: r.family,
            trigger: r.trigger,
            status: RunStatus::from_pb(r.status),
            total: r.total,
            done: r.done,
            failed: r.failed,
            applied: r.applied,
            skipped: r.skipped,
            parked: r.parked,
            errors: r.errors,
            started_at: time(r.started_at),
            finished_at: time(r.finished_at),
            duration_ms: r.duration_ms,
        }
    }
}

page!(
    /// A page of runs, newest first.
    RunPage of Run
);

/// A shop service ↔ an ERP tariff.
#[derive(Debug, Serialize, ToSchema)]
pub struct TariffMapping {
    pub service_id: String,
    pub tariff_id: String,
}

/// A connection's tariff mappings.
#[derive(Debug, Serialize, ToSchema)]
pub struct TariffMappingList {
    pub items: Vec<TariffMapping>,
}

/// The ERP tariff a service maps to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffBody {
    /// The ERP tariff's id.
    #[schema(example = "T-MENAGE")]
    pub tariff_id: String,
}

/// What verify does.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// Settle each difference found, as a sync would (under `manual`, a
    /// conflict for the office).
    #[serde(default)]
    pub repair: bool,
}

/// One record that drifted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Drift {
    pub entity: String,
    pub internal_id: String,
    pub external_id: String,
    /// differs, missing_in_erp, missing_in_shop, duplicate.
    pub kind: String,
    pub fields: Vec<String>,
    pub repaired: bool,
}

/// Both sides compared under a connection's bindings.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyReport {
    pub connection_id: String,
    pub compared: i64,
    pub differing: i64,
    pub missing_in_erp: i64,
    pub missing_in_shop: i64,
    pub duplicates: i64,
    pub repaired: i64,
    /// Records held for the office (an open manual conflict).
    pub held: i64,
    pub drifts: Vec<Drift>,
    pub checked_at: Option<DateTime<Utc>>,
}

impl From<pb::VerifyReport> for VerifyReport {
    fn from(r: pb::VerifyReport) -> Self {
        Self {
            connection_id: r.connection_id,
            compared: r.compared,
            differing: r.differing,
            missing_in_erp: r.missing_in_erp,
            missing_in_shop: r.missing_in_shop,
            duplicates: r.duplicates,
            repaired: r.repaired,
            held: r.held,
            drifts: r
                .drifts
                .into_iter()
                .map(|d| Drift {
                    entity: d.entity,
                    internal_id: d.internal_id,
                    external_id: d.external_id,
                    kind: d.kind,
                    fields: d.fields,
                    repaired: d.repaired,
                })
                .collect(),
            checked_at: time(r.checked_at),
        }
    }
}
