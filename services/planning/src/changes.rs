//! Changes to planned interventions from either side (the shop's
//! back-office, or the ERP through the connector): reschedule, reassign,
//! cancel, mark done; for one intervention, it and the following ones of
//! its booking, or the whole booking. A change that would make a clash is
//! refused whole, naming it.

use chrono::{DateTime, Duration, LocalResult, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use relais_domain::schedule::CUSTOMER_CHANGE_NOTICE_HOURS;
use relais_platform::{
    context::Ctx,
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::planning::{
    ChangeInterventionsRequest, ChangeScope, Intervention,
    change_interventions_request::Change as Pb,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    calendar::Calendar,
    interventions::{self, COLS, Row},
    ledger, workers,
};

/// Where an intervention goes: its worker, start and end.
type Placement = (Option<Uuid>, DateTime<Utc>, DateTime<Utc>);

const MIN_MINUTES: i32 = 30;
const MAX_MINUTES: i32 = 720;
/// How far ahead an intervention may be moved: the booking horizon.
const MAX_RESCHEDULE_DAYS: i64 = relais_domain::schedule::DEFAULT_HORIZON_DAYS as i64;

pub enum Kind {
    Reschedule {
        start: Option<DateTime<Utc>>,
        local_start: Option<NaiveTime>,
        minutes: Option<i32>,
    },
    Reassign(Option<Uuid>),
    Cancel(String),
    Done(Option<i32>),
}

pub struct Change {
    id: Uuid,
    scope: ChangeScope,
    expected_version: i64,
    kind: Kind,
}

impl Change {
    /// What a customer may do to their own interventions: move or cancel
    /// them (within the notice, checked by [`apply`]), not assign a worker
    /// nor record work done.
    pub fn customer_may(&self) -> Result<()> {
        match self.kind {
            // A longer intervention is more work at the booked price: the
            // office decides that.
            Kind::Reschedule {
                minutes: Some(_), ..
            } => Err(Error::PermissionDenied(
                "a customer may move an intervention, not change its length".into(),
            )),
            Kind::Reschedule { .. } | Kind::Cancel(_) => Ok(()),
            Kind::Reassign(_) | Kind::Done(_) => Err(Error::PermissionDenied(
                "a customer may move or cancel an intervention, not assign it or mark it done"
                    .into(),
            )),
        }
    }

    /// The intervention named.
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn parse(r: &ChangeInterventionsRequest) -> Result<Self> {
        let mut v = Violations::new();
        v.check(
            r.intervention_id.trim().is_empty(),
            "intervention_id",
            "is required",
        );
        let id = validate::optional_id(&mut v, "intervention_id", &r.intervention_id);
        let scope = ChangeScope::try_from(r.scope).unwrap_or(ChangeScope::Unspecified);
        v.check(
            scope == ChangeScope::Unspecified,
            "scope",
            "choose one, following or all",
        );
        let minutes = |v: &mut Violations, field: &str, m: i32| {
            v.check(
                m != 0 && !(MIN_MINUTES..=MAX_MINUTES).contains(&m),
                field,
                format!("must be between {MIN_MINUTES} and {MAX_MINUTES} minutes"),
            );
            (m != 0).then_some(m)
        };
        let kind = match &r.change {
            None => {
                v.add("change", "choose reschedule, reassign, cancel or done");
                None
            }
            Some(Pb::Reschedule(x)) => {
                let start = x.start.as_ref().map(|t| {
                    let t = DateTime::from_timestamp(
                        t.seconds,
                        u32::try_from(t.nanos).unwrap_or(u32::MAX),
                    );
                    v.check(t.is_none(), "reschedule.start", "is not a valid time");
                    // Within the planning's horizon (and far from the
                    // calendar's end, where adding the length overflows).
                    let horizon = Utc::now() + Duration::days(MAX_RESCHEDULE_DAYS);
                    v.check(
                        t.is_some_and(|t| t > horizon),
                        "reschedule.start",
                        format!("is more than {MAX_RESCHEDULE_DAYS} days ahead"),
                    );
                    t
                });
                let local_start = if x.local_start_time.trim().is_empty() {
                    None
                } else {
                    let t = NaiveTime::parse_from_str(x.local_start_time.trim(), "%H:%M").ok();
                    v.check(
                        t.is_none(),
                        "reschedule.local_start_time",
                        "is not a time (HH:MM)",
                    );
                    t
                };
                let minutes = minutes(&mut v, "reschedule.duration_minutes", x.duration_minutes);
                match scope {
                    ChangeScope::One => {
                        v.check(
                            start.is_none(),
                            "reschedule.start",
                            "is required for one intervention",
                        );
                        v.check(
                            local_start.is_some(),
                            "reschedule.local_start_time",
                            "is for the following or all: give start",
                        );
                    }
                    _ => {
                        v.check(
                            start.is_some(),
                            "reschedule.start",
                            "is for one intervention: give local_start_time",
                        );
                        v.check(
                            local_start.is_none() && minutes.is_none(),
                            "reschedule.local_start_time",
                            "give a new start time or duration",
                        );
                    }
                }
                Some(Kind::Reschedule {
                    start: start.flatten(),
                    local_start,
                    minutes,
                })
            }
            Some(Pb::Reassign(x)) => Some(Kind::Reassign(validate::optional_id(
                &mut v,
                "reassign.worker_id",
                &x.worker_id,
            ))),
            Some(Pb::Cancel(x)) => {
                let reason = validate::description(&mut v, "cancel.reason", &x.reason);
                v.check(
                    reason.is_empty(),
                    "cancel.reason",
                    "say why it is cancelled",
                );
                Some(Kind::Cancel(reason))
            }
            Some(Pb::Done(x)) => {
                v.check(
                    x.actual_minutes < 0 || x.actual_minutes > 24 * 60,
                    "done.actual_minutes",
                    "must be between 1 and 1440 (0: as planned)",
                );
                Some(Kind::Done(
                    (x.actual_minutes > 0).then_some(x.actual_minutes),
                ))
            }
        };
        v.into_result()?;
        let (Some(id), Some(kind)) = (id, kind) else {
            return Err(Error::invalid("change", "is required"));
        };
        Ok(Self {
            id,
            scope,
            expected_version: r.expected_version,
            kind,
        })
    }
}

fn too_near(start: DateTime<Utc>) -> String {
    format!(
        "the intervention at {} is less than {CUSTOMER_CHANGE_NOTICE_HOURS} h away: \
         only the office can change it now",
        start.to_rfc3339()
    )
}

fn local_start(tz: Tz, start: DateTime<Utc>, at: NaiveTime) -> Option<DateTime<Utc>> {
    let date = start.with_timezone(&tz).date_naive();
    match tz.from_local_datetime(&date.and_time(at)) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// Applies `c`; `by_customer`: as the intervention's customer, who changes
/// only upcoming ones, each at least [`CUSTOMER_CHANGE_NOTICE_HOURS`] ahead
/// (and moves none to a time nearer than that).
pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Ctx,
    c: Change,
    by_customer: bool,
) -> Result<Vec<Intervention>> {
    interventions::lock_tenant(conn, ctx.tenant).await?;
    let target: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from interventions where tenant_id = $1 and id = $2 for update"
    )))
    .bind(ctx.tenant)
    .bind(c.id)
    .fetch_optional(&mut *conn)
    .await?;
    let target = target.ok_or_else(|| Error::not_found(format!("intervention {}", c.id)))?;
    validate::expected_version(c.expected_version, target.version)?;
    let (order_id, occurrence) = (target.order_id, target.occurrence);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from interventions
         where tenant_id = $1 and order_id = $2
           and (($3 = 1 and id = $4) or ($3 = 2 and occurrence >= $5) or $3 = 3)
         order by occurrence for update"
    )))
    .bind(ctx.tenant)
    .bind(order_id)
    .bind(c.scope as i32)
    .bind(c.id)
    .bind(occurrence)
    .fetch_all(&mut *conn)
    .await?;
    let now = Utc::now();
    let done = matches!(c.kind, Kind::Done(_));
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| r.status == "planned" && (!done || r.starts_at <= now))
        .filter(|r| !by_customer || r.starts_at > now)
        .collect();
    let notice_ends = now + Duration::hours(CUSTOMER_CHANGE_NOTICE_HOURS);
    if by_customer && let Some(near) = rows.iter().find(|r| r.starts_at < notice_ends) {
        return Err(Error::FailedPrecondition(too_near(near.starts_at)));
    }
    if rows.is_empty() && by_customer && target.status == "planned" {
        return Err(Error::FailedPrecondition(too_near(target.starts_at)));
    }
    if rows.is_empty() {
        return Err(Error::FailedPrecondition(if done {
            format!(
                "nothing to mark done: intervention {} is {} or has not started",
                c.id, target.status
            )
        } else {
            format!(
                "intervention {} is {}: only planned interventions change",
                c.id, target.status
            )
        }));
    }

    // The new (worker, start, end) of each.
    let mut planned: Vec<Placement> = Vec::new();
    for r in &rows {
        let length = r.ends_at - r.starts_at;
        let slot = match &c.kind {
            Kind::Reschedule {
                start,
                local_start: at,
                minutes,
            } => {
                let length = minutes.map_or(length, |m| Duration::minutes(i64::from(m)));
                let start = match (start, at) {
                    (Some(s), _) => *s,
                    (None, Some(at)) => {
                        let tz = match r.worker_id {
                            Some(w) => workers::time_zone(conn, ctx.tenant, w).await?,
                            None => chrono_tz::Europe::Paris,
                        };
                        local_start(tz, r.starts_at, *at).ok_or_else(|| {
                            Error::invalid(
                                "reschedule.local_start_time",
                                format!(
                                    "does not exist on {} (the clocks go forward)",
                                    r.starts_at.date_naive()
                                ),
                            )
                        })?
                    }
                    (None, None) => r.starts_at,
                };
                (r.worker_id, start, start + length)
            }
            Kind::Reassign(w) => (*w, r.starts_at, r.ends_at),
            Kind::Cancel(_) | Kind::Done(_) => (r.worker_id, r.starts_at, r.ends_at),
        };
        planned.push(slot);
    }
    if by_customer && let Some((_, start, _)) = planned.iter().find(|(_, s, _)| *s < notice_ends) {
        return Err(Error::FailedPrecondition(too_near(*start)));
    }
    if let Kind::Reschedule { .. } | Kind::Reassign(_) = c.kind {
        check_clashes(conn, ctx.tenant, &rows, &planned).await?;
    }
    let packs: Vec<Uuid> = rows.iter().filter_map(|r| r.hour_pack_order_id).collect();
    if let Kind::Reschedule { .. } = c.kind {
        check_packs(conn, ctx.tenant, &rows, &planned).await?;
    }

    let mut out = Vec::with_capacity(rows.len());
    for (r, (worker, start, end)) in rows.iter().zip(planned) {
        let (status, reason, actual, event) = match &c.kind {
            Kind::Reschedule { .. } => ("planned", String::new(), None, "rescheduled"),
            Kind::Reassign(_) => ("planned", String::new(), None, "reassigned"),
            Kind::Cancel(reason) => ("cancelled", reason.clone(), None, "cancelled"),
            Kind::Done(m) => (
                "done",
                String::new(),
                Some(m.unwrap_or_else(|| {
                    i32::try_from((r.ends_at - r.starts_at).num_minutes()).unwrap_or(0)
                })),
                "done",
            ),
        };
        let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "update interventions set worker_id = $3, starts_at = $4, ends_at = $5, status = $6,
                 status_reason = $7, actual_minutes = $8, origin = $9,
                 unassigned_reason = case when $3::uuid is null then unassigned_reason else '' end,
                 version = version + 1, updated_at = now()
             where tenant_id = $1 and id = $2 returning {COLS}"
        )))
        .bind(ctx.tenant)
        .bind(r.id)
        .bind(worker)
        .bind(start)
        .bind(end)
        .bind(status)
        .bind(&reason)
        .bind(actual)
        .bind(&ctx.origin)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| {
            relais_platform::error::on_constraint(e, "interventions_no_double_booking", || {
                Error::FailedPrecondition("the worker is already booked at that time".into())
            })
        })?;
        let i = Intervention::from(row);
        interventions::publish(conn, ctx, event, &i).await?;
        out.push(i);
    }
    ledger::settle(conn, ctx, &packs).await?;
    Ok(out)
}

/// A longer intervention paid by a pack must still fit in it.
async fn check_packs(
    conn: &mut PgConnection,
    tenant: Uuid,
    rows: &[Row],
    planned: &[Placement],
) -> Result<()> {
    let mut packs: Vec<Uuid> = rows.iter().filter_map(|r| r.hour_pack_order_id).collect();
    packs.sort();
    packs.dedup();
    for pack in packs {
        let more: i64 = rows
            .iter()
            .zip(planned)
            .filter(|(r, _)| r.hour_pack_order_id == Some(pack))
            .map(|(r, p)| ledger::minutes(p.1, p.2) - ledger::minutes(r.starts_at, r.ends_at))
            .sum();
        if more <= 0 {
            continue;
        }
        if let Some(p) = ledger::reserve(conn, tenant, pack).await?
            && more > p.remaining
        {
            return Err(Error::FailedPrecondition(format!(
                "the pack \"{}\" has {} min left; this change needs {more} more",
                p.name, p.remaining
            )));
        }
    }
    Ok(())
}

/// Refuses the change, naming the first clash: a worker who is inactive or
/// lacks the skill, is away, outside their hours, or booked elsewhere.
async fn check_clashes(
    conn: &mut PgConnection,
    tenant: Uuid,
    rows: &[Row],
    planned: &[Placement],
) -> Result<()> {
    let moving: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut workers_seen: Vec<Uuid> = planned.iter().filter_map(|p| p.0).collect();
    workers_seen.sort();
    workers_seen.dedup();
    for w in workers_seen {
        let info = workers::assignment_info(conn, tenant, w)
            .await?
            .ok_or_else(|| Error::invalid("reassign.worker_id", "no such worker"))?;
        let mine: Vec<(&Row, &Placement)> = rows
            .iter()
            .zip(planned)
            .filter(|(_, p)| p.0 == Some(w))
            .collect();
        let (Some(from), Some(to)) = (
            mine.iter().map(|(_, p)| p.1).min(),
            mine.iter().map(|(_, p)| p.2).max(),
        ) else {
            continue;
        };
        if !info.active {
            return Err(Error::FailedPrecondition(format!(
                "{} is not active",
                info.name
            )));
        }
        if let Some((r, _)) = mine
            .iter()
            .find(|(r, _)| !info.skills.contains(&r.service_id))
        {
            return Err(Error::FailedPrecondition(format!(
                "{} lacks the skill for service {}",
                info.name, r.service_id
            )));
        }
        let tz = info.tz;
        let cal = Calendar::load(conn, tenant, (w, info.slots, tz), from, to).await?;
        for (_, (_, s, e)) in &mine {
            if let Some(clash) = cal.clash_ignoring(*s, *e, &moving) {
                return Err(Error::FailedPrecondition(format!(
                    "{} is {} on {} {}-{} ({})",
                    info.name,
                    clash.describe(),
                    s.with_timezone(&tz).format("%a %Y-%m-%d"),
                    s.with_timezone(&tz).format("%H:%M"),
                    e.with_timezone(&tz).format("%H:%M"),
                    tz.name()
                )));
            }
        }
    }
    Ok(())
}
