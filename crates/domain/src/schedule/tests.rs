#![allow(clippy::unwrap_used)]
use super::*;

fn now() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

fn parse(s: pb::Schedule) -> Result<Schedule, Vec<String>> {
    let mut v = Violations::new();
    let out = Schedule::parse(&mut v, "schedule", Some(&s), now(), DEFAULT_HORIZON_DAYS);
    match v.into_result() {
        Ok(()) => Ok(out.unwrap()),
        Err(f) => Err(f
            .into_fields()
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.description))
            .collect()),
    }
}

fn weekly(first: &str, weekdays: Vec<i32>, interval: i32, end: &str, count: i32) -> pb::Schedule {
    pb::Schedule {
        time_zone: String::new(),
        first_date: first.into(),
        start_time: "09:00".into(),
        duration_minutes: 120,
        recurrence: Some(pb::Recurrence {
            interval_weeks: interval,
            weekdays,
            end_date: end.into(),
            count,
            interval_months: 0,
        }),
    }
}

#[test]
fn nine_stays_nine_across_the_spring_clock_change() {
    // Paris goes from UTC+1 to UTC+2 on Sunday 29 March 2026.
    let s = parse(weekly("2026-03-23", vec![1], 1, "", 2)).unwrap();
    let dates = s.dates();
    assert_eq!(dates.len(), 2);
    assert_eq!(
        s.start_of(dates[0]).unwrap().to_rfc3339(),
        "2026-03-23T08:00:00+00:00"
    );
    assert_eq!(
        s.start_of(dates[1]).unwrap().to_rfc3339(),
        "2026-03-30T07:00:00+00:00"
    );
}

#[test]
fn every_other_week_on_two_days_until_a_date() {
    // Monday 2 March 2026: weeks of 2, 16 and 30 March.
    let s = parse(weekly("2026-03-04", vec![3, 1], 2, "2026-03-31", 0)).unwrap();
    let dates: Vec<String> = s.dates().iter().map(ToString::to_string).collect();
    assert_eq!(
        dates,
        ["2026-03-04", "2026-03-16", "2026-03-18", "2026-03-30"]
    );
    assert_eq!(s.recurrence.unwrap().weekdays, [1, 3]);
}

#[test]
fn impossible_schedules_say_why() {
    let err = |s| parse(s).unwrap_err().join("\n");
    assert!(err(weekly("2026-03-02", vec![], 1, "", 3)).contains("recurrence.weekdays: choose"));
    assert!(err(weekly("2026-03-02", vec![8], 1, "", 3)).contains("weekdays[0]"));
    assert!(err(weekly("2026-03-02", vec![1], 0, "", 3)).contains("interval_weeks"));
    assert!(err(weekly("2026-03-02", vec![1], 1, "", 0)).contains("needs an end"));
    assert!(err(weekly("2026-03-02", vec![1], 1, "2026-04-01", 3)).contains("not both"));
    assert!(err(weekly("2026-03-10", vec![1], 1, "2026-03-01", 0)).contains("before the first"));
    // Tuesday to Thursday with Mondays only: nothing in between.
    assert!(err(weekly("2026-03-03", vec![1], 1, "2026-03-05", 0)).contains("no occurrence"));
    assert!(
        err(weekly(
            "2026-03-02",
            vec![1, 2, 3, 4, 5, 6, 7],
            1,
            "2029-01-01",
            0
        ))
        .contains("more than 1000")
    );
    assert!(err(weekly("2026-02-23", vec![1], 1, "", 2)).contains("in the past"));
    let mut gap = weekly("2026-03-29", vec![7], 1, "", 1);
    gap.start_time = "02:30".into();
    assert!(err(gap).contains("does not exist"));
    let mut bad = weekly("2026-02-30", vec![1], 1, "", 1);
    bad.time_zone = "Mars/Olympus".into();
    bad.start_time = "25:00".into();
    bad.duration_minutes = 5;
    let e = err(bad);
    for f in ["time_zone", "first_date", "start_time", "duration_minutes"] {
        assert!(e.contains(f), "{e}");
    }
}

#[test]
fn bookings_stay_within_the_horizon() {
    let err = |s| parse(s).unwrap_err().join("\n");
    // Two years from 2026-03-01: until 2028-02-29.
    let e = err(weekly("9999-12-31", vec![5], 1, "", 1));
    assert!(
        e.contains("schedule.first_date: 9999-12-31 is too far ahead"),
        "{e}"
    );
    assert!(e.contains("2028-02-29"), "{e}");
    let e = err(weekly("2028-03-01", vec![3], 1, "", 1));
    assert!(e.contains("schedule.first_date"), "{e}");
    // A series starting soon but running past the horizon.
    let e = err(weekly("2026-03-02", vec![1], 1, "", 150));
    assert!(
        e.contains("schedule.recurrence: its last occurrence"),
        "{e}"
    );
    // The last day of the horizon is bookable.
    assert!(parse(weekly("2028-02-29", vec![2], 1, "", 1)).is_ok());
}

#[test]
fn monthly_by_date_keeps_the_day_or_the_months_last() {
    let mut s = weekly("2026-03-31", vec![], 0, "", 5);
    s.recurrence.as_mut().unwrap().interval_months = 1;
    let s = parse(s).unwrap();
    let dates: Vec<String> = s.dates().iter().map(ToString::to_string).collect();
    assert_eq!(
        dates,
        [
            "2026-03-31",
            "2026-04-30",
            "2026-05-31",
            "2026-06-30",
            "2026-07-31"
        ]
    );
    // Every month from 29 January, through a non-leap February.
    let mut s = weekly("2027-01-29", vec![], 0, "2027-06-01", 0);
    s.recurrence.as_mut().unwrap().interval_months = 1;
    let dates: Vec<String> = parse(s)
        .unwrap()
        .dates()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        dates,
        [
            "2027-01-29",
            "2027-02-28",
            "2027-03-29",
            "2027-04-29",
            "2027-05-29"
        ]
    );
    let mut s = weekly("2027-01-29", vec![1], 0, "", 3);
    s.recurrence.as_mut().unwrap().interval_months = 2;
    assert!(parse(s).unwrap_err().join(" ").contains("interval_months"));
}

#[test]
fn occurrences_last_their_duration_in_utc_across_the_autumn_change() {
    // Paris leaves summer time on Sunday 25 October 2026.
    let s = parse(weekly("2026-10-19", vec![1], 1, "", 2)).unwrap();
    let occ = s.occurrences();
    assert_eq!(occ[0].0.to_rfc3339(), "2026-10-19T07:00:00+00:00");
    assert_eq!(occ[1].0.to_rfc3339(), "2026-10-26T08:00:00+00:00");
    assert!(occ.iter().all(|(a, b)| (*b - *a).num_minutes() == 120));
}

#[test]
fn one_time_in_another_zone() {
    let mut s = weekly("2026-06-01", vec![], 1, "", 0);
    s.recurrence = None;
    s.time_zone = "America/Martinique".into();
    let s = parse(s).unwrap();
    assert_eq!(s.dates().len(), 1);
    assert_eq!(
        s.start_of(s.first_date).unwrap().to_rfc3339(),
        "2026-06-01T13:00:00+00:00"
    );
}
