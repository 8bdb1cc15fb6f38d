//! The candidate slots of a free-slot search: every start on a step
//! through each asked day, in the customer's local time, turned into UTC
//! instants. Planning says who is free for each (CheckSlots); what a slot
//! is (a date and a local start time) is what a booking's schedule names.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::problem::Problem;

/// What planning checks at most in one call.
pub const MAX_SLOTS: usize = 1000;
pub const MAX_DAYS: usize = 14;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The `days` parameter: comma-separated dates, 1 to 14 of them.
pub fn parse_days(days: &str) -> Result<Vec<NaiveDate>, Problem> {
    let mut out = Vec::new();
    for d in days.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| Problem::field("days", format!("{d:?} is not a date (YYYY-MM-DD)")))?;
        if !out.contains(&date) {
            out.push(date);
        }
    }
    if out.is_empty() {
        return Err(Problem::field(
            "days",
            "is required: one or more dates, YYYY-MM-DD, comma-separated",
        ));
    }
    if out.len() > MAX_DAYS {
        return Err(Problem::field("days", format!("at most {MAX_DAYS} days")));
    }
    out.sort();
    Ok(out)
}

pub fn parse_zone(zone: &str) -> Result<Tz, Problem> {
    if zone.trim().is_empty() {
        return Ok(chrono_tz::Europe::Paris);
    }
    zone.trim()
        .parse()
        .map_err(|_| Problem::field("time_zone", "is not an IANA time zone (e.g. Europe/Paris)"))
}

/// Every slot of `minutes` starting on a multiple of `step` minutes after
/// midnight on each day, that starts after `now` and ends within its day.
/// A local time a clock change skips is left out; one it repeats is taken
/// at its first occurrence, as bookings expand it.
pub fn candidates(
    days: &[NaiveDate],
    zone: Tz,
    minutes: u32,
    step: u32,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, Problem> {
    let length = Duration::minutes(i64::from(minutes));
    let mut out = Vec::new();
    for day in days {
        let mut offset = 0;
        while offset + minutes <= 24 * 60 {
            let start_time = NaiveTime::from_num_seconds_from_midnight_opt(offset * 60, 0)
                .unwrap_or(NaiveTime::MIN);
            offset += step;
            let Some(start) = zone
                .from_local_datetime(&day.and_time(start_time))
                .earliest()
            else {
                continue;
            };
            let start = start.with_timezone(&Utc);
            if start <= now {
                continue;
            }
            out.push(Candidate {
                date: *day,
                start_time,
                start,
                end: start + length,
            });
            if out.len() > MAX_SLOTS {
                return Err(Problem::field(
                    "days",
                    format!(
                        "more than {MAX_SLOTS} slots to check: ask for fewer days or a longer step_minutes"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn a_day_gives_each_start_that_fits_in_it() {
        let past = DateTime::<Utc>::MIN_UTC;
        let c = candidates(
            &[date("2030-06-03")],
            chrono_tz::Europe::Paris,
            120,
            30,
            past,
        )
        .unwrap_or_default();
        // 00:00 ... 22:00, every half hour.
        assert_eq!(c.len(), 45);
        assert_eq!(c[18].start_time.format("%H:%M").to_string(), "09:00");
        // Paris is UTC+2 in June.
        assert_eq!(c[18].start.format("%H:%M").to_string(), "07:00");
        assert_eq!(c[18].end - c[18].start, Duration::hours(2));
    }

    #[test]
    fn a_time_the_clock_skips_is_left_out() {
        let past = DateTime::<Utc>::MIN_UTC;
        // 29 March 2026: 02:00 to 03:00 does not exist in Paris.
        let c = candidates(
            &[date("2026-03-29")],
            chrono_tz::Europe::Paris,
            60,
            30,
            past,
        )
        .unwrap_or_default();
        assert!(
            !c.iter()
                .any(|s| s.start_time.format("%H").to_string() == "02")
        );
        assert_eq!(c.len(), 47 - 2);
    }

    #[test]
    fn past_slots_and_too_many_are_refused_or_dropped() {
        let now = Utc::now();
        let today = now.with_timezone(&chrono_tz::Europe::Paris).date_naive();
        let c = candidates(&[today], chrono_tz::Europe::Paris, 60, 30, now).unwrap_or_default();
        assert!(c.iter().all(|s| s.start > now));
        let days: Vec<NaiveDate> = (0..14)
            .map(|i| date("2030-01-01") + Duration::days(i))
            .collect();
        assert!(candidates(&days, chrono_tz::Europe::Paris, 30, 15, now).is_err());
        assert!(parse_days("2030-01-01,nope").is_err());
        assert!(parse_days("").is_err());
    }
}
