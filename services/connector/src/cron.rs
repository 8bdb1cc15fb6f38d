//! Pull schedules as five cron fields (minute hour day-of-month month
//! day-of-week), in UTC: `*`, `a`, `a-b`, `*/n`, `a-b/n` and lists of them.
//! As in cron, when both day fields are restricted a day matching either
//! is a match; day-of-week 0 and 7 are Sunday.

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

fn field(text: &str, name: &str, min: u32, max: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{name}: bad step {s:?}"))?,
            ),
            None => (part, 1),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("{name}: {s:?} is not a number from {min} to {max}"))
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("{name}: {range:?} runs backwards"));
            }
            (a, b)
        } else {
            let a = num(range)?;
            (a, if part.contains('/') { max } else { a })
        };
        let mut n = from;
        while n <= to {
            bits |= 1 << n;
            let Some(next) = n.checked_add(step) else {
                break;
            };
            n = next;
        }
    }
    Ok((bits, text != "*"))
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [mi, h, dom, mon, dow] = parts.as_slice() else {
            return Err(format!(
                "{text:?}: five fields expected (minute hour day-of-month month day-of-week)"
            ));
        };
        let (minutes, _) = field(mi, "minute", 0, 59)?;
        let (hours, _) = field(h, "hour", 0, 23)?;
        let (days, days_restricted) = field(dom, "day of month", 1, 31)?;
        let (months, _) = field(mon, "month", 1, 12)?;
        let (mut weekdays, weekdays_restricted) = field(dow, "day of week", 0, 7)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted,
            weekdays_restricted,
        })
    }

    fn day_matches(&self, t: DateTime<Utc>) -> bool {
        let dom = self.days & (1 << t.day()) != 0;
        let dow = self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first matching minute strictly after `after`, within five years
    /// (None for a schedule that never matches, such as 31 February).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = after.duration_trunc(Duration::minutes(1)).ok()? + Duration::minutes(1);
        let limit = after + Duration::days(5 * 366);
        while t < limit {
            if self.months & (1 << t.month()) == 0 || !self.day_matches(t) {
                t = (t + Duration::days(1))
                    .duration_trunc(Duration::days(1))
                    .ok()?;
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = (t + Duration::hours(1))
                    .duration_trunc(Duration::hours(1))
                    .ok()?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += Duration::minutes(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn nightly_hourly_and_stepped_schedules() {
        let nightly = Schedule::parse("0 2 * * *").unwrap();
        assert_eq!(
            nightly.next_after(at("2026-12-01T10:46:00Z")),
            Some(at("2026-12-02T02:00:00Z"))
        );
        let hourly = Schedule::parse("0 * * * *").unwrap();
        assert_eq!(
            hourly.next_after(at("2026-12-01T10:00:00Z")),
            Some(at("2026-12-01T11:00:00Z"))
        );
        let quarter = Schedule::parse("*/15 8-18 * * 1-5").unwrap();
        // Friday evening -> Monday 08:00.
        assert_eq!(
            quarter.next_after(at("2026-12-04T18:50:00Z")),
            Some(at("2026-12-07T08:00:00Z"))
        );
        // A step past the end of the range: only its first value.
        let once = Schedule::parse("5/4294967295 * * * *").unwrap();
        assert_eq!(
            once.next_after(at("2026-12-01T10:06:00Z")),
            Some(at("2026-12-01T11:05:00Z"))
        );
        let sunday = Schedule::parse("30 3 * * 7").unwrap();
        assert_eq!(
            sunday.next_after(at("2026-12-01T00:00:00Z")),
            Some(at("2026-12-06T03:30:00Z"))
        );
    }

    #[test]
    fn month_ends_and_impossible_dates() {
        let last = Schedule::parse("0 0 31 * *").unwrap();
        assert_eq!(
            last.next_after(at("2026-11-15T00:00:00Z")),
            Some(at("2026-12-31T00:00:00Z"))
        );
        assert_eq!(
            Schedule::parse("0 0 31 2 *")
                .unwrap()
                .next_after(at("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn bad_schedules_say_which_field() {
        for (text, says) in [
            ("0 2 * *", "five fields"),
            ("60 * * * *", "minute"),
            ("0 24 * * *", "hour"),
            ("0 0 0 * *", "day of month"),
            ("0 0 * 13 *", "month"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
            ("1/x * * * *", "step"),
        ] {
            let e = Schedule::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
