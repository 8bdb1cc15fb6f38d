//! Interventions from confirmed bookings: planning follows the orders
//! stream, expands a confirmed booking's schedule into one intervention per
//! occurrence and assigns each to the chosen worker or to a qualified, free
//! one; a cancelled booking cancels its interventions still to come.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use prost::Message;
use relais_domain::{address, schedule::Schedule};
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    context::{Ctx, timestamp},
    error::{Error, Result},
    nats::Namespace,
};
use relais_proto::{
    events::{InterventionChanged, OrderStatusChanged},
    orders::{Order, OrderStatus},
    planning::{Intervention, InterventionStatus, Worker},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    SERVICE, ledger,
    workers::{self, Slot},
};

const ORDERS: &str = "orders";

/// `max_attempts`: `RELAIS_CONSUMER_MAX_DELIVER`.
pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "planning-bookings".into(),
        source_service: ORDERS.into(),
        filter_subjects: ["confirmed", "cancelled"]
            .iter()
            .map(|e| ns.event_filter(ORDERS, "order", e))
            .collect(),
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

pub struct Bookings {
    pub ns: Namespace,
}

impl Handler for Bookings {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let e = OrderStatusChanged::decode(event.payload.as_ref()).map_err(HandlerError::poison)?;
        let (Some(meta), Some(order)) = (e.meta, e.order) else {
            return Err(HandlerError::poison("event without meta or order"));
        };
        if order.kind != "booking" && order.kind != "hour_pack" {
            return Ok(());
        }
        let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
            .map_err(HandlerError::poison)?;
        let result = if e.to == OrderStatus::Confirmed as i32 && order.kind == "hour_pack" {
            ledger::open(tx, &ctx, &order).await
        } else if e.to == OrderStatus::Confirmed as i32 {
            plan(tx, &ctx, &order).await
        } else if e.to == OrderStatus::Cancelled as i32 {
            cancel_future(tx, &ctx, &order).await
        } else {
            Ok(())
        };
        result.map_err(|e| match e {
            // A concurrent booking took the slot between the check and the
            // insert: plan again with what is booked now.
            Error::Db(db) => HandlerError::Retry(db.into()),
            Error::InvalidArgument(_) | Error::NotFound(_) => HandlerError::poison(e),
            other => HandlerError::Retry(anyhow::anyhow!("{other}")),
        })
    }
}

/// What keeps a worker from an occurrence, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clash {
    OutsideAvailability,
    Absent,
    Booked,
}

impl Clash {
    pub fn describe(self) -> &'static str {
        match self {
            Clash::OutsideAvailability => "outside their weekly availability",
            Clash::Absent => "absent",
            Clash::Booked => "already booked at that time",
        }
    }
}

/// A worker's calendar over a window: availability, absences, bookings.
pub struct Calendar {
    pub worker: Uuid,
    slots: Vec<Slot>,
    tz: Tz,
    absences: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// (intervention, start, end) of the worker's live interventions.
    booked: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)>,
}

impl Calendar {
    pub async fn load(
        conn: &mut PgConnection,
        tenant: Uuid,
        (worker, slots, tz): (Uuid, Vec<Slot>, Tz),
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Self> {
        let absences = sqlx::query_as(
            "select lower(during), upper(during) from absences
             where tenant_id = $1 and worker_id = $2 and during && tstzrange($3, $4)",
        )
        .bind(tenant)
        .bind(worker)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        let booked = sqlx::query_as(
            "select id, starts_at, ends_at from interventions
             where tenant_id = $1 and worker_id = $2 and status <> 'cancelled'
               and tstzrange(starts_at, ends_at) && tstzrange($3, $4)",
        )
        .bind(tenant)
        .bind(worker)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Self {
            worker,
            slots,
            tz,
            absences,
            booked,
        })
    }

    /// Why the worker cannot take `[start, end)`, or None when free.
    pub fn clash(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Clash> {
        self.clash_ignoring(start, end, &[])
    }

    /// As [`Calendar::clash`], not counting the interventions in `moving`
    /// (those being changed).
    pub fn clash_ignoring(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        moving: &[Uuid],
    ) -> Option<Clash> {
        let (ls, le) = (start.with_timezone(&self.tz), end.with_timezone(&self.tz));
        let within = ls.date_naive() == le.date_naive()
            && self.slots.iter().any(|s| {
                s.weekday == ls.weekday().number_from_monday()
                    && s.start <= ls.time()
                    && le.time() <= s.end
            });
        let overlaps = |r: &(DateTime<Utc>, DateTime<Utc>)| r.0 < end && start < r.1;
        if !within {
            Some(Clash::OutsideAvailability)
        } else if self.absences.iter().any(overlaps) {
            Some(Clash::Absent)
        } else if self
            .booked
            .iter()
            .any(|b| !moving.contains(&b.0) && overlaps(&(b.1, b.2)))
        {
            Some(Clash::Booked)
        } else {
            None
        }
    }
}

/// For each occurrence, the worker assigned, or why none could be.
fn assign(
    occurrences: &[(DateTime<Utc>, DateTime<Utc>)],
    chosen: Option<Uuid>,
    calendars: &[Calendar],
) -> Vec<std::result::Result<Uuid, String>> {
    if let Some(chosen) = chosen {
        let Some(cal) = calendars.iter().find(|c| c.worker == chosen) else {
            return occurrences
                .iter()
                .map(|_| Err("the chosen worker is not active or lacks the skill".to_owned()))
                .collect();
        };
        return occurrences
            .iter()
            .map(|(s, e)| match cal.clash(*s, *e) {
                None => Ok(chosen),
                Some(c) => Err(format!("the chosen worker is {}", c.describe())),
            })
            .collect();
    }
    // One worker for the whole series when possible: the one free for the
    // most occurrences; the others go to whoever is free.
    let free = |c: &Calendar| {
        occurrences
            .iter()
            .filter(|(s, e)| c.clash(*s, *e).is_none())
            .count()
    };
    let best = calendars
        .iter()
        .max_by_key(|c| (free(c), std::cmp::Reverse(c.worker)));
    occurrences
        .iter()
        .map(|(s, e)| {
            best.into_iter()
                .chain(calendars.iter())
                .find(|c| c.clash(*s, *e).is_none())
                .map(|c| c.worker)
                .ok_or_else(|| {
                    if calendars.is_empty() {
                        "no active worker has the skill".to_owned()
                    } else {
                        "no qualified worker is free at that time".to_owned()
                    }
                })
        })
        .collect()
}

async fn plan(conn: &mut PgConnection, ctx: &Ctx, order: &Order) -> Result<()> {
    let booking = order
        .booking
        .as_ref()
        .ok_or_else(|| Error::invalid("order.booking", "a booking without its detail"))?;
    let schedule = booking
        .schedule
        .as_ref()
        .and_then(Schedule::from_placed)
        .ok_or_else(|| Error::invalid("order.booking.schedule", "cannot be read"))?;
    let occurrences = schedule.occurrences();
    let (Some(first), Some(last)) = (occurrences.first(), occurrences.last()) else {
        return Ok(());
    };
    let service = Uuid::parse_str(&booking.service_id)
        .map_err(|_| Error::invalid("order.booking.service_id", "is not an id"))?;
    let order_id =
        Uuid::parse_str(&order.id).map_err(|_| Error::invalid("order.id", "is not an id"))?;
    let customer = Uuid::parse_str(&order.customer_id)
        .map_err(|_| Error::invalid("order.customer_id", "is not an id"))?;
    let chosen = Uuid::parse_str(&booking.worker_id).ok();
    let pack = Uuid::parse_str(&booking.hour_pack_order_id).ok();
    lock_tenant(conn, ctx.tenant).await?;
    let mut calendars = Vec::new();
    for w in workers::qualified(conn, ctx.tenant, service).await? {
        if chosen.is_none_or(|c| c == w.0) {
            calendars.push(Calendar::load(conn, ctx.tenant, w, first.0, last.1).await?);
        }
    }
    let assigned = assign(&occurrences, chosen, &calendars);
    // The pack pays for the occurrences, in order, while it has time left.
    let mut left = match pack {
        Some(p) => ledger::reserve(conn, ctx.tenant, p).await?,
        None => None,
    };
    let address = address::to_json(&order.ship_to.clone().unwrap_or_default());
    // The booking's price per occurrence (0 when a pack pays).
    let line_price = order
        .lines
        .first()
        .and_then(|l| l.unit_price.as_ref())
        .map_or(0, |m| m.amount_cents);
    for (i, ((start, end), worker)) in occurrences.iter().zip(assigned).enumerate() {
        let (worker, reason) = match worker {
            Ok(w) => (Some(w), String::new()),
            Err(r) => (None, r),
        };
        let minutes = ledger::minutes(*start, *end);
        let (attached, pack_note, price) = match (pack, left.as_mut()) {
            (None, _) => (None, String::new(), line_price),
            (Some(_), None) => (
                None,
                "the pack has no open balance in planning".to_owned(),
                line_price,
            ),
            (Some(p), Some(d)) if d.remaining >= minutes => {
                d.remaining -= minutes;
                (Some(p), String::new(), d.price_of(minutes)?)
            }
            (Some(_), Some(d)) => (
                None,
                format!(
                    "the pack \"{}\" has {} min left, this takes {minutes}",
                    d.name, d.remaining
                ),
                line_price,
            ),
        };
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "insert into interventions (tenant_id, id, order_id, occurrence, customer_id, service_id,
                 worker_id, address, starts_at, ends_at, status, hour_pack_order_id, unassigned_reason,
                 origin, pack_note, price_cents)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'planned', $11, $12, $13, $14, $15)
             on conflict (tenant_id, order_id, occurrence) do nothing
             returning {COLS}"
        )))
        .bind(ctx.tenant)
        .bind(Uuid::now_v7())
        .bind(order_id)
        .bind(i32::try_from(i + 1).unwrap_or(i32::MAX))
        .bind(customer)
        .bind(service)
        .bind(worker)
        .bind(&address)
        .bind(start)
        .bind(end)
        .bind(attached)
        .bind(&reason)
        .bind(&ctx.origin)
        .bind(&pack_note)
        .bind(price)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            publish(conn, ctx, "planned", &Intervention::from(row)).await?;
        }
    }
    if let Some(p) = pack {
        ledger::settle(conn, ctx, &[p]).await?;
    }
    Ok(())
}

/// One planning change at a time per tenant, so two bookings (or a booking
/// and a reassignment) never pick the same free worker for the same slot.
pub async fn lock_tenant(conn: &mut PgConnection, tenant: Uuid) -> Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('planning:' || $1::text, 0))")
        .bind(tenant)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn cancel_future(conn: &mut PgConnection, ctx: &Ctx, order: &Order) -> Result<()> {
    let order_id =
        Uuid::parse_str(&order.id).map_err(|_| Error::invalid("order.id", "is not an id"))?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update interventions set status = 'cancelled', version = version + 1, updated_at = now(),
             origin = $3, status_reason = 'the booking was cancelled'
         where tenant_id = $1 and order_id = $2 and status = 'planned' and starts_at > now()
         returning {COLS}"
    )))
    .bind(ctx.tenant)
    .bind(order_id)
    .bind(&ctx.origin)
    .fetch_all(&mut *conn)
    .await?;
    let packs: Vec<Uuid> = rows.iter().filter_map(|r| r.hour_pack_order_id).collect();
    for row in rows {
        publish(conn, ctx, "cancelled", &Intervention::from(row)).await?;
    }
    ledger::settle(conn, ctx, &packs).await
}

pub async fn publish(
    conn: &mut PgConnection,
    ctx: &Ctx,
    event: &str,
    i: &Intervention,
) -> Result<()> {
    let id = Uuid::parse_str(&i.id).unwrap_or_default();
    let meta = ctx.meta(id, i.version);
    let payload = InterventionChanged {
        meta: Some(meta.clone()),
        intervention: Some(i.clone()),
    };
    ctx.emit(conn, "intervention", event, &meta, &payload)
        .await?;
    Ok(())
}

pub const COLS: &str =
    "id, order_id, occurrence, customer_id, service_id, worker_id, address, starts_at,
    ends_at, status, hour_pack_order_id, unassigned_reason, origin, version, actual_minutes,
    status_reason, pack_note, price_cents";

#[derive(sqlx::FromRow)]
pub struct Row {
    pub id: Uuid,
    pub order_id: Uuid,
    pub occurrence: i32,
    customer_id: Uuid,
    pub service_id: Uuid,
    pub worker_id: Option<Uuid>,
    address: serde_json::Value,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub hour_pack_order_id: Option<Uuid>,
    unassigned_reason: String,
    origin: String,
    pub version: i64,
    actual_minutes: Option<i32>,
    status_reason: String,
    pack_note: String,
    price_cents: i64,
}

impl From<Row> for Intervention {
    fn from(r: Row) -> Self {
        let status = match r.status.as_str() {
            "planned" => InterventionStatus::Planned,
            "done" => InterventionStatus::Done,
            "cancelled" => InterventionStatus::Cancelled,
            _ => InterventionStatus::Unspecified,
        };
        Intervention {
            id: r.id.to_string(),
            order_id: r.order_id.to_string(),
            occurrence: r.occurrence,
            customer_id: r.customer_id.to_string(),
            service_id: r.service_id.to_string(),
            worker_id: r.worker_id.map(|w| w.to_string()).unwrap_or_default(),
            address: Some(address::from_json(&r.address)),
            start: Some(timestamp(r.starts_at)),
            end: Some(timestamp(r.ends_at)),
            status: status as i32,
            hour_pack_order_id: r
                .hour_pack_order_id
                .map(|p| p.to_string())
                .unwrap_or_default(),
            unassigned_reason: r.unassigned_reason,
            origin: r.origin,
            version: r.version,
            actual_minutes: r.actual_minutes.unwrap_or_default(),
            status_reason: r.status_reason,
            pack_note: r.pack_note,
            price: relais_platform::validate::money_out(r.price_cents),
        }
    }
}

pub struct Filter {
    pub worker: Option<Uuid>,
    pub customer: Option<Uuid>,
    pub order: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only residents of these residences (staff: relais_platform::access).
    pub residences: Option<Vec<Uuid>>,
    /// Only planned ones nobody is assigned to (the office's to-do list).
    pub unassigned_only: bool,
}

/// In start order; `after` is the (start, id) of the previous page's last.
pub async fn list(
    conn: &mut PgConnection,
    tenant: Uuid,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Intervention>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from interventions i
         where tenant_id = $1
           and ($2::uuid is null or worker_id = $2)
           and ($3::uuid is null or customer_id = $3)
           and ($4::uuid is null or order_id = $4)
           and ($5::timestamptz is null or starts_at >= $5)
           and ($6::timestamptz is null or starts_at < $6)
           and ($7::uuid is null or (starts_at, id) > (select starts_at, id from interventions
                                                     where tenant_id = $1 and id = $7))
           and ($9::uuid[] is null or customer_id in (select customer_id from access_customers
                                                     where tenant_id = $1 and residence_id = any($9)))
           and (not $10 or (worker_id is null and status = 'planned'))
         order by starts_at, id limit $8"
    )))
    .bind(tenant)
    .bind(f.worker)
    .bind(f.customer)
    .bind(f.order)
    .bind(f.from)
    .bind(f.to)
    .bind(after)
    .bind(limit)
    .bind(&f.residences)
    .bind(f.unassigned_only)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Intervention::from).collect())
}

/// The customer an intervention is for, if it exists.
pub async fn customer_of(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar(
            "select customer_id from interventions where tenant_id = $1 and id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(conn)
        .await?,
    )
}

/// The live interventions a pack pays for, in start order.
pub async fn of_pack(
    conn: &mut PgConnection,
    tenant: Uuid,
    pack: Uuid,
) -> Result<Vec<Intervention>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from interventions
         where tenant_id = $1 and hour_pack_order_id = $2 and status <> 'cancelled'
         order by starts_at, id"
    )))
    .bind(tenant)
    .bind(pack)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Intervention::from).collect())
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::NaiveTime;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn calendar(worker: u128, booked: Vec<(&str, &str)>) -> Calendar {
        Calendar {
            worker: Uuid::from_u128(worker),
            // Mondays 8:00-12:00, Paris time.
            slots: vec![Slot {
                weekday: 1,
                start: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            }],
            tz: chrono_tz::Europe::Paris,
            absences: vec![(at("2026-12-14T00:00:00Z"), at("2026-12-15T00:00:00Z"))],
            booked: booked
                .into_iter()
                .map(|(s, e)| (Uuid::nil(), at(s), at(e)))
                .collect(),
        }
    }

    #[test]
    fn a_clash_names_what_keeps_the_worker() {
        let c = calendar(1, vec![("2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z")]);
        // Monday 7 Dec 2026, 9:00-10:00 Paris = 8:00-9:00 UTC: booked.
        let slot = (at("2026-12-07T08:00:00Z"), at("2026-12-07T09:00:00Z"));
        assert_eq!(c.clash(slot.0, slot.1), Some(Clash::Booked));
        // Touching the booking's end is free.
        assert_eq!(
            c.clash(at("2026-12-07T09:00:00Z"), at("2026-12-07T10:00:00Z")),
            None
        );
        // 11:30-12:30 Paris runs past the slot.
        assert_eq!(
            c.clash(at("2026-12-07T10:30:00Z"), at("2026-12-07T11:30:00Z")),
            Some(Clash::OutsideAvailability)
        );
        // A Tuesday.
        assert_eq!(
            c.clash(at("2026-12-08T08:00:00Z"), at("2026-12-08T09:00:00Z")),
            Some(Clash::OutsideAvailability)
        );
        assert_eq!(
            c.clash(at("2026-12-14T08:00:00Z"), at("2026-12-14T09:00:00Z")),
            Some(Clash::Absent)
        );
    }

    #[test]
    fn a_series_stays_with_one_worker_when_it_can() {
        let occ = vec![
            (at("2026-12-07T08:00:00Z"), at("2026-12-07T09:00:00Z")),
            (at("2026-12-21T08:00:00Z"), at("2026-12-21T09:00:00Z")),
        ];
        // Worker 1 is booked on the 7th, worker 2 is free both days.
        let busy = calendar(1, vec![("2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z")]);
        let free = calendar(2, vec![]);
        let got = assign(&occ, None, &[busy, free]);
        assert_eq!(got, [Ok(Uuid::from_u128(2)), Ok(Uuid::from_u128(2))]);
        // The chosen worker keeps what they can and says why not the rest.
        let busy = calendar(1, vec![("2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z")]);
        let got = assign(&occ, Some(Uuid::from_u128(1)), &[busy]);
        assert_eq!(got[1], Ok(Uuid::from_u128(1)));
        assert_eq!(
            got[0],
            Err("the chosen worker is already booked at that time".to_owned())
        );
        assert_eq!(
            assign(&occ, None, &[])[0],
            Err("no active worker has the skill".to_owned())
        );
    }
}
