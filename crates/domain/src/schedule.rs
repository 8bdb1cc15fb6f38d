//! A booking's requested schedule (seeds 000/001): one-time, or weekly /
//! every N weeks on chosen weekdays until a date or for N occurrences, in
//! the local time of a time zone, so that 9:00 stays 9:00 across daylight
//! saving changes. Orders checks it and expands it to count and price the
//! occurrences; planning expands the same schedule, from the order's event,
//! into interventions.

use crate::violations::Violations;
use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use relais_proto::orders as pb;
use serde::{Deserialize, Serialize};

pub const DEFAULT_TIME_ZONE: &str = "Europe/Paris";
pub const MAX_OCCURRENCES: usize = 1000;
/// A customer moves or cancels an intervention of theirs themselves up to
/// this many hours before it starts; after that only the office can (the
/// worker's day is set; the office calls them). Planning enforces it, the
/// gateway shows each intervention's limit.
pub const CUSTOMER_CHANGE_NOTICE_HOURS: i64 = 48;
const MIN_DURATION: i32 = 30;
const MAX_DURATION: i32 = 720;
/// A recurrence may not run further than this past its first date.
const MAX_SPAN_DAYS: u64 = 3 * 366;
/// How far ahead a booking may be placed unless configured otherwise
/// (orders: `RELAIS_BOOKING_HORIZON_DAYS`): two years. A booking on
/// 9999-12-31 is a typo or an attack, and would be planned as such.
pub const DEFAULT_HORIZON_DAYS: u32 = 730;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    pub interval_weeks: u32,
    /// ISO weekdays, 1 = Monday.
    pub weekdays: Vec<u32>,
    /// Monthly by date when > 0: every N months on the first date's day
    /// (weekdays and interval_weeks are then unused).
    #[serde(default)]
    pub interval_months: u32,
    pub end_date: Option<NaiveDate>,
    pub count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub time_zone: String,
    pub first_date: NaiveDate,
    pub start_time: NaiveTime,
    pub duration_minutes: i32,
    pub recurrence: Option<Recurrence>,
}

fn date(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    if value.trim().is_empty() {
        v.add(field, "is required (YYYY-MM-DD)");
        return None;
    }
    let d = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok();
    v.check(d.is_none(), field, "is not a date (YYYY-MM-DD)");
    d
}

impl Schedule {
    /// Checks the schedule on its own; `now` decides what is in the past,
    /// and every occurrence must fall within `horizon_days` of it.
    pub fn parse(
        v: &mut Violations,
        field: &str,
        s: Option<&pb::Schedule>,
        now: DateTime<Utc>,
        horizon_days: u32,
    ) -> Option<Self> {
        let Some(s) = s else {
            v.add(field, "is required");
            return None;
        };
        let before = v.len();
        let time_zone = if s.time_zone.trim().is_empty() {
            DEFAULT_TIME_ZONE.to_owned()
        } else {
            s.time_zone.trim().to_owned()
        };
        let tz: Option<Tz> = time_zone.parse().ok();
        v.check(
            tz.is_none(),
            &format!("{field}.time_zone"),
            "is not an IANA time zone such as Europe/Paris",
        );
        let first_date = date(v, &format!("{field}.first_date"), &s.first_date);
        let start_time = NaiveTime::parse_from_str(s.start_time.trim(), "%H:%M").ok();
        v.check(
            start_time.is_none(),
            &format!("{field}.start_time"),
            "is not a time (HH:MM)",
        );
        v.check(
            !(MIN_DURATION..=MAX_DURATION).contains(&s.duration_minutes),
            &format!("{field}.duration_minutes"),
            format!("must be between {MIN_DURATION} and {MAX_DURATION} minutes"),
        );
        let recurrence = s
            .recurrence
            .as_ref()
            .and_then(|r| Recurrence::parse(v, &format!("{field}.recurrence"), r, first_date));
        if v.len() > before {
            return None;
        }
        let schedule = Self {
            time_zone,
            first_date: first_date?,
            start_time: start_time?,
            duration_minutes: s.duration_minutes,
            recurrence,
        };
        let dates = schedule.dates();
        let Some(first) = dates.first() else {
            v.add(
                format!("{field}.recurrence"),
                "gives no occurrence: none of the weekdays falls between the first and the end date",
            );
            return None;
        };
        if dates.len() > MAX_OCCURRENCES {
            v.add(
                format!("{field}.recurrence"),
                format!("gives more than {MAX_OCCURRENCES} occurrences: book a shorter period"),
            );
            return None;
        }
        let latest = now
            .date_naive()
            .checked_add_days(Days::new(u64::from(horizon_days)))
            .unwrap_or(NaiveDate::MAX);
        let last = dates.last().unwrap_or(first);
        if *first > latest {
            v.add(
                format!("{field}.first_date"),
                format!(
                    "{first} is too far ahead: bookings are taken up to {horizon_days} days ahead (until {latest})"
                ),
            );
            return None;
        }
        if *last > latest {
            v.add(
                format!("{field}.recurrence"),
                format!(
                    "its last occurrence ({last}) is too far ahead: bookings are taken up to {horizon_days} days ahead (until {latest}); end it earlier"
                ),
            );
            return None;
        }
        match schedule.start_of(*first) {
            None => v.add(
                format!("{field}.start_time"),
                format!(
                    "{} {} does not exist in {} (the clocks go forward)",
                    first, schedule.start_time, schedule.time_zone
                ),
            ),
            Some(start) if start <= now => v.add(
                format!("{field}.first_date"),
                format!(
                    "the first occurrence ({first} {}) is in the past",
                    schedule.start_time.format("%H:%M")
                ),
            ),
            Some(_) => {}
        }
        (v.len() == before).then_some(schedule)
    }

    /// A schedule as an order stored it (already checked when it was
    /// placed, so its dates may now be in the past, and the horizon it was
    /// placed under need not be today's).
    pub fn from_placed(s: &pb::Schedule) -> Option<Self> {
        let mut v = Violations::new();
        Self::parse(
            &mut v,
            "schedule",
            Some(s),
            DateTime::<Utc>::MIN_UTC,
            u32::MAX,
        )
    }

    /// Start and end of each occurrence, in order; an occurrence whose
    /// local start is skipped by a clock change starts an hour later.
    pub fn occurrences(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let length = chrono::Duration::minutes(i64::from(self.duration_minutes));
        self.dates()
            .into_iter()
            .take(MAX_OCCURRENCES)
            .filter_map(|d| {
                let start = self.start_of(d).or_else(|| {
                    let later = self.start_time + chrono::Duration::hours(1);
                    match self.tz().from_local_datetime(&d.and_time(later)) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                            Some(t.with_timezone(&Utc))
                        }
                        LocalResult::None => None,
                    }
                })?;
                Some((start, start + length))
            })
            .collect()
    }

    pub fn tz(&self) -> Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Europe::Paris)
    }

    /// The local dates the schedule gives, in order (one more than
    /// [`MAX_OCCURRENCES`] at most, so that "too many" can be told).
    pub fn dates(&self) -> Vec<NaiveDate> {
        let Some(r) = &self.recurrence else {
            return vec![self.first_date];
        };
        let week_start = self.first_date
            - Days::new(u64::from(self.first_date.weekday().num_days_from_monday()));
        let last = r.end_date.unwrap_or_else(|| {
            self.first_date
                .checked_add_days(Days::new(MAX_SPAN_DAYS))
                .unwrap_or(self.first_date)
        });
        let wanted = r.count.map_or(MAX_OCCURRENCES + 1, |c| c as usize);
        let mut out = Vec::new();
        if r.interval_months > 0 {
            // The first date's day of the month, or the month's last day
            // when it has fewer (31 -> 30 April, 29 -> 28 February).
            let day = self.first_date.day();
            for k in 0.. {
                let Some(month_start) = self
                    .first_date
                    .with_day(1)
                    .and_then(|d| d.checked_add_months(chrono::Months::new(k * r.interval_months)))
                else {
                    break;
                };
                let last_day = (1..=31)
                    .rev()
                    .find(|d| month_start.with_day(*d).is_some())
                    .unwrap_or(28);
                let Some(d) = month_start.with_day(day.min(last_day)) else {
                    break;
                };
                if d > last || out.len() >= wanted.min(MAX_OCCURRENCES + 1) {
                    break;
                }
                out.push(d);
            }
            return out;
        }
        let mut d = self.first_date;
        while d <= last && out.len() < wanted.min(MAX_OCCURRENCES + 1) {
            let week = (d - week_start).num_days() / 7;
            if week % i64::from(r.interval_weeks.max(1)) == 0
                && r.weekdays.contains(&d.weekday().number_from_monday())
            {
                out.push(d);
            }
            let Some(next) = d.succ_opt() else { break };
            d = next;
        }
        out
    }

    /// When the occurrence of local `date` starts; at a clock change that
    /// repeats the hour, the first of the two; None when the local time is
    /// skipped (the clocks go forward).
    pub fn start_of(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        match self
            .tz()
            .from_local_datetime(&date.and_time(self.start_time))
        {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => None,
        }
    }

    pub fn to_proto(&self) -> pb::Schedule {
        pb::Schedule {
            time_zone: self.time_zone.clone(),
            first_date: self.first_date.to_string(),
            start_time: self.start_time.format("%H:%M").to_string(),
            duration_minutes: self.duration_minutes,
            recurrence: self.recurrence.as_ref().map(|r| pb::Recurrence {
                interval_weeks: r.interval_weeks as i32,
                interval_months: r.interval_months as i32,
                weekdays: r.weekdays.iter().map(|d| *d as i32).collect(),
                end_date: r.end_date.map(|d| d.to_string()).unwrap_or_default(),
                count: r.count.map_or(0, |c| c as i32),
            }),
        }
    }
}

impl Recurrence {
    fn parse(
        v: &mut Violations,
        field: &str,
        r: &pb::Recurrence,
        first_date: Option<NaiveDate>,
    ) -> Option<Self> {
        let before = v.len();
        let monthly = r.interval_months != 0;
        if monthly {
            v.check(
                !(1..=12).contains(&r.interval_months),
                &format!("{field}.interval_months"),
                "must be between 1 (every month) and 12",
            );
            v.check(
                !r.weekdays.is_empty() || r.interval_weeks != 0,
                &format!("{field}.interval_months"),
                "a monthly recurrence repeats the first date's day: leave weekdays and interval_weeks empty",
            );
        } else {
            v.check(
                !(1..=52).contains(&r.interval_weeks),
                &format!("{field}.interval_weeks"),
                "must be between 1 (every week) and 52",
            );
            v.check(
                r.weekdays.is_empty(),
                &format!("{field}.weekdays"),
                "choose at least one weekday (1 = Monday ... 7 = Sunday)",
            );
        }
        let mut weekdays = Vec::new();
        for (i, d) in r.weekdays.iter().enumerate() {
            let f = format!("{field}.weekdays[{i}]");
            match u32::try_from(*d) {
                Ok(d @ 1..=7) if weekdays.contains(&d) => v.add(f, "is repeated"),
                Ok(d @ 1..=7) => weekdays.push(d),
                _ => v.add(f, "must be 1 (Monday) to 7 (Sunday)"),
            }
        }
        weekdays.sort_unstable();
        let end_date = if r.end_date.trim().is_empty() {
            None
        } else {
            date(v, &format!("{field}.end_date"), &r.end_date)
        };
        match (end_date.is_some() || !r.end_date.trim().is_empty(), r.count) {
            (false, 0) => v.add(field, "needs an end: an end_date or a count of occurrences"),
            (true, c) if c != 0 => v.add(field, "give an end_date or a count, not both"),
            (_, c) if c < 0 || c as usize > MAX_OCCURRENCES => v.add(
                format!("{field}.count"),
                format!("must be between 1 and {MAX_OCCURRENCES}"),
            ),
            _ => {}
        }
        if let (Some(end), Some(first)) = (end_date, first_date) {
            v.check(
                end < first,
                &format!("{field}.end_date"),
                format!("{end} is before the first date {first}"),
            );
            v.check(
                first
                    .checked_add_days(Days::new(MAX_SPAN_DAYS))
                    .is_some_and(|max| end > max),
                &format!("{field}.end_date"),
                "a recurrence may run for three years at most",
            );
        }
        (v.len() == before).then(|| Self {
            interval_weeks: r.interval_weeks as u32,
            weekdays,
            interval_months: r.interval_months as u32,
            end_date,
            count: (r.count > 0).then_some(r.count as u32),
        })
    }
}

#[cfg(test)]
mod tests;
