//! The invariants (numbered as in the model's top comment), checked on the
//! final state: 1-1c in `agree.rs`, 2/2r in `lost.rs`, 2b/2c in
//! `conflicts.rs`, 3-4 in `counts.rs`, 5 (Verify) here; 6 (staff settle)
//! is `settle.rs`. Also the helpers reading a conflict.

mod agree;
mod conflicts;
mod counts;
mod lost;

use relais_proto::connector::{Conflict, VerifyRequest};
use serde_json::Value;

use super::{
    case::{Field, Rec},
    world::{Snapshot, World},
};

/// A broken rule: which invariant, and what was seen.
#[derive(Clone, Debug)]
pub(super) struct Violation {
    pub(super) invariant: &'static str,
    pub(super) what: String,
}

/// A conflict's value as text (values are JSON text, as the ERP shows them).
pub(super) fn plain(v: &str) -> String {
    match serde_json::from_str::<Value>(v) {
        Ok(Value::String(s)) => s,
        _ => v.to_owned(),
    }
}

pub(super) fn listed(c: &Conflict) -> Vec<&str> {
    c.values.iter().map(|v| v.field.as_str()).collect()
}

/// The model's field of `rec` a conflict's field names, if it is one.
pub(super) fn field_of(rec: Rec, name: &str) -> Option<Field> {
    rec.fields().iter().copied().find(|f| f.erp() == name)
}

/// Held for staff by a domain rule (any policy), not by the manual policy.
pub(super) fn raised(c: &Conflict) -> bool {
    !c.rule.is_empty() && c.winner.is_empty()
}

/// The invariants, on the final state.
pub(super) async fn check(world: &World, s: &Snapshot, conflicts: &[Conflict]) -> Vec<Violation> {
    let mut out = agree::check(world, s, conflicts);
    out.extend(lost::check(world, s, conflicts));
    out.extend(conflicts::check(world, s, conflicts));
    out.extend(counts::check(world, s, conflicts).await);
    out
}

/// 5. Verify finds no drift.
pub(super) async fn verify(world: &World) -> Vec<Violation> {
    let report = world
        .stack
        .connector
        .clone()
        .verify(world.stack.admin(VerifyRequest {
            connection_id: world.conn.clone(),
            repair: false,
        }))
        .await;
    let report = match report {
        Ok(r) => r.into_inner().report.unwrap_or_default(),
        Err(s) => {
            return vec![Violation {
                invariant: "5 verify",
                what: format!("Verify failed: {:?} {}", s.code(), s.message()),
            }];
        }
    };
    let drift = (
        report.differing,
        report.missing_in_erp,
        report.missing_in_shop,
        report.duplicates,
    );
    if drift == (0, 0, 0, 0) {
        return Vec::new();
    }
    vec![Violation {
        invariant: "5 verify",
        what: format!(
            "Verify: {} differing, {} missing in the ERP, {} missing in the shop, {} duplicates (of {} compared): {:?}",
            drift.0, drift.1, drift.2, drift.3, report.compared, report.drifts
        ),
    }]
}
