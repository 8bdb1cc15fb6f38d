//! ERP → shop planning changes (seed 000: "planning changes sync both
//! ways"): an intervention the shop sent to the ERP and that the ERP then
//! rescheduled, reassigned, cancelled or marked done is changed the same way
//! in planning, as the connection (so the change is not sent back). The
//! shop → ERP side is the intervention push. Interventions the ERP makes for
//! its own customers are the ERP's alone: they are skipped.

use chrono::{DateTime, Utc};
use relais_proto::planning::{
    Cancel, ChangeInterventionsRequest, ChangeScope, Intervention, InterventionStatus, MarkDone,
    Reassign, Reschedule, change_interventions_request::Change,
};
use serde_json::Value;

use crate::{
    adapter::ErpRecord, bindings, connections::Connection, peers::PeerError, runs, shared::Shared,
};

pub enum Outcome {
    Changed,
    Unchanged,
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

pub async fn apply(shared: &Shared, c: &Connection, rec: &ErpRecord) -> anyhow::Result<Outcome> {
    let pool = &shared.pool;
    let Some(b) = bindings::by_external(pool, c.id, "intervention", &rec.id).await? else {
        // The ERP's own intervention (a customer it keeps), or one whose
        // write to the ERP is finishing.
        return Ok(Outcome::Unchanged);
    };
    if b.erp_version >= rec.version {
        return Ok(Outcome::Unchanged);
    }
    if let Some(changed) =
        crate::reconcile::on_pull(shared, c, "intervention", &b.internal_id).await?
    {
        return Ok(if changed {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        });
    }
    let quote = rec.text("quote");
    let order = bindings::by_external(pool, c.id, "quote", &quote)
        .await?
        .map(|q| q.internal_id)
        .ok_or_else(|| anyhow::anyhow!("quote {quote:?} is not bound to a shop booking"))?;
    let current = shared
        .peers
        .interventions_of_order(c.tenant, &order)
        .await?
        .into_iter()
        .find(|i| i.id == b.internal_id)
        .ok_or_else(|| PeerError::NotFound(format!("intervention {}", b.internal_id)))?;
    if current.version != b.shop_version {
        // Interventions go back to the ERP with bookings or planning.
        let winner = if c.sends("bookings") {
            c.policy().winner()
        } else {
            c.pull_winner("planning")
        };
        runs::conflict(
            pool,
            c,
            "intervention",
            &current.id,
            &rec.id,
            current.version,
            rec.version,
            winner,
        )
        .await?;
        if winner != Some("erp") {
            bindings::record(
                pool,
                c.id,
                "intervention",
                &current.id,
                &rec.id,
                b.shop_version,
                rec.version,
            )
            .await?;
            return Ok(Outcome::Unchanged);
        }
    }
    let (current, changed) = bring(shared, c, rec, current).await?;
    let outcome = if changed {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    };
    bindings::record(
        pool,
        c.id,
        "intervention",
        &current.id,
        &rec.id,
        current.version,
        rec.version,
    )
    .await?;
    Ok(outcome)
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
