//! Domain rules over a merged status, before any policy (docs/sync.md): a
//! cancellation is never left live on the other side, an order never moves
//! back, an intervention closed in the shop stays closed, and what the
//! shop cannot do is raised to staff.

use relais_proto::{orders::OrderStatus, planning::InterventionStatus};
use serde_json::{Map, Value};

use crate::{
    merge::{self, FieldConflict, Side},
    writer::Push,
};

use super::{
    fields::{PLANNED, status_of},
    shop::Shop,
};

/// A domain rule that decided fields before the policy.
pub(super) struct Decided {
    pub rule: &'static str,
    pub fields: &'static [&'static str],
    /// Raised to staff: the record is held.
    pub raised: bool,
}

fn order_rank(status: &str) -> Option<u8> {
    match status {
        "validated" => Some(0),
        "paid" => Some(1),
        "preparing" => Some(2),
        "shipped" => Some(3),
        "delivered" => Some(4),
        _ => None,
    }
}

impl Push<'_> {
    /// Domain rules over the merged status, before any policy: a
    /// cancellation is never left live on the other side, an order never
    /// moves back, and what the shop cannot do is raised to staff. The
    /// rule that decided, and the fields it decided.
    pub(super) fn status_rules(
        &self,
        entity: &str,
        shop: &Shop,
        s: &Map<String, Value>,
        e: &Map<String, Value>,
        merged: &mut merge::Merged,
        settle: Option<Side>,
    ) -> Option<Decided> {
        let (ss, es) = (status_of(s), status_of(e));
        let final_in_shop =
            matches!(shop, Shop::Intervention(i) if i.status() != InterventionStatus::Planned);
        // An intervention closed in the shop cannot move there any more,
        // whatever the ERP's status says.
        if ss == es && !final_in_shop {
            return None;
        }
        let set = |m: &mut merge::Merged, v: &str| {
            m.target.insert("status".into(), v.into());
        };
        match (entity, shop) {
            ("intervention", Shop::Intervention(_)) => {
                if final_in_shop {
                    // Done or cancelled in the shop: final there, so its
                    // planning fields are the shop's.
                    for k in PLANNED {
                        if let Some(v) = s.get(k) {
                            merged.target.insert(k.into(), v.clone());
                        }
                    }
                    return Some(Decided {
                        rule: "the intervention is final in the shop (done or cancelled)",
                        fields: &PLANNED,
                        raised: false,
                    });
                }
                let target = status_of(&merged.target);
                if target != "planned" {
                    // Cancelled or done in the ERP: the time and worker a
                    // closed intervention had in the shop stay.
                    for k in ["start", "end", "employee"] {
                        if let Some(v) = s.get(k) {
                            merged.target.insert(k.into(), v.clone());
                        }
                    }
                    return Some(Decided {
                        rule: "closed in the ERP: the shop's time and worker stay",
                        fields: &["start", "end", "employee"],
                        raised: false,
                    });
                }
                None
            }
            // Only where the ERP moves orders on (its states are pulled);
            // elsewhere the status is the shop's alone.
            ("order" | "quote", Shop::Order(o))
                if o.kind == "product" && self.c.pulls("orders") =>
            {
                if let Some(side) = settle {
                    // Staff decided which status stands.
                    let chosen = if side == Side::Shop { &ss } else { &es };
                    set(merged, chosen);
                    return Some(Decided {
                        rule: "settled by staff",
                        fields: &["status"],
                        raised: false,
                    });
                }
                let shop_may_cancel = matches!(
                    o.status(),
                    OrderStatus::Quote | OrderStatus::Placed | OrderStatus::Confirmed
                );
                let raise = |m: &mut merge::Merged, why| {
                    set(m, &ss);
                    if !m.conflicts.iter().any(|c| c.field == "status") {
                        m.conflicts.push(FieldConflict {
                            field: "status".into(),
                            shop: ss.clone().into(),
                            erp: es.clone().into(),
                            agreed: None,
                        });
                    }
                    m.held = true;
                    Some(Decided {
                        rule: why,
                        fields: &["status"],
                        raised: true,
                    })
                };
                match (ss.as_str(), es.as_str()) {
                    ("cancelled", "shipped" | "delivered") => {
                        raise(merged, "cancelled in the shop after the ERP shipped it")
                    }
                    ("cancelled", _) => {
                        set(merged, "cancelled");
                        Some(Decided {
                            rule: "a cancellation in the shop is sent to the ERP",
                            fields: &["status"],
                            raised: false,
                        })
                    }
                    (_, "cancelled") if shop_may_cancel => {
                        set(merged, "cancelled");
                        Some(Decided {
                            rule: "a cancellation in the ERP is taken by the shop",
                            fields: &["status"],
                            raised: false,
                        })
                    }
                    (_, "cancelled") => raise(
                        merged,
                        "cancelled in the ERP after the shop moved the order on",
                    ),
                    _ => {
                        // Both moving forward: the furthest along, if the
                        // shop can take it from the ERP (payment is the
                        // shop's own step).
                        let erp_may_move =
                            matches!(es.as_str(), "preparing" | "shipped" | "delivered");
                        let furthest = if erp_may_move && order_rank(&es) > order_rank(&ss) {
                            &es
                        } else {
                            &ss
                        };
                        set(merged, furthest);
                        Some(Decided {
                            rule: "an order never moves back",
                            fields: &["status"],
                            raised: false,
                        })
                    }
                }
            }
            _ => None,
        }
    }
}
