//! Who is free for a slot, asked before a booking is placed: the
//! qualified workers free for it, or why none is and the next slots
//! someone is free for.

use chrono::{DateTime, Utc};
use relais_platform::error::Result;
use relais_proto::planning::Worker;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    calendar::{Calendar, Clash},
    workers,
};

/// The active workers with the skill, free for the whole slot.
pub async fn available(
    conn: &mut PgConnection,
    tenant: Uuid,
    service: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Worker>> {
    // Four queries whatever the number of workers: the qualified ones, the
    // absences and bookings of all of them over the slot, then the free
    // ones' records; the weekly hours are checked here, in their zones.
    let qualified = workers::qualified(conn, tenant, service).await?;
    let ids: Vec<Uuid> = qualified.iter().map(|w| w.0).collect();
    let busy: Vec<Uuid> = sqlx::query_scalar(
        "select worker_id from absences
         where tenant_id = $1 and worker_id = any($2) and during && tstzrange($3, $4)
         union
         select worker_id from interventions
         where tenant_id = $1 and worker_id = any($2) and status <> 'cancelled'
           and tstzrange(starts_at, ends_at) && tstzrange($3, $4)",
    )
    .bind(tenant)
    .bind(&ids)
    .bind(start)
    .bind(end)
    .fetch_all(&mut *conn)
    .await?;
    let free: Vec<Uuid> = qualified
        .into_iter()
        .filter(|w| !busy.contains(&w.0))
        .filter_map(|(worker, slots, tz)| {
            let cal = Calendar {
                worker,
                slots,
                tz,
                absences: vec![],
                booked: vec![],
            };
            cal.clash(start, end).is_none().then_some(worker)
        })
        .collect();
    workers::get_many(conn, tenant, &free).await
}

/// Whether a slot can be taken: who is free for it, or why nobody is.
pub struct SlotCheck {
    pub free: Vec<Uuid>,
    pub reason: String,
}

/// How far ahead free slots are offered after one nobody can take.
const SUGGEST_DAYS: i64 = 14;
const SUGGEST_STEP_MINUTES: i64 = 30;
const SUGGESTIONS: usize = 3;

/// For each slot, the qualified active workers (only `chosen` when given)
/// free for it, or why none is; and after the first slot nobody can take,
/// the next slots of its length when someone is (on the half hour, from
/// `now`, within [`SUGGEST_DAYS`]). Read-only: planning settles it again
/// when it plans the confirmed booking.
pub async fn check_slots(
    conn: &mut PgConnection,
    tenant: Uuid,
    service: Uuid,
    chosen: Option<Uuid>,
    slots: &[(DateTime<Utc>, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<(Vec<SlotCheck>, Vec<(DateTime<Utc>, DateTime<Utc>)>)> {
    let (Some(from), Some(to)) = (
        slots.iter().map(|s| s.0).min(),
        slots.iter().map(|s| s.1).max(),
    ) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let to = to + chrono::Duration::days(SUGGEST_DAYS + 1);
    let mut calendars = Vec::new();
    for w in workers::qualified(conn, tenant, service).await? {
        if chosen.is_none_or(|c| c == w.0) {
            calendars.push(Calendar::load(conn, tenant, w, from, to).await?);
        }
    }
    let checks: Vec<SlotCheck> = slots
        .iter()
        .map(|(s, e)| {
            let clashes: Vec<(Uuid, Option<Clash>)> = calendars
                .iter()
                .map(|c| (c.worker, c.clash(*s, *e)))
                .collect();
            let free: Vec<Uuid> = clashes
                .iter()
                .filter(|c| c.1.is_none())
                .map(|c| c.0)
                .collect();
            let reason = if !free.is_empty() {
                String::new()
            } else if calendars.is_empty() {
                if chosen.is_some() {
                    "the chosen worker is not active or lacks the skill".to_owned()
                } else {
                    "no active worker has the skill".to_owned()
                }
            } else if chosen.is_some() {
                let why = clashes.first().and_then(|c| c.1);
                format!(
                    "the chosen worker is {}",
                    why.map_or("not free", Clash::describe)
                )
            } else if clashes
                .iter()
                .all(|c| c.1 == Some(Clash::OutsideAvailability))
            {
                "no qualified worker works then (outside their weekly hours)".to_owned()
            } else {
                "every qualified worker who works then is away or already booked".to_owned()
            };
            SlotCheck { free, reason }
        })
        .collect();
    let mut next = Vec::new();
    if let Some((s, e)) = slots
        .iter()
        .zip(&checks)
        .find(|(_, c)| c.free.is_empty())
        .map(|(slot, _)| *slot)
    {
        let length = e - s;
        let step = chrono::Duration::minutes(SUGGEST_STEP_MINUTES);
        // From the refused slot (or now, whichever is later), on the step.
        let origin = s.max(now);
        let mut at = origin + step
            - chrono::Duration::seconds(origin.timestamp().rem_euclid(step.num_seconds()));
        let until = s + chrono::Duration::days(SUGGEST_DAYS);
        while at < until && next.len() < SUGGESTIONS {
            if calendars.iter().any(|c| c.clash(at, at + length).is_none()) {
                next.push((at, at + length));
                // One offer per half-day at most, so they spread out.
                at += chrono::Duration::hours(4).max(length);
            } else {
                at += step;
            }
        }
    }
    Ok((checks, next))
}
