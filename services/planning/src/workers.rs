//! Workers (intervenants): contact, photo, provider, skills (catalogue
//! services), weekly availability in their time zone, dated absences.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use relais_platform::{
    context::{Ctx, timestamp},
    error::{Error, Result, on_constraint},
    validate,
};
use relais_proto::{
    events::WorkerChanged,
    planning::{AvailabilitySource, WeeklySlot, Worker, WorkerFields},
};
use sqlx::PgConnection;
use uuid::Uuid;

pub use crate::worker_input::{Input, Slot};

const COLS: &str =
    "id, first_name, last_name, email, phone, photo_url, provider, skills, availability,
    time_zone, active, external_ref, origin, version, created_at, updated_at, availability_source";

fn source_name(s: AvailabilitySource) -> &'static str {
    match s {
        AvailabilitySource::Erp => "erp",
        AvailabilitySource::OpeningHours => "opening_hours",
        AvailabilitySource::Shop | AvailabilitySource::Unspecified => "shop",
    }
}

fn source_of(name: &str) -> AvailabilitySource {
    match name {
        "erp" => AvailabilitySource::Erp,
        "opening_hours" => AvailabilitySource::OpeningHours,
        _ => AvailabilitySource::Shop,
    }
}

/// Where the availability written now comes from. The connector (an
/// `erp:` origin) knows, and says so; planning cannot tell ERP hours from
/// opening hours. A shop caller's hours are the shop's once they change
/// them; a shop edit that leaves them as they were (a worker read and
/// written back with a new phone) keeps the source, so an ERP worker's
/// opening hours are not passed off as set in the shop.
fn resolve_source(
    origin: &str,
    input: &Input,
    stored: Option<(&[Slot], AvailabilitySource)>,
) -> AvailabilitySource {
    if origin.starts_with("erp") {
        return match input.source {
            AvailabilitySource::Unspecified => AvailabilitySource::Erp,
            named => named,
        };
    }
    match stored {
        Some((slots, source)) if slots == input.availability.as_slice() => source,
        _ => AvailabilitySource::Shop,
    }
}

#[derive(sqlx::FromRow)]
pub struct Row {
    id: Uuid,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    photo_url: String,
    provider: String,
    skills: Vec<Uuid>,
    availability: serde_json::Value,
    time_zone: String,
    active: bool,
    external_ref: Option<String>,
    origin: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    availability_source: String,
}

pub fn slots(v: &serde_json::Value) -> Vec<Slot> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

impl From<Row> for Worker {
    fn from(r: Row) -> Self {
        Worker {
            id: r.id.to_string(),
            fields: Some(WorkerFields {
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                phone: r.phone,
                photo_url: r.photo_url,
                provider: r.provider,
                skill_service_ids: r.skills.iter().map(Uuid::to_string).collect(),
                availability: slots(&r.availability)
                    .into_iter()
                    .map(|s| WeeklySlot {
                        weekday: s.weekday as i32,
                        start_time: s.start.format("%H:%M").to_string(),
                        end_time: s.end.format("%H:%M").to_string(),
                    })
                    .collect(),
                time_zone: r.time_zone,
                active: r.active,
                external_ref: r.external_ref.unwrap_or_default(),
                availability_source: source_of(&r.availability_source) as i32,
            }),
            origin: r.origin,
            version: r.version,
            created_at: Some(timestamp(r.created_at)),
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

fn db_error(e: sqlx::Error) -> Error {
    on_constraint(e, "workers_tenant_id_origin_external_ref_key", || {
        Error::AlreadyExists(
            "a worker with this external_ref already exists for this origin".into(),
        )
    })
}

async fn publish(conn: &mut PgConnection, ctx: &Ctx, event: &str, worker: &Worker) -> Result<()> {
    let id = Uuid::parse_str(&worker.id).unwrap_or_default();
    let meta = ctx.meta(id, worker.version);
    let payload = WorkerChanged {
        meta: Some(meta.clone()),
        worker: Some(worker.clone()),
    };
    ctx.emit(conn, "worker", event, &meta, &payload).await?;
    Ok(())
}

fn availability_json(input: &Input) -> Result<serde_json::Value> {
    serde_json::to_value(&input.availability)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("availability: {e}")))
}

pub async fn create(conn: &mut PgConnection, ctx: &Ctx, input: Input) -> Result<Worker> {
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into workers (tenant_id, id, first_name, last_name, email, phone, photo_url, provider,
             skills, availability, time_zone, active, external_ref, origin, availability_source)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(Uuid::now_v7())
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(&input.photo_url)
    .bind(&input.provider)
    .bind(&input.skills)
    .bind(availability_json(&input)?)
    .bind(&input.time_zone)
    .bind(input.active)
    .bind(&input.external_ref)
    .bind(&ctx.origin)
    .bind(source_name(resolve_source(&ctx.origin, &input, None)))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    let worker = Worker::from(row);
    publish(conn, ctx, "created", &worker).await?;
    Ok(worker)
}

pub async fn update(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    expected_version: i64,
    input: Input,
) -> Result<Worker> {
    let stored: Option<(i64, serde_json::Value, String)> = sqlx::query_as(
        "select version, availability, availability_source from workers
         where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (version, availability, source) =
        stored.ok_or_else(|| Error::not_found(format!("worker {id}")))?;
    validate::expected_version(expected_version, version)?;
    let source = resolve_source(
        &ctx.origin,
        &input,
        Some((&slots(&availability), source_of(&source))),
    );
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update workers set first_name = $3, last_name = $4, email = $5, phone = $6, photo_url = $7,
             provider = $8, skills = $9, availability = $10, time_zone = $11, active = $12,
             external_ref = $13, origin = $14, availability_source = $15, version = version + 1,
             updated_at = now()
         where tenant_id = $1 and id = $2 returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(id)
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(&input.photo_url)
    .bind(&input.provider)
    .bind(&input.skills)
    .bind(availability_json(&input)?)
    .bind(&input.time_zone)
    .bind(input.active)
    .bind(&input.external_ref)
    .bind(&ctx.origin)
    .bind(source_name(source))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    let worker = Worker::from(row);
    publish(conn, ctx, "updated", &worker).await?;
    Ok(worker)
}

pub async fn get(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Worker> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from workers where tenant_id = $1 and id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(Worker::from)
        .ok_or_else(|| Error::not_found(format!("worker {id}")))
}

/// The workers with these ids, in id order.
pub async fn get_many(conn: &mut PgConnection, tenant: Uuid, ids: &[Uuid]) -> Result<Vec<Worker>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from workers where tenant_id = $1 and id = any($2) order by id"
    )))
    .bind(tenant)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Worker::from).collect())
}

pub async fn list(
    conn: &mut PgConnection,
    tenant: Uuid,
    skill: Option<Uuid>,
    active_only: bool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Worker>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from workers
         where tenant_id = $1 and ($2::uuid is null or $2 = any(skills)) and (not $3 or active)
           and ($4::uuid is null or id > $4)
         order by id limit $5"
    )))
    .bind(tenant)
    .bind(skill)
    .bind(active_only)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Worker::from).collect())
}

/// Every active worker with `skill`, in id order, with what assignment
/// needs to know of them.
pub async fn qualified(
    conn: &mut PgConnection,
    tenant: Uuid,
    skill: Uuid,
) -> Result<Vec<(Uuid, Vec<Slot>, Tz)>> {
    let rows: Vec<(Uuid, serde_json::Value, String)> = sqlx::query_as(
        "select id, availability, time_zone from workers
         where tenant_id = $1 and active and $2 = any(skills) order by id",
    )
    .bind(tenant)
    .bind(skill)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, a, tz)| {
            (
                id,
                slots(&a),
                tz.parse().unwrap_or(chrono_tz::Europe::Paris),
            )
        })
        .collect())
}

/// What assigning work to a worker needs to know of them.
pub struct AssignmentInfo {
    pub name: String,
    pub active: bool,
    pub skills: Vec<Uuid>,
    pub slots: Vec<Slot>,
    pub tz: Tz,
}

pub async fn assignment_info(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<AssignmentInfo>> {
    let row: Option<(String, String, bool, Vec<Uuid>, serde_json::Value, String)> = sqlx::query_as(
        "select first_name, last_name, active, skills, availability, time_zone from workers
         where tenant_id = $1 and id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(
        row.map(|(first, last, active, skills, a, tz)| AssignmentInfo {
            name: format!("{first} {last}"),
            active,
            skills,
            slots: slots(&a),
            tz: tz.parse().unwrap_or(chrono_tz::Europe::Paris),
        }),
    )
}

pub async fn time_zone(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Tz> {
    Ok(assignment_info(conn, tenant, id)
        .await?
        .map_or(chrono_tz::Europe::Paris, |i| i.tz))
}
