//! Interventions from confirmed bookings: planning follows the orders
//! stream, expands a confirmed booking's schedule into one intervention per
//! occurrence and assigns each to the chosen worker or to a qualified, free
//! one; a cancelled booking cancels its interventions still to come.

use chrono::{DateTime, Utc};
use prost::Message;
use relais_domain::{address, schedule::Schedule};
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    context::Ctx,
    error::{Error, Result},
    nats::Namespace,
};
use relais_proto::{
    events::OrderStatusChanged,
    orders::{Order, OrderStatus},
    planning::Intervention,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    SERVICE,
    calendar::Calendar,
    interventions::{COLS, Row, lock_tenant, publish},
    ledger, workers,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::calendar::tests::{at, calendar};

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
