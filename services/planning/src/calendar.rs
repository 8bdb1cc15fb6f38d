//! A worker's calendar over a window, and what keeps them from a slot.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use relais_platform::error::Result;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::workers::Slot;

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
    pub(crate) slots: Vec<Slot>,
    pub(crate) tz: Tz,
    pub(crate) absences: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// (intervention, start, end) of the worker's live interventions.
    pub(crate) booked: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)>,
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

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::NaiveTime;

    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub(crate) fn calendar(worker: u128, booked: Vec<(&str, &str)>) -> Calendar {
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
}
