//! Workers (intervenants): contact, photo, provider, skills (catalogue
//! services), weekly availability in their time zone, dated absences.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use relais_domain::schedule::DEFAULT_TIME_ZONE;
use relais_platform::{
    context::{Ctx, timestamp},
    error::{Error, Result, Violations, on_constraint},
    validate,
};
use relais_proto::{
    events::{AbsenceChanged, WorkerChanged},
    planning::{Absence, AvailabilitySource, WeeklySlot, Worker, WorkerFields},
};
use sqlx::PgConnection;
use uuid::Uuid;

const MAX_SKILLS: usize = 200;
const MAX_SLOTS: usize = 50;

/// A weekly slot as stored: ISO weekday and local times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    pub weekday: u32,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

pub struct Input {
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    photo_url: String,
    provider: String,
    skills: Vec<Uuid>,
    availability: Vec<Slot>,
    time_zone: String,
    active: bool,
    external_ref: Option<String>,
    /// The source the caller named (see `source`).
    source: AvailabilitySource,
}

fn time(v: &mut Violations, field: &str, value: &str) -> Option<NaiveTime> {
    let t = NaiveTime::parse_from_str(value.trim(), "%H:%M").ok();
    v.check(t.is_none(), field, "is not a time (HH:MM)");
    t
}

impl Input {
    /// The skills asked for, in the request's order (so that index `i` is
    /// `fields.skill_service_ids[i]`).
    pub fn skills(&self) -> &[Uuid] {
        &self.skills
    }

    pub fn parse(f: Option<&WorkerFields>) -> Result<Self> {
        let f = f.ok_or_else(|| Error::invalid("fields", "is required"))?;
        let mut v = Violations::new();
        let email = validate::email(&mut v, "fields.email", &f.email);
        let phone = validate::phone(&mut v, "fields.phone", &f.phone);
        let photo = f.photo_url.trim();
        v.check(
            !(photo.is_empty() || photo.starts_with("https://") || photo.starts_with("http://"))
                || photo.len() > 2000,
            "fields.photo_url",
            "must be an http(s) URL of at most 2000 characters",
        );
        v.check(
            f.provider.chars().count() > validate::MAX_TEXT,
            "fields.provider",
            "at most 200 characters",
        );
        v.check(
            f.skill_service_ids.len() > MAX_SKILLS,
            "fields.skill_service_ids",
            format!("at most {MAX_SKILLS}"),
        );
        let mut skills = Vec::new();
        for (i, s) in f.skill_service_ids.iter().enumerate() {
            let field = format!("fields.skill_service_ids[{i}]");
            match validate::optional_id(&mut v, &field, s) {
                Some(id) if skills.contains(&id) => v.add(field, "is repeated"),
                Some(id) => skills.push(id),
                None => v.check(s.trim().is_empty(), &field, "is empty"),
            }
        }
        v.check(
            f.availability.len() > MAX_SLOTS,
            "fields.availability",
            format!("at most {MAX_SLOTS} slots"),
        );
        let mut availability: Vec<Slot> = Vec::new();
        for (i, s) in f.availability.iter().enumerate() {
            let field = format!("fields.availability[{i}]");
            let weekday = u32::try_from(s.weekday)
                .ok()
                .filter(|d| (1..=7).contains(d));
            v.check(
                weekday.is_none(),
                &format!("{field}.weekday"),
                "must be 1 (Monday) to 7 (Sunday)",
            );
            let start = time(&mut v, &format!("{field}.start_time"), &s.start_time);
            let end = time(&mut v, &format!("{field}.end_time"), &s.end_time);
            if let (Some(weekday), Some(start), Some(end)) = (weekday, start, end) {
                if end <= start {
                    v.add(format!("{field}.end_time"), "must be after start_time");
                } else if availability
                    .iter()
                    .any(|o| o.weekday == weekday && o.start < end && start < o.end)
                {
                    v.add(field, "overlaps another slot of the same day");
                } else {
                    availability.push(Slot {
                        weekday,
                        start,
                        end,
                    });
                }
            }
        }
        availability.sort_by_key(|s| (s.weekday, s.start));
        let time_zone = if f.time_zone.trim().is_empty() {
            DEFAULT_TIME_ZONE.to_owned()
        } else {
            f.time_zone.trim().to_owned()
        };
        v.check(
            time_zone.parse::<Tz>().is_err(),
            "fields.time_zone",
            "is not an IANA time zone such as Europe/Paris",
        );
        let source = AvailabilitySource::try_from(f.availability_source).unwrap_or_else(|_| {
            v.add(
                "fields.availability_source",
                "must be shop, erp or opening_hours",
            );
            AvailabilitySource::Unspecified
        });
        let external_ref = if f.external_ref.trim().is_empty() {
            None
        } else {
            Some(validate::reference(
                &mut v,
                "fields.external_ref",
                &f.external_ref,
            ))
        };
        let input = Self {
            first_name: validate::name(&mut v, "fields.first_name", &f.first_name),
            last_name: validate::name(&mut v, "fields.last_name", &f.last_name),
            email,
            phone,
            photo_url: photo.to_owned(),
            provider: f.provider.trim().to_owned(),
            skills,
            availability,
            time_zone,
            active: f.active,
            external_ref,
            source,
        };
        v.into_result()?;
        Ok(input)
    }
}

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
