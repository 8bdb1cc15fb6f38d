//! Runs of a family's flow: pulls from the ERP (incremental: what changed
//! since the last run, re-reading a short overlap so a record committed
//! late in the ERP is not skipped; a record already applied is recognised
//! by its binding's version), and batch transfers of every shop record to
//! the ERP (seed 001). Progress goes to `progress` page by page; the run,
//! its counts and errors are recorded whatever happens.

use chrono::{DateTime, Duration, Utc};
use relais_platform::error::{Error, Result};
use tokio::sync::mpsc;
use tracing::Instrument;

mod apply;
mod parked;

use apply::{Object, apply_records};

use crate::{
    adapter::ErpAdapter,
    connections::Connection,
    peers::peer,
    runs::{self, Run},
    shared::Shared,
    writer::{Push, PushError},
};

const PAGE: i64 = 200;
/// How far before the cursor each incremental pull starts reading again.
const OVERLAP_SECS: i64 = 5;

/// Families whose flows are written so far, per direction.
fn can_pull(family: &str) -> bool {
    matches!(
        family,
        "workers" | "customers" | "catalogue" | "invoices" | "certificates" | "planning" | "orders"
    )
}

/// What a family's pull reads, in order (families before articles).
fn pulled(family: &str) -> &'static [Object] {
    match family {
        "workers" => &[Object::Employees],
        "invoices" => &[Object::Invoices],
        "certificates" => &[Object::Certificates],
        "customers" => &[Object::Customers],
        "orders" => &[Object::OrderStates],
        "planning" => &[Object::Interventions],
        "catalogue" => &[Object::Families, Object::Articles],
        _ => &[],
    }
}

fn can_transfer(family: &str) -> bool {
    matches!(family, "customers" | "workers")
}

/// Checks that `family` can run on `c` now (before a run is recorded).
pub fn check(c: &Connection, family: &str, full: bool) -> Result<()> {
    if !crate::connections::FAMILIES
        .iter()
        .any(|(f, _)| *f == family)
    {
        return Err(Error::invalid(
            "family",
            format!("unknown family {family:?}"),
        ));
    }
    if !c.enabled {
        return Err(Error::FailedPrecondition(format!(
            "connection {} is disabled",
            c.name
        )));
    }
    let pull = c.pulls(family);
    // With full: everything the family pulls read again, and the batch
    // transfer where the family has one. A family that pushes without a
    // transfer (planning, orders) is fine as long as it pulls.
    let transfer = full && c.pushes(family);
    if !pull && !transfer {
        return Err(Error::FailedPrecondition(format!(
            "connection {} does not {} {family}",
            c.name,
            if c.pushes(family) {
                "pull (a push family runs with full: the batch transfer)"
            } else {
                "sync"
            }
        )));
    }
    if (pull && !can_pull(family)) || (transfer && !pull && !can_transfer(family)) {
        return Err(Error::FailedPrecondition(format!(
            "the {family} flow is not available yet"
        )));
    }
    Ok(())
}

pub async fn run(
    shared: &Shared,
    c: &Connection,
    family: &str,
    full: bool,
    trigger: &str,
    progress: Option<mpsc::Sender<Run>>,
) -> Result<Run> {
    check(c, family, full)?;
    let mut run = runs::start(&shared.pool, c, family, trigger).await?;
    let span = tracing::info_span!("sync run", connection = %c.name, family, full, run = %run.id);
    let started = std::time::Instant::now();
    let mut report = Reporter { shared, progress };
    report.send(&mut run).await;
    let outcome = async {
        if c.pulls(family) {
            for &object in pulled(family) {
                pull(shared, c, object, full, &mut run, &mut report).await?;
            }
        }
        if full && c.pushes(family) && can_transfer(family) {
            transfer(shared, c, family, &mut run, &mut report).await?;
        }
        Ok::<(), Error>(())
    }
    .instrument(span)
    .await;
    if c.pulls(family) {
        // What staff still have to look at, whatever became of the run.
        let objects: Vec<&str> = pulled(family).iter().map(|o| o.erp_object()).collect();
        match parked::count(&shared.pool, c, &objects).await {
            Ok(n) => run.parked = n,
            Err(e) => tracing::warn!(error = %e, "parked records not counted"),
        }
    }
    let status = match outcome {
        Err(e) => {
            run.error(format!("run failed: {e}"));
            "failed"
        }
        Ok(()) if run.failed > 0 => "partial",
        Ok(()) => "succeeded",
    };
    runs::save(&shared.pool, &mut run, Some(status)).await?;
    metrics::counter!("relais_connector_run_records_total", "service" => crate::SERVICE, "family" => family.to_owned(), "outcome" => "applied").increment(run.applied as u64);
    metrics::counter!("relais_connector_run_records_total", "service" => crate::SERVICE, "family" => family.to_owned(), "outcome" => "failed").increment(run.failed as u64);
    tracing::info!(
        connection = %c.name, family, status, total = run.total, applied = run.applied,
        skipped = run.skipped, failed = run.failed, parked = run.parked,
        ms = started.elapsed().as_millis() as u64,
        "sync run finished"
    );
    if let Some(p) = &report.progress {
        let _ = p.send(run.clone()).await;
    }
    Ok(run)
}

struct Reporter<'a> {
    shared: &'a Shared,
    progress: Option<mpsc::Sender<Run>>,
}

impl Reporter<'_> {
    /// Saves the counts (the heartbeat) and tells the caller, if still there.
    async fn send(&mut self, run: &mut Run) {
        if let Err(e) = runs::save(&self.shared.pool, run, None).await {
            tracing::warn!(error = %e, "run progress not saved");
        }
        if let Some(p) = &self.progress
            && p.send(run.clone()).await.is_err()
        {
            // The caller went away; the run goes on.
            self.progress = None;
        }
    }
}

async fn cursor(shared: &Shared, c: &Connection, family: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "select changed_up_to from cursors where connection_id = $1 and family = $2",
    )
    .bind(c.id)
    .bind(family)
    .fetch_optional(&shared.pool)
    .await?
    .flatten())
}

async fn set_cursor(
    shared: &Shared,
    c: &Connection,
    family: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "insert into cursors (connection_id, family, changed_up_to) values ($1, $2, $3)
         on conflict (connection_id, family) do update
         set changed_up_to = greatest(cursors.changed_up_to, excluded.changed_up_to)",
    )
    .bind(c.id)
    .bind(family)
    .bind(at)
    .execute(&shared.pool)
    .await?;
    Ok(())
}

/// Reads what changed (everything with `full`), a page at a time, applies
/// each page, and moves the object's cursor up to the newest record read.
/// A record that failed is parked (parked.rs) and the cursor goes past it;
/// an ERP that cannot be read back by id (files) keeps the cursor before
/// it instead, so the next run reads it again.
async fn pull(
    shared: &Shared,
    c: &Connection,
    object: Object,
    full: bool,
    run: &mut Run,
    report: &mut Reporter<'_>,
) -> Result<()> {
    let erp = shared
        .erps
        .get(c, shared.push.erp_timeout)
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    // Parked records first, each read again by id (an ERP of files cannot
    // be: its pull stops before a failed record instead).
    let mut parking = if erp.reads_back() {
        let p = parked::retry(shared, c, &erp, object, run).await?;
        report.send(run).await;
        Some(p)
    } else {
        None
    };
    let since = if full {
        None
    } else {
        cursor(shared, c, object.cursor())
            .await?
            .map(|t| t - Duration::seconds(OVERLAP_SECS))
    };
    // Pages are read by change time, not by offset: the next page starts
    // just before the last record read (the ERP's `updated_since`), so a
    // record changed during the run (moved to the end of the list) cannot
    // make another slide onto a page already read. Records at the boundary
    // come twice and are handled once; offsets only step through records
    // that share one instant.
    let mut from = since;
    let mut page = 1;
    // An ERP that lists by id (Tryton) keeps one `since` for the run; a
    // record it changes behind the page being read comes at the next run,
    // as the cursor then stops where this run started.
    let by_id = erp.pages_by_id();
    let started = Utc::now();
    // The ERP's own newest change time when the run began (its clock).
    let mut high_water: Option<DateTime<Utc>> = None;
    let mut listed = 0;
    let mut seen: std::collections::HashSet<(String, i64)> = std::collections::HashSet::new();
    let mut newest: Option<DateTime<Utc>> = None;
    let mut oldest_failed: Option<DateTime<Utc>> = None;
    let base_total = run.total;
    // Lines the ERP sent that could not be read (a CSV line with a bad
    // field): each is a record of the run, done and failed.
    let mut rejected: i64 = 0;
    loop {
        if shared.stop.is_cancelled() {
            return Err(Error::Unavailable(
                "interrupted: the connector is stopping (the next run goes on from here)".into(),
            ));
        }
        let mut changes = erp
            .changed_since(object.erp_object(), from, page, PAGE)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let last = changes.records.last().map(|r| r.updated_at);
        let more = changes.next.is_some();
        high_water = high_water.or(changes.high_water);
        for reason in std::mem::take(&mut changes.rejected) {
            // Bad input the ERP sent: reported, never retried.
            run.failed += 1;
            run.done += 1;
            rejected += 1;
            run.error(format!("{} rejected: {reason}", object.erp_object()));
        }
        let skipped_ahead = (page - 1) * PAGE;
        changes.records.retain(|r| {
            let key = (r.id.clone(), r.version);
            // Read by id at the start of the run already.
            !parking.as_ref().is_some_and(|p| p.retried.contains(&key)) && seen.insert(key)
        });
        if by_id {
            // Counted once, on the first page.
            listed = listed.max(changes.total);
            run.total = base_total + rejected + listed.max(seen.len() as i64);
        } else {
            run.total = (base_total + seen.len() as i64 - changes.records.len() as i64)
                .max(base_total)
                + rejected
                + (changes.total - skipped_ahead).max(0);
        }
        newest = newest.max(changes.records.iter().map(|r| r.updated_at).max());
        let failed = apply_records(shared, c, object, &changes.records, run).await?;
        match parking.as_mut() {
            Some(p) => {
                p.settle(
                    &shared.pool,
                    c,
                    object.erp_object(),
                    &changes.records,
                    failed,
                    run,
                )
                .await?
            }
            None => {
                for f in failed {
                    run.failed += 1;
                    run.error(format!("{} {}: {}", object.erp_object(), f.id, f.why));
                    oldest_failed = Some(oldest_failed.map_or(f.at, |o| o.min(f.at)));
                }
            }
        }
        report.send(run).await;
        if !more {
            break;
        }
        if by_id {
            page = changes.next.unwrap_or(page + 1);
            continue;
        }
        match last.map(|t| t - Duration::milliseconds(1)) {
            Some(next_from) if Some(next_from) > from => {
                from = Some(next_from);
                page = 1;
            }
            // A full page within one instant: step through it.
            _ => page += 1,
        }
    }
    run.total = base_total + rejected + seen.len() as i64;
    // Everything read up to here is in the shop or parked, short of the
    // oldest failure where nothing is parked (read again next time).
    let applied_to = match (oldest_failed, newest) {
        (Some(f), _) => Some(f - Duration::milliseconds(1)),
        (None, n) => n,
    };
    // By id, a record changed behind the page being read is only sure to
    // come next time if the cursor stops where this run started.
    let cursor_at = match (by_id, applied_to) {
        // The ERP's newest change when the run began (its own clock), else
        // this run's start by ours.
        (true, Some(t)) => Some(t.min(high_water.unwrap_or(started))),
        (_, t) => t,
    };
    if let Some(at) = cursor_at {
        set_cursor(shared, c, object.cursor(), at).await?;
    }
    // With no failure, everything handed over is in, records or not (an
    // exchange file of bad lines only).
    let handed_to = match oldest_failed {
        Some(_) => applied_to,
        None => Some(applied_to.map_or(started, |t| t.max(started))),
    };
    if let Some(at) = handed_to {
        // Files handed over up to there can go (a file exchange archives
        // them); a failure to move one only means it is read again.
        if let Err(e) = erp.acknowledge(object.erp_object(), at).await {
            run.error(format!("{}: {e}", object.erp_object()));
        }
    }
    Ok(())
}

/// Every shop record of the family written to the ERP now, page by page.
async fn transfer(
    shared: &Shared,
    c: &Connection,
    family: &str,
    run: &mut Run,
    report: &mut Reporter<'_>,
) -> Result<()> {
    let erp = shared
        .erps
        .get(c, shared.push.erp_timeout)
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let push = Push {
        shared,
        c,
        erp: &erp,
    };
    let mut token = String::new();
    loop {
        if shared.stop.is_cancelled() {
            return Err(Error::Unavailable(
                "interrupted: the connector is stopping".into(),
            ));
        }
        let mut outcomes: Vec<(String, std::result::Result<(), PushError>)> = Vec::new();
        let next = if family == "customers" {
            let (page, next) = shared
                .peers
                .customers(c.tenant, token)
                .await
                .map_err(peer)?;
            for customer in page {
                if customer.origin == c.origin() {
                    continue;
                }
                let r = push.customer(&customer).await.map(drop);
                outcomes.push((format!("customer {}", customer.id), r));
            }
            next
        } else {
            let (page, next) = shared.peers.workers(c.tenant, token).await.map_err(peer)?;
            for worker in page {
                if worker.origin == c.origin() {
                    continue;
                }
                let r = push.worker(&worker).await.map(drop);
                outcomes.push((format!("worker {}", worker.id), r));
            }
            next
        };
        for (what, r) in outcomes {
            run.total += 1;
            run.done += 1;
            match r {
                Ok(()) => run.applied += 1,
                Err(e) => {
                    run.failed += 1;
                    run.error(format!("{what}: {e}"));
                }
            }
        }
        report.send(run).await;
        if next.is_empty() {
            return Ok(());
        }
        token = next;
    }
}
