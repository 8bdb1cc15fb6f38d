//! Parked records: an ERP record a pull could not apply (a certificate
//! whose customer is not bound, an article the catalogue refuses) is kept
//! aside in `parked_records` with why, and the family's cursor moves on
//! past it, so one bad record never holds back the records after it. Each
//! run of the family first reads its parked records again from the ERP, by
//! id, and applies each alone: applied, it leaves the list; still failing,
//! it stays with the new reason; gone from the ERP, it leaves the list with
//! a line in the run. A parked record that comes again in the incremental
//! read and applies leaves the list too.
//!
//! Only for an ERP that can be read back by id: a file exchange cannot, so
//! its pull stops before a failed record instead (its file is read again).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use relais_platform::error::{Error, Result};
use sqlx::PgPool;

use super::apply::{Object, apply_records};
use crate::{
    adapter::{ErpAdapter, ErpError, ErpRecord},
    adapters::Erp,
    connections::Connection,
    runs::{Failed, Run},
    shared::Shared,
};

/// The parked records of one object during a run.
#[derive(Default)]
pub struct Parking {
    /// Parked when the run began: failing again is not news.
    before: HashSet<String>,
    /// Parked now.
    now: HashSet<String>,
    /// Read by id at the start of the run (id, version): the incremental
    /// read does not apply them a second time.
    pub retried: HashSet<(String, i64)>,
}

/// A parked record as stored.
#[derive(sqlx::FromRow)]
struct ParkedRow {
    external_id: String,
    reason: String,
    attempts: i32,
    parked_at: DateTime<Utc>,
}

/// Parks `id` (again): the reason is the latest, attempts count the tries.
async fn park(pool: &PgPool, c: &Connection, object: &str, id: &str, why: &str) -> Result<()> {
    sqlx::query(
        "insert into parked_records (connection_id, object, external_id, reason)
         values ($1, $2, $3, $4)
         on conflict (connection_id, object, external_id) do update
         set reason = excluded.reason, attempts = parked_records.attempts + 1,
             last_tried_at = now()",
    )
    .bind(c.id)
    .bind(object)
    .bind(id)
    .bind(why)
    .execute(pool)
    .await?;
    Ok(())
}

async fn unpark(pool: &PgPool, c: &Connection, object: &str, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "delete from parked_records
         where connection_id = $1 and object = $2 and external_id = any($3)",
    )
    .bind(c.id)
    .bind(object)
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// How many records of `objects` are parked.
pub async fn count(pool: &PgPool, c: &Connection, objects: &[&str]) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from parked_records where connection_id = $1 and object = any($2)",
    )
    .bind(c.id)
    .bind(objects)
    .fetch_one(pool)
    .await?)
}

/// Reads each parked record of `object` again from the ERP and applies it
/// alone, before the incremental read. An ERP that does not answer fails
/// the run, as a page would.
pub async fn retry(
    shared: &Shared,
    c: &Connection,
    erp: &Erp,
    object: Object,
    run: &mut Run,
) -> Result<Parking> {
    let name = object.erp_object();
    let parked: Vec<ParkedRow> = sqlx::query_as(
        "select external_id, reason, attempts, parked_at from parked_records
         where connection_id = $1 and object = $2 order by parked_at, external_id",
    )
    .bind(c.id)
    .bind(name)
    .fetch_all(&shared.pool)
    .await?;
    let mut parking = Parking {
        before: parked.iter().map(|p| p.external_id.clone()).collect(),
        ..Default::default()
    };
    for ParkedRow {
        external_id: id,
        reason,
        attempts,
        parked_at: since,
    } in parked
    {
        if shared.stop.is_cancelled() {
            return Err(Error::Unavailable(
                "interrupted: the connector is stopping (the next run goes on from here)".into(),
            ));
        }
        run.total += 1;
        let since = since.format("%Y-%m-%d %H:%M UTC");
        let rec: ErpRecord = match erp.get(name, &id).await {
            Ok(rec) => rec,
            Err(ErpError::NotFound(_)) => {
                run.done += 1;
                unpark(&shared.pool, c, name, std::slice::from_ref(&id)).await?;
                run.error(format!(
                    "{name} {id}: gone from the ERP, no longer parked (parked since {since}: {reason})"
                ));
                continue;
            }
            Err(e @ ErpError::Unavailable(_)) => return Err(Error::Unavailable(e.to_string())),
            // The ERP will not give this one: it stays parked, the run goes on.
            Err(e) => {
                run.done += 1;
                park(&shared.pool, c, name, &id, &e.to_string()).await?;
                parking.now.insert(id.clone());
                run.error(format!(
                    "{name} {id}: {e} (parked since {since}, {} tries)",
                    attempts + 1
                ));
                continue;
            }
        };
        parking.retried.insert((rec.id.clone(), rec.version));
        let failed = apply_records(shared, c, object, std::slice::from_ref(&rec), run).await?;
        match failed.into_iter().next() {
            None => unpark(&shared.pool, c, name, std::slice::from_ref(&id)).await?,
            Some(f) => {
                park(&shared.pool, c, name, &id, &f.why).await?;
                parking.now.insert(id.clone());
                run.error(format!(
                    "{name} {id}: {} (parked since {since}, {} tries)",
                    f.why,
                    attempts + 1
                ));
            }
        }
    }
    Ok(parking)
}

impl Parking {
    /// After a page of the incremental read: each record that failed is
    /// parked (news, counted failed, unless it was parked before the run);
    /// a parked one that applied now leaves the list.
    pub async fn settle(
        &mut self,
        pool: &PgPool,
        c: &Connection,
        object: &str,
        records: &[ErpRecord],
        failed: Vec<Failed>,
        run: &mut Run,
    ) -> Result<()> {
        let failed_ids: HashSet<&str> = failed.iter().map(|f| f.id.as_str()).collect();
        let fine: Vec<String> = records
            .iter()
            .filter(|r| self.now.contains(&r.id) && !failed_ids.contains(r.id.as_str()))
            .map(|r| r.id.clone())
            .collect();
        unpark(pool, c, object, &fine).await?;
        for id in &fine {
            self.now.remove(id);
        }
        for f in failed {
            park(pool, c, object, &f.id, &f.why).await?;
            if self.before.contains(&f.id) {
                run.error(format!("{object} {}: {} (still parked)", f.id, f.why));
            } else {
                run.failed += 1;
                run.error(format!(
                    "{object} {}: {} (parked: read again at each run)",
                    f.id, f.why
                ));
            }
            self.now.insert(f.id);
        }
        Ok(())
    }
}
