//! ERP → shop workers (seed 000): an ERP employee appears in planning as a
//! worker, its tariffs as the skills they map to, its hours or the
//! opening hours; its changes follow.

use chrono::Utc;
use relais_platform::error::{Error, Result};
use relais_proto::planning::{Worker, WorkerFields};
use serde_json::Value;

use crate::{
    adapter::ErpRecord,
    bindings,
    connections::Connection,
    peers::peer,
    runs::{self, Run},
    shared::Shared,
};

pub(crate) enum Applied {
    Changed,
    Unchanged,
}

/// The shop's worker fields from an ERP employee, over what the shop keeps
/// that the ERP does not (time zone). Skills come through the tariff
/// mapping; a tariff with no mapped service is reported. Availability: the
/// ERP's, else the shop's, else the opening hours (availability.rs).
async fn worker_fields(
    shared: &Shared,
    c: &Connection,
    rec: &ErpRecord,
    base: Option<WorkerFields>,
    run: &mut Run,
) -> Result<WorkerFields> {
    let mut f = base.unwrap_or_default();
    f.first_name = rec.text("first_name");
    f.last_name = rec.text("last_name");
    f.email = rec.text("email");
    f.phone = rec.text("phone");
    f.photo_url = rec.text("photo_url");
    f.provider = rec.text("provider");
    f.active = rec
        .fields
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    f.external_ref = rec.id.clone();
    let mut skills = Vec::new();
    for t in rec
        .fields
        .get("tariffs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let Some(t) = t.as_str() else { continue };
        match bindings::service_of(&shared.pool, c.id, t).await? {
            Some(s) => skills.push(s.to_string()),
            None => run.error(format!(
                "employee {}: tariff {t} is mapped to no service, so that skill is not synced (SetTariffMapping)",
                rec.id
            )),
        }
    }
    skills.sort();
    skills.dedup();
    f.skill_service_ids = skills;
    crate::availability::apply(
        &mut f,
        crate::availability::from_erp(rec.fields.get("availability")),
        &shared.opening_hours,
    );
    Ok(f)
}

/// An ERP employee applied outside a run (a conflict staff settled for the
/// ERP); what a run would report (an unmapped tariff) is logged.
pub async fn apply_worker(shared: &Shared, c: &Connection, rec: &ErpRecord) -> Result<()> {
    let mut run = Run {
        id: uuid::Uuid::now_v7(),
        connection: c.id,
        family: "workers".into(),
        trigger: "conflict".into(),
        status: "running",
        total: 1,
        done: 0,
        failed: 0,
        applied: 0,
        skipped: 0,
        parked: 0,
        errors: Vec::new(),
        started_at: Utc::now(),
        finished_at: None,
    };
    apply_employee(shared, c, rec, &mut run).await?;
    for e in run.errors {
        tracing::warn!(employee = %rec.id, "{e}");
    }
    Ok(())
}

pub(crate) async fn apply_employee(
    shared: &Shared,
    c: &Connection,
    rec: &ErpRecord,
    run: &mut Run,
) -> Result<Applied> {
    let pool = &shared.pool;
    let Some(b) = bindings::by_external(pool, c.id, "worker", &rec.id).await? else {
        if !rec.text("shop_id").is_empty() {
            // A shop worker whose write to the ERP is finishing (its binding
            // comes with it): not a new worker.
            return Ok(Applied::Unchanged);
        }
        let fields = worker_fields(shared, c, rec, None, run).await?;
        // The key makes a retry after a lost answer (or a restarted run)
        // find the worker the first call created.
        let key = format!("erp:{}:employee:{}", c.id, rec.id);
        let w: Worker = shared
            .peers
            .create_worker(c.tenant, &c.name, key, fields)
            .await
            .map_err(peer)?;
        bindings::record(pool, c.id, "worker", &w.id, &rec.id, w.version, rec.version).await?;
        // What both sides hold now: the base of the next merge.
        crate::reconcile::on_pull(shared, c, "worker", &w.id)
            .await
            .map_err(|e| Error::Unavailable(format!("{e:#}")))?;
        return Ok(Applied::Changed);
    };
    if b.erp_version >= rec.version {
        // Applied already, or our own write read back.
        return Ok(Applied::Unchanged);
    }
    match crate::reconcile::on_pull(shared, c, "worker", &b.internal_id).await {
        Ok(Some(true)) => return Ok(Applied::Changed),
        Ok(Some(false)) => return Ok(Applied::Unchanged),
        Ok(None) => {}
        Err(e) => return Err(Error::Unavailable(format!("{e:#}"))),
    }
    let current = shared
        .peers
        .worker(c.tenant, &b.internal_id)
        .await
        .map_err(peer)?;
    if current.version != b.shop_version {
        let winner = c.pull_winner("workers");
        runs::conflict(
            pool,
            c,
            "worker",
            &b.internal_id,
            &rec.id,
            current.version,
            rec.version,
            winner,
        )
        .await?;
        if winner != Some("erp") {
            // Not applied: the shop's version is written to the ERP (shop
            // wins, by its own event) or staff settle it (manual).
            bindings::record(
                pool,
                c.id,
                "worker",
                &b.internal_id,
                &rec.id,
                b.shop_version,
                rec.version,
            )
            .await?;
            return Ok(Applied::Unchanged);
        }
    }
    let fields = worker_fields(shared, c, rec, current.fields.clone(), run).await?;
    let w = shared
        .peers
        .update_worker(c.tenant, &c.name, &b.internal_id, current.version, fields)
        .await
        .map_err(peer)?;
    bindings::record(pool, c.id, "worker", &w.id, &rec.id, w.version, rec.version).await?;
    Ok(Applied::Changed)
}
