//! Argument parsers the commands share: ids that say what they expect,
//! and dates a user can type on any day (`today`, `next-monday`,
//! `last-friday@09:00`, `2026-11-30`), read in the tenant's zone.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use uuid::Uuid;

/// The zone relative dates are read in (the demo tenant's).
pub const ZONE: Tz = chrono_tz::Europe::Paris;

/// A UUID argument; clap names the argument in front of the message.
pub fn uuid(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s.trim()).map_err(|_| {
        format!(
            "expected a UUID like 0190f3a2-7c4e-7b1a-9d2f-3e5a6b7c8d9e (the ids the \
             commands print), got {s:?}"
        )
    })
}

const DAY_HELP: &str = "YYYY-MM-DD, today, tomorrow, yesterday, next-<weekday> \
     (e.g. next-monday), last-<weekday>, or +N / -N days";

fn weekday(s: &str) -> Option<Weekday> {
    let w = match s {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    };
    Some(w)
}

/// A day relative to `today`, or an ISO date.
pub fn day_from(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let t = s.trim().to_ascii_lowercase();
    let bad = || format!("expected a date: {DAY_HELP}; got {s:?}");
    if let Ok(d) = NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
        return Ok(d);
    }
    let shift = |days: i64| {
        if days >= 0 {
            today.checked_add_days(Days::new(days.unsigned_abs()))
        } else {
            today.checked_sub_days(Days::new(days.unsigned_abs()))
        }
    };
    let d = match t.as_str() {
        "today" => Some(today),
        "tomorrow" => shift(1),
        "yesterday" => shift(-1),
        _ => {
            if let Some(w) = t.strip_prefix("next-").and_then(weekday) {
                // Strictly after today: 1 to 7 days on.
                let ahead = (i64::from(w.num_days_from_monday())
                    - i64::from(today.weekday().num_days_from_monday()))
                .rem_euclid(7);
                shift(if ahead == 0 { 7 } else { ahead })
            } else if let Some(w) = t.strip_prefix("last-").and_then(weekday) {
                // Strictly before today: 1 to 7 days back.
                let back = (i64::from(today.weekday().num_days_from_monday())
                    - i64::from(w.num_days_from_monday()))
                .rem_euclid(7);
                shift(-(if back == 0 { 7 } else { back }))
            } else if let Some(n) = t.strip_prefix('+').and_then(|n| n.parse::<i64>().ok()) {
                shift(n)
            } else if let Some(n) = t.strip_prefix('-').and_then(|n| n.parse::<i64>().ok()) {
                shift(-n)
            } else {
                None
            }
        }
    };
    d.ok_or_else(bad)
}

/// Today in the tenant's zone.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&ZONE).date_naive()
}

/// A date argument (see [`day_from`]).
pub fn day(s: &str) -> Result<NaiveDate, String> {
    day_from(s, today())
}

/// A point in time: RFC 3339, or a day (see [`day_from`]) with an
/// optional `@HH:MM` local time in the tenant's zone (default 00:00).
pub fn when_from(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let (d, time) = match s.trim().split_once('@') {
        Some((d, t)) => (
            d,
            NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("expected a local time HH:MM after @, got {t:?}"))?,
        ),
        None => (s.trim(), NaiveTime::MIN),
    };
    let date = day_from(d, now.with_timezone(&ZONE).date_naive()).map_err(|_| {
        format!(
            "expected a time: RFC 3339 (2026-11-30T09:00:00Z), or a date ({DAY_HELP}) with an \
             optional @HH:MM; got {s:?}"
        )
    })?;
    ZONE.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!(
                "{s:?} does not exist in {} (the clocks go forward)",
                ZONE.name()
            )
        })
}

/// A time argument (see [`when_from`]).
pub fn when(s: &str) -> Result<DateTime<Utc>, String> {
    when_from(s, Utc::now())
}

/// A month: YYYY-MM, this-month or last-month.
pub fn month_from(s: &str, today: NaiveDate) -> Result<String, String> {
    let first = today.with_day(1).unwrap_or(today);
    match s.trim().to_ascii_lowercase().as_str() {
        "this-month" => Ok(first.format("%Y-%m").to_string()),
        "last-month" => Ok(first
            .checked_sub_months(Months::new(1))
            .unwrap_or(first)
            .format("%Y-%m")
            .to_string()),
        t => NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d")
            .map(|d| d.format("%Y-%m").to_string())
            .map_err(|_| format!("expected a month: YYYY-MM, this-month or last-month; got {s:?}")),
    }
}

/// A month argument (see [`month_from`]).
pub fn month(s: &str) -> Result<String, String> {
    month_from(s, today())
}

/// Lines of a listing, or `none` when there are none: a listing that
/// finds nothing says so.
pub fn print_all<I: IntoIterator<Item = String>>(lines: I) {
    let mut any = false;
    for l in lines {
        any = true;
        println!("{l}");
    }
    if !any {
        println!("none");
    }
}

/// Every item of a paged listing, read 500 at a time: `read` fetches one
/// page and says the next page's token (empty after the last).
pub async fn every_page<T, F, Fut>(mut read: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(relais_proto::types::PageRequest) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<T>, String)>>,
{
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let (items, next) = read(relais_proto::types::PageRequest {
            page_size: 500,
            page_token,
        })
        .await?;
        all.extend(items);
        if next.is_empty() {
            return Ok(all);
        }
        page_token = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn relative_days_read_from_any_day() {
        // 2026-11-30 is a Monday.
        let monday = d("2026-11-30");
        assert_eq!(day_from("next-monday", monday), Ok(d("2026-12-07")));
        assert_eq!(day_from("last-monday", monday), Ok(d("2026-11-23")));
        assert_eq!(day_from("next-tuesday", monday), Ok(d("2026-12-01")));
        assert_eq!(day_from("last-friday", monday), Ok(d("2026-11-27")));
        assert_eq!(day_from("tomorrow", monday), Ok(d("2026-12-01")));
        assert_eq!(day_from("Today", monday), Ok(monday));
        assert_eq!(day_from("+7", monday), Ok(d("2026-12-07")));
        assert_eq!(day_from("-1", monday), Ok(d("2026-11-29")));
        assert_eq!(day_from("2027-01-04", monday), Ok(d("2027-01-04")));
        let sunday = d("2026-12-06");
        assert_eq!(day_from("next-monday", sunday), Ok(d("2026-12-07")));
        assert_eq!(day_from("last-friday", sunday), Ok(d("2026-12-04")));
        let err = day_from("someday", monday).err().unwrap_or_default();
        assert!(
            err.contains("next-<weekday>") && err.contains("\"someday\""),
            "{err}"
        );
    }

    #[test]
    fn times_are_local_to_the_tenant() {
        let now: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap_or_default();
        assert_eq!(
            when_from("last-friday@09:00", now).map(|t| t.to_rfc3339()),
            Ok("2026-11-27T08:00:00+00:00".to_owned())
        );
        assert_eq!(
            when_from("2026-07-01", now).map(|t| t.to_rfc3339()),
            Ok("2026-06-30T22:00:00+00:00".to_owned())
        );
        assert_eq!(
            when_from("2026-11-23T10:00:00Z", now).map(|t| t.to_rfc3339()),
            Ok("2026-11-23T10:00:00+00:00".to_owned())
        );
        assert!(when_from("today@9h", now).is_err());
    }

    #[test]
    fn months() {
        let t = d("2026-01-15");
        assert_eq!(month_from("this-month", t), Ok("2026-01".to_owned()));
        assert_eq!(month_from("last-month", t), Ok("2025-12".to_owned()));
        assert_eq!(month_from("2026-03", t), Ok("2026-03".to_owned()));
        assert!(month_from("March", t).is_err());
    }
}
