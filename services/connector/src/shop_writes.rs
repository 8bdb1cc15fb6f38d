//! What an ERP record asks of the shop's, written as the connection: an
//! order moved forward through its statuses, an intervention changed until
//! it matches, an ERP address read as the shop's. Pulls comparing whole
//! records and reconciles merging by field both write through here.

use chrono::{DateTime, Utc};
use relais_proto::{
    orders::{Address, ChangeOrderStatusRequest, Order, OrderStatus},
    planning::{
        Cancel, ChangeInterventionsRequest, ChangeScope, Intervention, InterventionStatus,
        MarkDone, Reassign, Reschedule, change_interventions_request::Change,
    },
};
use serde_json::Value;

use crate::{
    adapter::{ErpRecord, text},
    bindings,
    connections::Connection,
    shared::Shared,
};

pub(crate) fn address(v: Option<&Value>) -> Option<Address> {
    let v = v.filter(|v| v.is_object())?;
    Some(Address {
        line1: text(v, "line1"),
        line2: text(v, "line2"),
        postal_code: text(v, "postal_code"),
        city: text(v, "city"),
        country: Some(text(v, "country"))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "FR".into()),
    })
}

/// Moves the shop's order to `to`, through the steps before it (an ERP
/// that reports only where the order is now has passed them); never back.
/// `f`: the ERP's record (its references and reason); the order as it is
/// then, and whether it moved.
pub(crate) async fn move_order(
    shared: &Shared,
    c: &Connection,
    current: Order,
    to: OrderStatus,
    erp_id: &str,
    f: &Value,
) -> anyhow::Result<(Order, bool)> {
    let reason = Some(text(f, "status_reason"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "cancelled in the ERP".into());
    // An ERP that reports only where the order is now (shipped, say) has
    // passed the steps before: the shop goes through them too, each one
    // a status of its own, as its rules want.
    const FORWARD: [OrderStatus; 3] = [
        OrderStatus::Preparing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ];
    // Completed is past delivery; a cancelled order stays cancelled.
    let now_at = match current.status() {
        OrderStatus::Completed | OrderStatus::Cancelled => Some(FORWARD.len()),
        s => FORWARD.iter().position(|f| *f == s),
    };
    let steps: Vec<OrderStatus> = match FORWARD.iter().position(|s| *s == to) {
        // The shop is there or further already (a late export): the ERP's
        // news is taken as seen, never as a step back.
        Some(target) if now_at.is_some_and(|n| n >= target) => Vec::new(),
        Some(target) => FORWARD[now_at.map_or(0, |p| p + 1)..=target].to_vec(),
        None => vec![to],
    };
    if steps.is_empty() {
        return Ok((current, false));
    }
    let mut moved = current;
    for step in steps {
        moved = shared
            .peers
            .change_order_status(
                c.tenant,
                &c.name,
                ChangeOrderStatusRequest {
                    id: moved.id.clone(),
                    expected_version: 0,
                    status: step as i32,
                    reason: if step == OrderStatus::Cancelled {
                        reason.clone()
                    } else {
                        String::new()
                    },
                    picking_list_ref: text(f, "picking_list"),
                    delivery_note_ref: text(f, "delivery_note"),
                    external_ref: Some(text(f, "erp_number"))
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| erp_id.to_owned()),
                },
            )
            .await?;
    }
    Ok((moved, true))
}

fn time(r: &ErpRecord, field: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&r.text(field))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn from_ts(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

/// What the ERP's record asks of the shop's intervention, if anything.
async fn wanted(
    shared: &Shared,
    c: &Connection,
    rec: &ErpRecord,
    i: &Intervention,
) -> anyhow::Result<Option<Change>> {
    let planned = i.status() == InterventionStatus::Planned;
    match rec.text("status").as_str() {
        "cancelled" if planned => {
            let reason = Some(rec.text("status_reason"))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "cancelled in the ERP".into());
            return Ok(Some(Change::Cancel(Cancel { reason })));
        }
        "done" if planned => {
            let minutes = rec
                .fields
                .get("actual_minutes")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            return Ok(Some(Change::Done(MarkDone {
                actual_minutes: minutes as i32,
            })));
        }
        _ if !planned => return Ok(None),
        _ => {}
    }
    let (start, end) = (time(rec, "start"), time(rec, "end"));
    if let (Some(s), Some(e)) = (start, end)
        && (Some(s), Some(e)) != (from_ts(i.start.as_ref()), from_ts(i.end.as_ref()))
    {
        return Ok(Some(Change::Reschedule(Reschedule {
            start: Some(relais_platform::context::timestamp(s)),
            local_start_time: String::new(),
            duration_minutes: (e - s).num_minutes() as i32,
        })));
    }
    let employee = rec.text("employee");
    let worker = if employee.is_empty() {
        String::new()
    } else {
        bindings::by_external(&shared.pool, c.id, "worker", &employee)
            .await?
            .map(|b| b.internal_id)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "employee {employee} is not bound to a shop worker (pull workers first)"
                )
            })?
    };
    if worker != i.worker_id {
        return Ok(Some(Change::Reassign(Reassign { worker_id: worker })));
    }
    Ok(None)
}

/// Changes the shop's intervention until it matches the ERP's record `rec`
/// (one ERP edit may hold several changes: moved and reassigned); the
/// intervention as it is then, and whether it changed.
pub(crate) async fn bring(
    shared: &Shared,
    c: &Connection,
    rec: &ErpRecord,
    current: Intervention,
) -> anyhow::Result<(Intervention, bool)> {
    let mut current = current;
    let mut changed_any = false;
    for _ in 0..4 {
        let Some(change) = wanted(shared, c, rec, &current).await? else {
            break;
        };
        let changed = shared
            .peers
            .change_intervention(
                c.tenant,
                &c.name,
                ChangeInterventionsRequest {
                    intervention_id: current.id.clone(),
                    scope: ChangeScope::One as i32,
                    expected_version: current.version,
                    change: Some(change),
                },
            )
            .await?;
        current = changed
            .into_iter()
            .find(|i| i.id == current.id)
            .ok_or_else(|| {
                anyhow::anyhow!("planning did not answer the intervention it changed")
            })?;
        changed_any = true;
    }
    Ok((current, changed_any))
}
