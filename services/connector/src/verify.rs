//! `verify`: both sides compared under a connection's bindings, field by
//! field, as a sync would compare them (reconcile/), and the drift
//! reported: bound records that differ, bound records gone from one side,
//! ERP records made twice for one shop record. With `repair`, each
//! difference is settled as a sync would settle it (merge, rules, then the
//! policy; under manual it becomes a conflict for staff). A verify is kept
//! as a run of the family `verify` (its drift lines as the run's lines),
//! and its counts are exported as metrics.

use std::collections::HashMap;

use chrono::Utc;
use relais_platform::{
    context::timestamp,
    error::{Error, Result},
};
use relais_proto::connector as pb;

use crate::{
    adapter::ErpAdapter,
    bindings,
    connections::Connection,
    merge::Side,
    reconcile::Trigger,
    runs,
    shared::Shared,
    writer::{Push, PushError},
};

/// The entities a verify compares (tariffs, catalogue and documents go
/// one way and are not merged).
const ENTITIES: [&str; 5] = ["customer", "worker", "quote", "order", "intervention"];

/// Compares (and with `repair` settles) every bound record of `c`.
pub async fn verify(
    shared: &Shared,
    c: &Connection,
    repair: bool,
    trigger: &str,
) -> Result<pb::VerifyReport> {
    let erp = shared
        .erps
        .get(c, shared.push.erp_timeout)
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    if !erp.reads_back() || !erp.merges_fields() {
        return Err(Error::FailedPrecondition(format!(
            "connection {} cannot be verified: its ERP {}",
            c.name,
            if erp.reads_back() {
                "shows records in its own shape (compared whole at each sync)"
            } else {
                "exchanges files and cannot be read back"
            }
        )));
    }
    let mut run = runs::start(&shared.pool, c, "verify", trigger).await?;
    let push = Push {
        shared,
        c,
        erp: &erp,
    };
    let mut report = pb::VerifyReport {
        connection_id: c.id.to_string(),
        ..Default::default()
    };
    for entity in ENTITIES {
        // Page by page: a connection can hold more bindings than one read.
        let mut after = None;
        loop {
            let page = bindings::list(&shared.pool, c.id, entity, after.take(), 500).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some((last.entity.clone(), last.internal_id.clone()));
            for b in &page {
                if shared.stop.is_cancelled() {
                    return Err(Error::Unavailable(
                        "interrupted: the connector is stopping".into(),
                    ));
                }
                report.compared += 1;
                let d = |kind: &str, fields: Vec<String>, repaired: bool| pb::Drift {
                    entity: entity.to_owned(),
                    internal_id: b.internal_id.clone(),
                    external_id: b.external_id.clone(),
                    kind: kind.to_owned(),
                    fields,
                    repaired,
                };
                match push
                    .reconcile(
                        entity,
                        &b.internal_id,
                        Trigger::Verify { repair: false },
                        None,
                    )
                    .await
                {
                    Ok(o) if o.held => report.held += 1,
                    Ok(o) if o.differing.is_empty() => {}
                    Ok(o) => {
                        report.differing += 1;
                        let repaired = repair
                            && push
                                .reconcile(
                                    entity,
                                    &b.internal_id,
                                    Trigger::Verify { repair: true },
                                    None,
                                )
                                .await
                                .is_ok_and(|r| !r.held);
                        if repaired {
                            report.repaired += 1;
                        }
                        drift(&mut run, &mut report, d("differs", o.differing, repaired));
                    }
                    Err(PushError::Gone(Side::Erp, _)) => {
                        report.missing_in_erp += 1;
                        drift(
                            &mut run,
                            &mut report,
                            d("missing_in_erp", Vec::new(), false),
                        );
                    }
                    Err(PushError::Gone(Side::Shop, _)) => {
                        report.missing_in_shop += 1;
                        drift(
                            &mut run,
                            &mut report,
                            d("missing_in_shop", Vec::new(), false),
                        );
                    }
                    Err(e) => {
                        // Not compared (a side unreachable): said, not counted
                        // as drift.
                        run.failed += 1;
                        run.error(format!("{entity} {}: not compared: {e}", b.internal_id));
                    }
                }
            }
        }
    }
    // ERP records made twice for one shop record: the ERP's records that
    // carry the same shop id.
    for object in ["customer", "employee", "quote", "order", "service"] {
        let mut by_shop: HashMap<String, Vec<String>> = HashMap::new();
        let mut page = 1;
        loop {
            let changes = erp
                .changed_since(object, None, page, 500)
                .await
                .map_err(|e| Error::Unavailable(e.to_string()))?;
            let n = changes.records.len();
            for r in changes.records {
                let shop_id = r.text("shop_id");
                if !shop_id.is_empty() {
                    let ids = by_shop.entry(shop_id).or_default();
                    if !ids.contains(&r.id) {
                        ids.push(r.id);
                    }
                }
            }
            if n == 0 || changes.next.is_none() {
                break;
            }
            page = changes.next.unwrap_or(page + 1);
        }
        let entity = match object {
            "employee" => "worker",
            "service" => "intervention",
            o => o,
        };
        for (shop_id, ids) in by_shop {
            if ids.len() > 1 {
                report.duplicates += 1;
                drift(
                    &mut run,
                    &mut report,
                    pb::Drift {
                        entity: entity.to_owned(),
                        internal_id: shop_id,
                        external_id: ids.join(" "),
                        kind: "duplicate".into(),
                        fields: Vec::new(),
                        repaired: false,
                    },
                );
            }
        }
    }
    report.checked_at = Some(timestamp(Utc::now()));
    let found =
        report.differing + report.missing_in_erp + report.missing_in_shop + report.duplicates;
    run.total = report.compared;
    run.done = report.compared;
    run.applied = report.repaired;
    run.skipped = report.compared - found;
    let status = if run.failed > 0 {
        "partial"
    } else {
        "succeeded"
    };
    runs::save(&shared.pool, &mut run, Some(status)).await?;
    let conn = c.id.to_string();
    for (kind, n) in [
        ("differs", report.differing - report.repaired),
        ("missing_in_erp", report.missing_in_erp),
        ("missing_in_shop", report.missing_in_shop),
        ("duplicate", report.duplicates),
        ("held", report.held),
    ] {
        metrics::gauge!("relais_connector_drift_records", "service" => crate::SERVICE, "connection" => conn.clone(), "kind" => kind)
            .set(n as f64);
    }
    metrics::counter!("relais_connector_verifies_total", "service" => crate::SERVICE, "repair" => repair.to_string())
        .increment(1);
    tracing::info!(
        connection = %c.name, compared = report.compared, differing = report.differing,
        missing_in_erp = report.missing_in_erp, missing_in_shop = report.missing_in_shop,
        duplicates = report.duplicates, repaired = report.repaired, held = report.held,
        "verify finished"
    );
    Ok(report)
}

/// One drift found: in the report, and as a line of the verify's run.
fn drift(run: &mut runs::Run, report: &mut pb::VerifyReport, d: pb::Drift) {
    run.error(format!(
        "{} {} ({}): {}{}{}",
        d.entity,
        d.internal_id,
        d.external_id,
        d.kind,
        if d.fields.is_empty() {
            String::new()
        } else {
            format!(" [{}]", d.fields.join(", "))
        },
        if d.repaired { ", repaired" } else { "" }
    ));
    report.drifts.push(d);
}
