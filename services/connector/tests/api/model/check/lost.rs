//! Invariants 2 and 2r: an edit that did not survive was overtaken by a
//! later edit on the other side, or a conflict names its field.

use relais_proto::connector::Conflict;

use super::{Violation, listed};
use crate::model::{
    case::{Field, Rec, Side},
    world::{Snapshot, World},
};

/// 2 and 2r on the final state.
pub(super) fn check(world: &World, s: &Snapshot, conflicts: &[Conflict]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut fail = |invariant: &'static str, what: String| out.push(Violation { invariant, what });
    // 2. No edit lost unseen: an edit that did not survive was overtaken
    // by a later edit on the other side, or a conflict names its field.
    // 2r: the same, where a rule took the intervention's planning from
    // the shop (cancelled on either side).
    for rec in Rec::ALL {
        if !s.converged(rec) {
            // Reported by 1 (agree.rs); what it ends as is unknown.
            continue;
        }
        for field in rec.fields() {
            let now = s.shop(rec, *field);
            let named = conflicts
                .iter()
                .any(|c| world.rec_of(c) == Some(rec) && listed(c).contains(&field.erp()));
            for (side, other) in [(Side::Shop, Side::Erp), (Side::Erp, Side::Shop)] {
                let Some(e) = world.last_edit(rec, *field, side) else {
                    continue;
                };
                if e.value == now {
                    continue;
                }
                let overtaken = world
                    .last_edit(rec, *field, other)
                    .is_some_and(|o| o.seq > e.seq);
                if overtaken || named {
                    continue;
                }
                let by_rule = rec == Rec::Intervention
                    && *field != Field::Status
                    && s.shop(rec, Field::Status) != "planned";
                fail(
                    if by_rule {
                        "2r rule, unrecorded"
                    } else {
                        "2 lost edit"
                    },
                    format!(
                        "{rec:?}.{}: the {side:?}'s edit #{} {:?} was lost without a conflict (both hold {now:?}{})",
                        field.erp(),
                        e.seq,
                        e.value,
                        if by_rule {
                            format!(", the intervention {}", s.shop(rec, Field::Status))
                        } else {
                            String::new()
                        }
                    ),
                );
            }
        }
    }
    out
}
