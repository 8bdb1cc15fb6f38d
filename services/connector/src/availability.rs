//! A pulled worker's weekly availability. The ERP owns its workers, so
//! hours its employee record carries (`availability`: `[{"weekday": 1..7,
//! "start": "HH:MM", "end": "HH:MM"}]`, Ogust's "disponibilités") are the
//! worker's. A record without any would leave the worker with no hours at
//! all, so that no booking could ever be assigned to them; such a worker
//! gets the tenant's opening hours (`RELAIS_CONNECTOR_OPENING_HOURS`)
//! instead, and says so (`availability_source` = `opening_hours`). Hours
//! staff set in the shop for an ERP worker are kept until the ERP sends
//! hours of its own.

use std::{fmt, str::FromStr};

use relais_proto::planning::{AvailabilitySource, WeeklySlot, WorkerFields};
use serde_json::Value;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The opening hours given to an ERP worker without availability:
/// `;`-separated `<Day>[-<Day>] HH:MM-HH:MM`, e.g. the default
/// `Mon-Fri 08:00-19:00` or `Mon-Fri 08:00-12:00; Mon-Fri 14:00-19:00; Sat 09:00-12:00`.
/// Planning checks the slots themselves (order, overlaps) on the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningHours(pub Vec<WeeklySlot>);

impl Default for OpeningHours {
    fn default() -> Self {
        Self(
            (1..=5)
                .map(|weekday| WeeklySlot {
                    weekday,
                    start_time: "08:00".into(),
                    end_time: "19:00".into(),
                })
                .collect(),
        )
    }
}

fn day(s: &str) -> Result<i32, String> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(s.trim()))
        .map(|i| i as i32 + 1)
        .ok_or_else(|| format!("{s:?} is not a day (Mon ... Sun)"))
}

fn hhmm(s: &str) -> Result<String, String> {
    chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map(|t| t.format("%H:%M").to_string())
        .map_err(|_| format!("{s:?} is not a time (HH:MM)"))
}

impl FromStr for OpeningHours {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut slots = Vec::new();
        for entry in s.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (days, times) = entry
                .split_once(' ')
                .ok_or_else(|| format!("{entry:?}: expected <Day>[-<Day>] HH:MM-HH:MM"))?;
            let (first, last) = days.split_once('-').unwrap_or((days, days));
            let (first, last) = (day(first)?, day(last)?);
            let (start, end) = times
                .split_once('-')
                .ok_or_else(|| format!("{entry:?}: expected HH:MM-HH:MM"))?;
            let (start, end) = (hhmm(start)?, hhmm(end)?);
            if end <= start || first > last {
                return Err(format!("{entry:?}: the days and times must run forward"));
            }
            slots.extend((first..=last).map(|weekday| WeeklySlot {
                weekday,
                start_time: start.clone(),
                end_time: end.clone(),
            }));
        }
        if slots.is_empty() {
            return Err("no opening hours".into());
        }
        Ok(Self(slots))
    }
}

impl fmt::Display for OpeningHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                let d = DAYS[(s.weekday.clamp(1, 7) - 1) as usize];
                format!("{d} {}-{}", s.start_time, s.end_time)
            })
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// The ERP record's own hours, as given (planning names a bad slot's
/// field); `None` when it carries none.
pub fn from_erp(availability: Option<&Value>) -> Option<Vec<WeeklySlot>> {
    let slots: Vec<WeeklySlot> = availability?
        .as_array()?
        .iter()
        .map(|s| WeeklySlot {
            weekday: s
                .get("weekday")
                .and_then(Value::as_i64)
                .and_then(|d| i32::try_from(d).ok())
                .unwrap_or(0),
            start_time: s
                .get("start")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            end_time: s
                .get("end")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        })
        .collect();
    (!slots.is_empty()).then_some(slots)
}

/// Sets `f`'s availability (which holds the shop's current fields, if the
/// worker exists) from the ERP's record: its hours, else the shop's if
/// staff set some, else the opening hours.
pub fn apply(f: &mut WorkerFields, erp: Option<Vec<WeeklySlot>>, opening: &OpeningHours) {
    let (slots, source) = match erp {
        Some(slots) => (slots, AvailabilitySource::Erp),
        None if f.availability_source() == AvailabilitySource::Shop
            && !f.availability.is_empty() =>
        {
            return;
        }
        None => (opening.0.clone(), AvailabilitySource::OpeningHours),
    };
    f.availability = slots;
    f.availability_source = source as i32;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn opening_hours_parse_day_ranges_and_print_back() {
        assert_eq!(
            OpeningHours::default(),
            "Mon-Fri 08:00-19:00".parse().unwrap()
        );
        let h: OpeningHours = "mon-tue 8:00-12:00; Sat 09:00-12:30".parse().unwrap();
        assert_eq!(
            h.to_string(),
            "Mon 08:00-12:00; Tue 08:00-12:00; Sat 09:00-12:30"
        );
        for bad in [
            "",
            "Mon",
            "Xyz 08:00-10:00",
            "Mon 10:00-08:00",
            "Fri-Mon 08:00-10:00",
        ] {
            assert!(bad.parse::<OpeningHours>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_erps_hours_win_then_the_shops_then_the_opening_hours() {
        let opening = OpeningHours::default();
        let erp = from_erp(Some(
            &serde_json::json!([{"weekday": 6, "start": "09:00", "end": "12:00"}]),
        ));
        let mut f = WorkerFields::default();
        apply(&mut f, erp.clone(), &opening);
        assert_eq!(f.availability_source(), AvailabilitySource::Erp);
        assert_eq!(f.availability.len(), 1);

        let mut new = WorkerFields::default();
        apply(&mut new, from_erp(Some(&serde_json::json!([]))), &opening);
        assert_eq!(new.availability_source(), AvailabilitySource::OpeningHours);
        assert_eq!(new.availability, opening.0);

        let mut shop = WorkerFields {
            availability: erp.clone().unwrap(),
            availability_source: AvailabilitySource::Shop as i32,
            ..Default::default()
        };
        apply(&mut shop, None, &opening);
        assert_eq!(shop.availability_source(), AvailabilitySource::Shop);
        assert_eq!(shop.availability, erp.unwrap());
    }
}
