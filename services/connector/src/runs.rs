//! Runs (every pull or batch transfer, with counts, errors and duration)
//! and conflicts (records changed on both sides since the last sync).

use chrono::{DateTime, Utc};
use relais_platform::{
    context::timestamp,
    error::{Error, Result},
};
use relais_proto::connector as pb;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::connections::{Connection, Policy};

/// At most this many error lines are kept per run.
const MAX_ERRORS: usize = 200;

/// A record of a page that could not be applied, and why.
pub struct Failed {
    pub id: String,
    pub at: DateTime<Utc>,
    pub why: String,
}

#[derive(Clone, Debug)]
pub struct Run {
    pub id: Uuid,
    pub connection: Uuid,
    pub family: String,
    pub trigger: String,
    pub status: &'static str,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub applied: i64,
    pub skipped: i64,
    /// Records of the family parked when the run ended (pull/parked.rs).
    pub parked: i64,
    pub errors: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Run {
    pub fn error(&mut self, line: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(line);
        }
    }

    pub fn to_pb(&self) -> pb::Run {
        let status = match self.status {
            "running" => pb::RunStatus::Running,
            "succeeded" => pb::RunStatus::Succeeded,
            "partial" => pb::RunStatus::Partial,
            _ => pb::RunStatus::Failed,
        };
        let end = self.finished_at.unwrap_or_else(Utc::now);
        pb::Run {
            id: self.id.to_string(),
            connection_id: self.connection.to_string(),
            family: self.family.clone(),
            trigger: self.trigger.clone(),
            status: status as i32,
            total: self.total,
            done: self.done,
            failed: self.failed,
            errors: self.errors.clone(),
            started_at: Some(timestamp(self.started_at)),
            finished_at: self.finished_at.map(timestamp),
            duration_ms: (end - self.started_at).num_milliseconds(),
            applied: self.applied,
            skipped: self.skipped,
            parked: self.parked,
        }
    }
}

fn status(s: &str) -> &'static str {
    match s {
        "running" => "running",
        "succeeded" => "succeeded",
        "partial" => "partial",
        _ => "failed",
    }
}

/// A new run of `family`, unless one is running: FAILED_PRECONDITION. A
/// run whose process died (no heartbeat, saved every page, for a minute)
/// is closed as interrupted first.
pub async fn start(pool: &PgPool, c: &Connection, family: &str, trigger: &str) -> Result<Run> {
    sqlx::query(
        "update runs set status = 'failed', finished_at = now(),
             errors = errors || '[\"interrupted: the run stopped before its end\"]'::jsonb
         where connection_id = $1 and family = $2 and status = 'running'
           and heartbeat_at < now() - interval '1 minute'",
    )
    .bind(c.id)
    .bind(family)
    .execute(pool)
    .await?;
    let id = Uuid::now_v7();
    let started: DateTime<Utc> = sqlx::query_scalar(
        "insert into runs (id, tenant_id, connection_id, family, trigger, status)
         values ($1, $2, $3, $4, $5, 'running') returning started_at",
    )
    .bind(id)
    .bind(c.tenant)
    .bind(c.id)
    .bind(family)
    .bind(trigger)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        relais_platform::error::on_constraint(e, "runs_one_running", || {
            Error::FailedPrecondition(format!("a {family} run of {} is already running", c.name))
        })
    })?;
    Ok(Run {
        id,
        connection: c.id,
        family: family.to_owned(),
        trigger: trigger.to_owned(),
        status: "running",
        total: 0,
        done: 0,
        failed: 0,
        applied: 0,
        skipped: 0,
        parked: 0,
        errors: Vec::new(),
        started_at: started,
        finished_at: None,
    })
}

/// Saves the counts (and the heartbeat); with `finish`, the final status.
pub async fn save(pool: &PgPool, run: &mut Run, finish: Option<&'static str>) -> Result<()> {
    if let Some(s) = finish {
        run.status = s;
        run.finished_at = Some(Utc::now());
    }
    sqlx::query(
        "update runs set status = $2, total = $3, done = $4, failed = $5, applied = $6,
             skipped = $7, errors = $8, heartbeat_at = now(), finished_at = $9, parked = $10
         where id = $1",
    )
    .bind(run.id)
    .bind(run.status)
    .bind(run.total)
    .bind(run.done)
    .bind(run.failed)
    .bind(run.applied)
    .bind(run.skipped)
    .bind(serde_json::to_value(&run.errors).map_err(anyhow::Error::from)?)
    .bind(run.finished_at)
    .bind(run.parked)
    .execute(pool)
    .await?;
    Ok(())
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    serde_json::Value,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    i64,
);

/// Runs of a connection, newest first, after the `before` run id.
pub async fn list(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Run>> {
    let rows: Vec<Row> = sqlx::query_as(
        "select id, connection_id, family, trigger, status, total, done, failed, applied, skipped,
                errors, started_at, finished_at, parked
         from runs where connection_id = $1 and ($2::uuid is null or id < $2)
         order by id desc limit $3",
    )
    .bind(connection)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Run {
            id: r.0,
            connection: r.1,
            family: r.2,
            trigger: r.3,
            status: status(&r.4),
            total: r.5,
            done: r.6,
            failed: r.7,
            applied: r.8,
            skipped: r.9,
            parked: r.13,
            errors: serde_json::from_value(r.10).unwrap_or_default(),
            started_at: r.11,
            finished_at: r.12,
        })
        .collect())
}

/// When the family last ran (any trigger), for the scheduler.
pub async fn last_started(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    family: &str,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "select max(started_at) from runs where connection_id = $1 and family = $2",
    )
    .bind(connection)
    .bind(family)
    .fetch_one(db)
    .await?)
}

/// What a conflict (or an ERP edit written over) is about.
pub struct Seen<'a> {
    pub entity: &'a str,
    pub internal_id: &'a str,
    pub external_id: &'a str,
    pub shop_version: i64,
    pub erp_version: i64,
    /// erp, shop, or None while it waits for staff.
    pub winner: Option<&'a str>,
    /// conflict or erp_overwritten.
    pub kind: &'a str,
    pub fields: &'a [crate::merge::FieldConflict],
    /// The domain rule that decided it before the policy.
    pub rule: Option<&'a str>,
}

/// Records a conflict; its id.
pub async fn record_conflict(
    db: &mut sqlx::PgConnection,
    c: &Connection,
    seen: &Seen<'_>,
) -> Result<Uuid> {
    tracing::warn!(
        entity = seen.entity,
        internal_id = seen.internal_id,
        external_id = seen.external_id,
        kind = seen.kind,
        fields = ?seen.fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
        winner = ?seen.winner,
        rule = ?seen.rule,
        "changed on both sides"
    );
    let fields: Vec<serde_json::Value> = seen
        .fields
        .iter()
        .map(|f| {
            serde_json::json!({
                "field": f.field, "shop": f.shop, "erp": f.erp, "agreed": f.agreed,
            })
        })
        .collect();
    let fields = serde_json::Value::Array(fields);
    // A merge tried again after a failed write sees the same sides: its
    // conflict is the one recorded already.
    let same: Option<Uuid> = if seen.fields.is_empty() {
        // Nothing to tell two of them apart: each is its own.
        None
    } else {
        sqlx::query_scalar(
            "select id from (select id, kind, fields, winner from conflicts
                             where connection_id = $1 and entity = $2 and internal_id = $3
                             order by detected_at desc limit 1) last
             where kind = $4 and fields = $5 and winner is not distinct from $6",
        )
        .bind(c.id)
        .bind(seen.entity)
        .bind(seen.internal_id)
        .bind(seen.kind)
        .bind(&fields)
        .bind(seen.winner)
        .fetch_optional(&mut *db)
        .await?
    };
    if let Some(id) = same {
        return Ok(id);
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into conflicts (id, tenant_id, connection_id, entity, internal_id, external_id,
             policy, winner, shop_version, erp_version, kind, fields, rule)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id)
    .bind(c.tenant)
    .bind(c.id)
    .bind(seen.entity)
    .bind(seen.internal_id)
    .bind(seen.external_id)
    .bind(c.policy().as_str())
    .bind(seen.winner)
    .bind(seen.shop_version)
    .bind(seen.erp_version)
    .bind(seen.kind)
    .bind(fields)
    .bind(seen.rule)
    .execute(&mut *db)
    .await?;
    metrics::counter!("relais_connector_conflicts_total", "service" => crate::SERVICE, "entity" => seen.entity.to_owned(), "kind" => seen.kind.to_owned())
        .increment(1);
    Ok(id)
}

/// A record changed on both sides, as an ERP without field views (files,
/// Tryton's own shapes) shows it: by versions, no fields named.
#[allow(clippy::too_many_arguments)]
pub async fn conflict(
    db: &sqlx::PgPool,
    c: &Connection,
    entity: &str,
    internal_id: &str,
    external_id: &str,
    shop_version: i64,
    erp_version: i64,
    winner: Option<&str>,
) -> Result<()> {
    record_conflict(
        &mut *db.acquire().await?,
        c,
        &Seen {
            entity,
            internal_id,
            external_id,
            shop_version,
            erp_version,
            winner,
            kind: "conflict",
            fields: &[],
            rule: None,
        },
    )
    .await?;
    Ok(())
}

type ConflictRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    DateTime<Utc>,
    Option<String>,
    Option<DateTime<Utc>>,
    String,
    serde_json::Value,
    Option<String>,
);

const CONFLICT_COLUMNS: &str = "id, connection_id, entity, internal_id, external_id, policy,
     winner, shop_version, erp_version, detected_at, resolved_by, resolved_at, kind, fields, rule";

fn json_text(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(v) => v.to_string(),
    }
}

fn conflict_pb(r: ConflictRow) -> pb::Conflict {
    let values =
        r.13.as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|f| pb::FieldValues {
                field: f["field"].as_str().unwrap_or_default().to_owned(),
                shop: json_text(f.get("shop")),
                erp: json_text(f.get("erp")),
                agreed: json_text(f.get("agreed")),
            })
            .collect();
    pb::Conflict {
        id: r.0.to_string(),
        connection_id: r.1.to_string(),
        entity: r.2,
        internal_id: r.3,
        external_id: r.4,
        policy: Policy::parse(&r.5).to_pb() as i32,
        winner: r.6.unwrap_or_default(),
        shop_version: r.7,
        erp_version: r.8,
        detected_at: Some(timestamp(r.9)),
        resolved_by: r.10.unwrap_or_default(),
        resolved_at: r.11.map(timestamp),
        kind: r.12,
        values,
        rule: r.14.unwrap_or_default(),
    }
}

/// A page of the connection's conflicts, newest first (ids are
/// time-ordered), before `before`.
pub async fn conflicts(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    open_only: bool,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<pb::Conflict>> {
    let rows: Vec<ConflictRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CONFLICT_COLUMNS} from conflicts
         where connection_id = $1 and (not $2 or winner is null)
           and ($3::uuid is null or id < $3)
         order by id desc limit $4"
    )))
    .bind(connection)
    .bind(open_only)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(conflict_pb).collect())
}

/// One conflict of the tenant's, locked until the caller's transaction
/// ends (two staff settling it at once: the second finds it settled).
pub async fn conflict_for_update(
    db: impl PgExecutor<'_>,
    tenant: Uuid,
    id: Uuid,
) -> Result<pb::Conflict> {
    let row: Option<ConflictRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CONFLICT_COLUMNS} from conflicts where tenant_id = $1 and id = $2 for update"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(conflict_pb)
        .ok_or_else(|| Error::NotFound(format!("conflict {id}")))
}

/// Staff settled it: `winner`, by whom, now.
pub async fn settle(
    db: impl PgExecutor<'_>,
    id: Uuid,
    winner: &str,
    by: &str,
) -> Result<pb::Conflict> {
    let row: ConflictRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update conflicts set winner = $2, resolved_by = $3, resolved_at = now()
         where id = $1 returning {CONFLICT_COLUMNS}"
    )))
    .bind(id)
    .bind(winner)
    .bind(by)
    .fetch_one(db)
    .await?;
    Ok(conflict_pb(row))
}
