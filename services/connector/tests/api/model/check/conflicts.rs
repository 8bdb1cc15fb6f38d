//! Invariants 2b and 2c: every conflict is a real one, names its fields
//! and is won by the right side, whose value both sides keep; an order
//! status changed on both sides is a conflict with its rule.

use relais_proto::connector::Conflict;

use super::{Violation, field_of, listed, plain, raised};
use crate::model::{
    case::{Field, Policy, Rec, Side, rank},
    world::{Snapshot, World},
};

/// 2b and 2c on the final state.
pub(super) fn check(world: &World, s: &Snapshot, conflicts: &[Conflict]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut fail = |invariant: &'static str, what: String| out.push(Violation { invariant, what });
    let policy = world.policy;
    let order = Rec::ProductOrder;
    // 2b. Every conflict is a real one and names its fields; a policy's
    // winner is the policy's side, and its value is what both sides keep
    // (unless a later edit moved on); a rule holds a record for staff
    // only where docs/sync.md says.
    for c in conflicts {
        let Some(rec) = world.rec_of(c) else {
            fail(
                "2b conflicts",
                format!(
                    "conflict {} on {} {}, not a record of the case",
                    c.id, c.entity, c.internal_id
                ),
            );
            continue;
        };
        let names = listed(c);
        if !matches!(c.kind.as_str(), "conflict" | "erp_overwritten") {
            fail(
                "2b conflicts",
                format!(
                    "conflict {} on {rec:?} (winner {:?}) is of kind {:?}, naming fields {names:?}: neither conflict nor erp_overwritten",
                    c.id, c.winner, c.kind
                ),
            );
            continue;
        }
        if names.is_empty() {
            fail(
                "2b conflicts",
                format!(
                    "conflict {} on {rec:?} (kind {:?}, winner {:?}) names no field",
                    c.id, c.kind, c.winner
                ),
            );
        }
        match c.kind.as_str() {
            "conflict" => {
                if rec.shop_owned() {
                    fail(
                        "2b conflicts",
                        format!(
                            "conflict {} on {rec:?}, which the shop owns: the ERP's edits of it are overwritten (kind erp_overwritten), never in conflict",
                            c.id
                        ),
                    );
                }
                for v in &c.values {
                    let field = field_of(rec, &v.field);
                    let (sv, ev) = match field {
                        Some(f) => (
                            world.shown(f, &plain(&v.shop)),
                            world.shown(f, &plain(&v.erp)),
                        ),
                        None => (plain(&v.shop), plain(&v.erp)),
                    };
                    if raised(c) {
                        // Held for staff by a rule: an order cancelled on
                        // one side after the other moved it on.
                        let moved_on = |v: &str| rank(v).is_some_and(|r| r >= 2);
                        let shipped = |v: &str| rank(v).is_some_and(|r| r >= 3);
                        let due = rec == Rec::ProductOrder
                            && field == Some(Field::Status)
                            && ((sv == "cancelled" && shipped(&ev))
                                || (ev == "cancelled" && moved_on(&sv)));
                        if !due {
                            fail(
                                "2b conflicts",
                                format!(
                                    "conflict {} holds {rec:?} for staff by the rule {:?} on {}: shop {sv:?}, ERP {ev:?}, where docs/sync.md raises nothing",
                                    c.id, c.rule, v.field
                                ),
                            );
                        }
                        continue;
                    }
                    let both = field.is_some_and(|f| {
                        world.edited(rec, f, Side::Shop) && world.edited(rec, f, Side::Erp)
                    });
                    // A rule may name an edit of one side it wrote over
                    // (docs/sync.md: a conflict decided by a rule is
                    // recorded).
                    if (!both && c.rule.is_empty()) || sv == ev {
                        fail(
                            "2b conflicts",
                            format!(
                                "false conflict {} on {rec:?}.{}: shop {sv:?}, ERP {ev:?} (edited on both sides: {both}; rule {:?})",
                                c.id, v.field, c.rule
                            ),
                        );
                    }
                }
                let wanted = match policy {
                    // A rule decides before the policy (its side is
                    // checked below, by the value kept).
                    _ if !c.rule.is_empty() => None,
                    Policy::ErpWins => Some("erp"),
                    Policy::ShopWins => Some("shop"),
                    Policy::Manual => None,
                };
                match wanted {
                    Some(w) if c.winner != w => fail(
                        "2b conflicts",
                        format!(
                            "conflict {} on {rec:?} under {policy:?} won by {:?}",
                            c.id, c.winner
                        ),
                    ),
                    None if c.rule.is_empty()
                        && !c.winner.is_empty()
                        && c.resolved_by.is_empty() =>
                    {
                        fail(
                            "2b conflicts",
                            format!(
                                "conflict {} on {rec:?} under manual settled by no one (winner {:?})",
                                c.id, c.winner
                            ),
                        )
                    }
                    _ => {}
                }
            }
            "erp_overwritten" => {
                if !rec.shop_owned() {
                    fail(
                        "2b conflicts",
                        format!(
                            "conflict {} overwrote the ERP's edit of {rec:?}, which both sides edit",
                            c.id
                        ),
                    );
                }
                for v in &c.values {
                    if !field_of(rec, &v.field).is_some_and(|f| world.edited(rec, f, Side::Erp)) {
                        fail(
                            "2b conflicts",
                            format!(
                                "conflict {} says the ERP edited {rec:?}.{}, it did not",
                                c.id, v.field
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    for rec in Rec::ALL.into_iter().filter(|r| s.converged(*r)) {
        for field in rec.fields() {
            // The newest settled conflict naming the field.
            let Some((c, v)) = conflicts
                .iter()
                .filter(|c| {
                    c.kind == "conflict" && !c.winner.is_empty() && world.rec_of(c) == Some(rec)
                })
                .filter_map(|c| {
                    c.values
                        .iter()
                        .find(|v| v.field == field.erp())
                        .map(|v| (c, v))
                })
                .max_by_key(|(c, _)| c.detected_at.as_ref().map(|t| (t.seconds, t.nanos)))
            else {
                continue;
            };
            let won = world.shown(
                *field,
                &plain(if c.winner == "erp" { &v.erp } else { &v.shop }),
            );
            let now = s.shop(rec, *field);
            let newest = world
                .edits
                .iter()
                .rfind(|e| e.rec == rec && e.field == *field)
                .map(|e| e.value.as_str());
            if now != won && Some(now) != newest {
                fail(
                    "2b conflicts",
                    format!(
                        "{rec:?}.{}: conflict {} won by the {} with {won:?}{}, both sides hold {now:?}",
                        field.erp(),
                        c.id,
                        c.winner,
                        if c.rule.is_empty() {
                            String::new()
                        } else {
                            format!(" (rule {:?})", c.rule)
                        }
                    ),
                );
            }
        }
    }

    // 2c. An order status changed on both sides is a conflict decided by
    // a rule: the shop could cancel only while the ERP's move had not
    // reached it, so an ERP move before the shop's cancellation met it
    // (unless the ERP cancelled as well).
    let cancel = world
        .edits
        .iter()
        .find(|e| e.rec == order && e.side == Side::Shop && e.value == "cancelled");
    if let Some(cancel) = cancel
        && let Some(moved) = world
            .edits
            .iter()
            .rfind(|e| e.rec == order && e.side == Side::Erp && e.seq < cancel.seq)
        // Cancelled there too, before or after: the two may have met on
        // the same value, no conflict.
        && !world
            .edits
            .iter()
            .any(|e| e.rec == order && e.side == Side::Erp && e.value == "cancelled")
        && !conflicts.iter().any(|c| {
            world.rec_of(c) == Some(order) && listed(c).contains(&"status") && !c.rule.is_empty()
        })
    {
        fail(
            "2c order conflict",
            format!(
                "the ERP moved the order to {:?} (edit #{}), the shop cancelled it before that reached it (edit #{}): no conflict with a rule recorded",
                moved.value, moved.seq, cancel.seq
            ),
        );
    }
    out
}
