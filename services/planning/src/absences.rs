//! A worker's dated absences.

use chrono::{DateTime, Utc};
use relais_platform::{
    context::{Ctx, timestamp},
    error::{Error, Result},
};
use relais_proto::{events::AbsenceChanged, planning::Absence};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::workers::get;

fn absence(
    id: Uuid,
    worker: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    reason: String,
) -> Absence {
    Absence {
        id: id.to_string(),
        worker_id: worker.to_string(),
        start: Some(timestamp(start)),
        end: Some(timestamp(end)),
        reason,
    }
}

pub async fn add_absence(
    conn: &mut PgConnection,
    ctx: &Ctx,
    worker: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    reason: &str,
) -> Result<Absence> {
    get(conn, ctx.tenant, worker).await?;
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into absences (tenant_id, id, worker_id, during, reason)
         values ($1, $2, $3, tstzrange($4, $5), $6)",
    )
    .bind(ctx.tenant)
    .bind(id)
    .bind(worker)
    .bind(start)
    .bind(end)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    let a = absence(id, worker, start, end, reason.to_owned());
    let meta = ctx.meta(worker, 0);
    let payload = AbsenceChanged {
        meta: Some(meta.clone()),
        absence: Some(a.clone()),
        present: true,
    };
    ctx.emit(conn, "worker", "absence_added", &meta, &payload)
        .await?;
    Ok(a)
}

pub async fn remove_absence(
    conn: &mut PgConnection,
    ctx: &Ctx,
    worker: Uuid,
    id: Uuid,
) -> Result<()> {
    let row: Option<(DateTime<Utc>, DateTime<Utc>, String)> = sqlx::query_as(
        "delete from absences where tenant_id = $1 and worker_id = $2 and id = $3
         returning lower(during), upper(during), reason",
    )
    .bind(ctx.tenant)
    .bind(worker)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (start, end, reason) = row.ok_or_else(|| Error::not_found(format!("absence {id}")))?;
    let meta = ctx.meta(worker, 0);
    let payload = AbsenceChanged {
        meta: Some(meta.clone()),
        absence: Some(absence(id, worker, start, end, reason)),
        present: false,
    };
    ctx.emit(conn, "worker", "absence_removed", &meta, &payload)
        .await?;
    Ok(())
}

pub async fn absences(conn: &mut PgConnection, tenant: Uuid, worker: Uuid) -> Result<Vec<Absence>> {
    get(conn, tenant, worker).await?;
    let rows: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>, String)> = sqlx::query_as(
        "select id, lower(during), upper(during), reason from absences
         where tenant_id = $1 and worker_id = $2 order by lower(during)",
    )
    .bind(tenant)
    .bind(worker)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, s, e, r)| absence(id, worker, s, e, r))
        .collect())
}
