//! Invariants 3 and 4: one ERP record per shop record and none made twice
//! in the shop; each side's version moved at most once per edit or
//! conflict (+1).

use std::collections::BTreeMap;

use relais_proto::{
    connector::Conflict,
    orders::ListCustomersRequest,
    planning::{ListInterventionsRequest, ListWorkersRequest},
};

use super::Violation;
use crate::{
    model::{
        case::{Rec, Side},
        world::{Snapshot, World},
    },
    stack::text,
};

/// 3 and 4 on the final state.
pub(super) async fn check(world: &World, s: &Snapshot, conflicts: &[Conflict]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut fail = |invariant: &'static str, what: String| out.push(Violation { invariant, what });
    // 3. No record made twice, on either side.
    let mut made: BTreeMap<&str, Vec<relais_connector::adapter::ErpRecord>> = BTreeMap::new();
    for object in ["customer", "employee", "service", "order", "quote"] {
        made.insert(object, world.stack.erp_records(object).await);
    }
    for rec in Rec::ALL {
        let shop_id = &world.ids[&rec].shop;
        let same: Vec<&str> = made[rec.object()]
            .iter()
            .filter(|r| r.id == world.ids[&rec].erp || text(r, "shop_id") == shop_id)
            .map(|r| r.id.as_str())
            .collect();
        if same.len() != 1 {
            fail(
                "3 duplicates",
                format!("{rec:?} is {} ERP records: {same:?}", same.len()),
            );
        }
    }
    let counts: Vec<(&str, usize)> = made.iter().map(|(o, r)| (*o, r.len())).collect();
    let expected = vec![
        ("customer", 3),
        ("employee", 3),
        ("order", 1),
        ("quote", 1),
        ("service", 1),
    ];
    if counts != expected {
        fail(
            "3 duplicates",
            format!("the ERP holds {counts:?}, {expected:?} made"),
        );
    }
    let shop_customers = world
        .stack
        .orders
        .clone()
        .list_customers(world.stack.admin(ListCustomersRequest::default()))
        .await
        .map(|r| r.into_inner().customers.len())
        .unwrap_or_default();
    let shop_workers = world
        .stack
        .planning
        .clone()
        .list_workers(world.stack.admin(ListWorkersRequest::default()))
        .await
        .map(|r| r.into_inner().workers.len())
        .unwrap_or_default();
    let shop_interventions = world
        .stack
        .planning
        .clone()
        .list_interventions(world.stack.admin(ListInterventionsRequest {
            order_id: world.booking.clone(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().interventions.len())
        .unwrap_or_default();
    if (shop_customers, shop_workers, shop_interventions) != (3, 3, 1) {
        fail(
            "3 duplicates",
            format!(
                "the shop holds {shop_customers} customers (3 made), {shop_workers} workers (3 made) and {shop_interventions} interventions (1 booked)"
            ),
        );
    }

    // 4. No write that changed nothing: each side's version moved at most
    // once per edit or conflict, plus one of slack. An ERP that moves an
    // order on passes the shop through each status between (three at most).
    for rec in Rec::ALL {
        let mut ops: Vec<usize> = world
            .edits
            .iter()
            .filter(|e| e.rec == rec)
            .map(|e| e.op)
            .collect();
        ops.dedup();
        let edits = ops.len() as i64;
        let on_it = conflicts
            .iter()
            .filter(|c| world.rec_of(c) == Some(rec))
            .count() as i64;
        let steps = if rec == Rec::ProductOrder { 3 } else { 1 };
        for (side, start, now, per_edit) in [
            (Side::Shop, world.start.shop[&rec].1, s.shop[&rec].1, steps),
            (Side::Erp, world.start.erp[&rec].1, s.erp[&rec].1, 1),
        ] {
            let bound = start + edits * per_edit + on_it + 1;
            if now > bound {
                fail(
                    "4 extra writes",
                    format!(
                        "{rec:?} on the {side:?} side went from version {start} to {now} with {edits} edits and {on_it} conflicts (at most {bound})"
                    ),
                );
            }
        }
    }
    out
}
