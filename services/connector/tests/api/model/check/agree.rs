//! Invariants 1, 1b and 1c: both sides agree (or a held record keeps each
//! side's own edits), an online customer ends as the shop has it, and the
//! order ends as the domain rules say.

use chrono::DateTime;
use relais_proto::connector::Conflict;

use super::{Violation, field_of, listed};
use crate::model::{
    case::{Field, Rec, Side},
    world::{Snapshot, World},
};

/// 1, 1b, 1c on the final state.
pub(super) fn check(world: &World, s: &Snapshot, conflicts: &[Conflict]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut fail = |invariant: &'static str, what: String| out.push(Violation { invariant, what });
    // 1. Convergence; a held record keeps each side's own edit of the
    // fields in conflict.
    for rec in Rec::ALL {
        let held = world.held(rec, conflicts);
        if held.is_empty() {
            for field in rec.fields() {
                let (shop, erp) = (s.shop(rec, *field), s.erp(rec, *field));
                if shop != erp {
                    fail(
                        "1 convergence",
                        format!("{rec:?}.{}: shop {shop:?}, ERP {erp:?}", field.erp()),
                    );
                }
            }
            continue;
        }
        for c in held {
            // Held: the connector writes neither side, so an edit begun
            // after the conflict stays where it was made.
            let detected = c
                .detected_at
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32));
            for field in rec.fields() {
                if listed(c).contains(&field.erp()) {
                    // Checked below, whenever the edit was made.
                    continue;
                }
                for (side, now) in [
                    (Side::Shop, s.shop(rec, *field)),
                    (Side::Erp, s.erp(rec, *field)),
                ] {
                    if let Some(e) = world.last_edit(rec, *field, side)
                        && detected.is_some_and(|d| e.began > d)
                        && e.value != now
                    {
                        fail(
                            "1 convergence",
                            format!(
                                "{rec:?}.{} is held (conflict {}), yet the connector wrote the {side:?} side over its edit #{} {:?} made since: it holds {now:?}",
                                field.erp(),
                                c.id,
                                e.seq,
                                e.value
                            ),
                        );
                    }
                }
            }
            for name in listed(c) {
                let Some(field) = field_of(rec, name) else {
                    continue;
                };
                for (side, now) in [
                    (Side::Shop, s.shop(rec, field)),
                    (Side::Erp, s.erp(rec, field)),
                ] {
                    if let Some(e) = world.last_edit(rec, field, side)
                        && e.value != now
                    {
                        fail(
                            "1 convergence",
                            format!(
                                "{rec:?}.{name} is held (conflict {}), yet the {side:?} side holds {now:?}, not its own edit #{} {:?}",
                                c.id, e.seq, e.value
                            ),
                        );
                    }
                }
            }
        }
    }

    // 1b. Ownership: a record created online ends as the shop has it.
    for rec in Rec::ALL.into_iter().filter(|r| r.shop_owned()) {
        for field in rec.fields() {
            let own = world
                .last_edit(rec, *field, Side::Shop)
                .map_or(world.start.shop(rec, *field), |e| e.value.as_str());
            let now = s.shop(rec, *field);
            if now != own {
                fail(
                    "1b ownership",
                    format!(
                        "{rec:?}.{}: the shop owns it and last set {own:?}, it holds {now:?} (the ERP's edit taken)",
                        field.erp()
                    ),
                );
            }
        }
    }

    // 1c. The order rules: a cancellation on either side ends cancelled
    // on both (unless held for staff); otherwise the order ends where the
    // ERP last moved it (it only moves forward), or as sent.
    let order = Rec::ProductOrder;
    if s.converged(order) && world.held(order, conflicts).is_empty() {
        let status = |side| world.last_edit(order, Field::Status, side);
        let cancelled = |side| {
            world
                .edits
                .iter()
                .any(|e| e.rec == order && e.side == side && e.value == "cancelled")
        };
        let (want, why) = if cancelled(Side::Shop) {
            ("cancelled", "the shop cancelled it")
        } else if cancelled(Side::Erp) {
            ("cancelled", "the ERP cancelled it")
        } else if let Some(e) = status(Side::Erp) {
            (e.value.as_str(), "the ERP's furthest status")
        } else {
            (world.start.shop(order, Field::Status), "as sent")
        };
        let now = s.shop(order, Field::Status);
        if now != want {
            fail(
                "1c rules",
                format!("ProductOrder ends {now:?} on both sides, not {want:?} ({why})"),
            );
        }
    }
    out
}
