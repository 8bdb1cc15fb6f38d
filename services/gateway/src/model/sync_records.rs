//! What a connection's syncs leave, as the office sees it: the bindings of
//! shop records to ERP records, the ERP writes given up (dead letters),
//! and the conflicts with how to settle them. Field names are the
//! connector's.

use chrono::{DateTime, Utc};
use relais_proto::connector as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{connector::ConflictPolicy, page, some, time};

/// A shop record tied to its ERP counterpart.
#[derive(Debug, Serialize, ToSchema)]
pub struct Binding {
    /// customer, worker, quote, intervention, tariff...
    pub entity: String,
    pub internal_id: String,
    pub external_id: String,
    pub shop_version: i64,
    pub erp_version: i64,
    pub synced_at: Option<DateTime<Utc>>,
}

impl From<pb::Binding> for Binding {
    fn from(b: pb::Binding) -> Self {
        Self {
            entity: b.entity,
            internal_id: b.internal_id,
            external_id: b.external_id,
            shop_version: b.shop_version,
            erp_version: b.erp_version,
            synced_at: time(b.synced_at),
        }
    }
}

page!(
    /// A page of a connection's bindings, by entity then shop id.
    BindingPage of Binding
);

/// A write to the ERP given up after its last attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetter {
    pub id: String,
    pub connection_id: String,
    pub entity: String,
    pub internal_id: String,
    pub attempts: i32,
    pub error: String,
    pub failed_at: Option<DateTime<Utc>>,
}

impl From<pb::DeadLetter> for DeadLetter {
    fn from(d: pb::DeadLetter) -> Self {
        Self {
            id: d.id,
            connection_id: d.connection_id,
            entity: d.entity,
            internal_id: d.internal_id,
            attempts: d.attempts,
            error: d.error,
            failed_at: time(d.failed_at),
        }
    }
}

page!(
    /// A page of a connection's dead letters, oldest first.
    DeadLetterPage of DeadLetter
);

/// One field of a conflict, values as JSON text as the ERP shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldValues {
    pub field: String,
    pub shop: String,
    pub erp: String,
    /// What both sides last held; null when unknown.
    pub agreed: Option<String>,
}

/// A record changed on both sides (or an ERP edit written over).
#[derive(Debug, Serialize, ToSchema)]
pub struct Conflict {
    pub id: String,
    pub connection_id: String,
    /// conflict, or erp_overwritten (an ERP edit of a record the shop
    /// owns, written back over).
    pub kind: String,
    pub entity: String,
    pub internal_id: String,
    pub external_id: String,
    pub policy: ConflictPolicy,
    /// erp or shop; null while it waits for the office.
    pub winner: Option<String>,
    /// The domain rule that decided it, if one did.
    pub rule: Option<String>,
    pub values: Vec<FieldValues>,
    pub shop_version: i64,
    pub erp_version: i64,
    pub detected_at: Option<DateTime<Utc>>,
    /// Who settled it, when the office did.
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<pb::Conflict> for Conflict {
    fn from(c: pb::Conflict) -> Self {
        Self {
            id: c.id,
            connection_id: c.connection_id,
            kind: c.kind,
            entity: c.entity,
            internal_id: c.internal_id,
            external_id: c.external_id,
            policy: ConflictPolicy::from_pb(c.policy),
            winner: some(c.winner),
            rule: some(c.rule),
            values: c
                .values
                .into_iter()
                .map(|v| FieldValues {
                    field: v.field,
                    shop: v.shop,
                    erp: v.erp,
                    agreed: some(v.agreed),
                })
                .collect(),
            shop_version: c.shop_version,
            erp_version: c.erp_version,
            detected_at: time(c.detected_at),
            resolved_by: some(c.resolved_by),
            resolved_at: time(c.resolved_at),
        }
    }
}

page!(
    /// A page of a connection's conflicts, newest first.
    ConflictPage of Conflict
);

/// The side whose version both sides keep.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Shop,
    Erp,
}

/// How the office settles a conflict.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    pub winner: Side,
}

impl Side {
    pub fn into_pb(self) -> i32 {
        match self {
            Side::Shop => pb::ConflictSide::Shop as i32,
            Side::Erp => pb::ConflictSide::Erp as i32,
        }
    }
}
