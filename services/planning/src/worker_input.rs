//! A worker as a caller writes it (CreateWorker, UpdateWorker), checked:
//! names, contact, skills, weekly availability, time zone.

use chrono::NaiveTime;
use chrono_tz::Tz;
use relais_domain::schedule::DEFAULT_TIME_ZONE;
use relais_platform::{
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::planning::{AvailabilitySource, WorkerFields};
use uuid::Uuid;

const MAX_SKILLS: usize = 200;
const MAX_SLOTS: usize = 50;

/// A weekly slot as stored: ISO weekday and local times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    pub weekday: u32,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

pub struct Input {
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) photo_url: String,
    pub(crate) provider: String,
    pub(crate) skills: Vec<Uuid>,
    pub(crate) availability: Vec<Slot>,
    pub(crate) time_zone: String,
    pub(crate) active: bool,
    pub(crate) external_ref: Option<String>,
    /// The source the caller named (see `source`).
    pub(crate) source: AvailabilitySource,
}

fn time(v: &mut Violations, field: &str, value: &str) -> Option<NaiveTime> {
    let t = NaiveTime::parse_from_str(value.trim(), "%H:%M").ok();
    v.check(t.is_none(), field, "is not a time (HH:MM)");
    t
}

impl Input {
    /// The skills asked for, in the request's order (so that index `i` is
    /// `fields.skill_service_ids[i]`).
    pub fn skills(&self) -> &[Uuid] {
        &self.skills
    }

    pub fn parse(f: Option<&WorkerFields>) -> Result<Self> {
        let f = f.ok_or_else(|| Error::invalid("fields", "is required"))?;
        let mut v = Violations::new();
        let email = validate::email(&mut v, "fields.email", &f.email);
        let phone = validate::phone(&mut v, "fields.phone", &f.phone);
        let photo = f.photo_url.trim();
        v.check(
            !(photo.is_empty() || photo.starts_with("https://") || photo.starts_with("http://"))
                || photo.len() > 2000,
            "fields.photo_url",
            "must be an http(s) URL of at most 2000 characters",
        );
        v.check(
            f.provider.chars().count() > validate::MAX_TEXT,
            "fields.provider",
            "at most 200 characters",
        );
        v.check(
            f.skill_service_ids.len() > MAX_SKILLS,
            "fields.skill_service_ids",
            format!("at most {MAX_SKILLS}"),
        );
        let mut skills = Vec::new();
        for (i, s) in f.skill_service_ids.iter().enumerate() {
            let field = format!("fields.skill_service_ids[{i}]");
            match validate::optional_id(&mut v, &field, s) {
                Some(id) if skills.contains(&id) => v.add(field, "is repeated"),
                Some(id) => skills.push(id),
                None => v.check(s.trim().is_empty(), &field, "is empty"),
            }
        }
        v.check(
            f.availability.len() > MAX_SLOTS,
            "fields.availability",
            format!("at most {MAX_SLOTS} slots"),
        );
        let mut availability: Vec<Slot> = Vec::new();
        for (i, s) in f.availability.iter().enumerate() {
            let field = format!("fields.availability[{i}]");
            let weekday = u32::try_from(s.weekday)
                .ok()
                .filter(|d| (1..=7).contains(d));
            v.check(
                weekday.is_none(),
                &format!("{field}.weekday"),
                "must be 1 (Monday) to 7 (Sunday)",
            );
            let start = time(&mut v, &format!("{field}.start_time"), &s.start_time);
            let end = time(&mut v, &format!("{field}.end_time"), &s.end_time);
            if let (Some(weekday), Some(start), Some(end)) = (weekday, start, end) {
                if end <= start {
                    v.add(format!("{field}.end_time"), "must be after start_time");
                } else if availability
                    .iter()
                    .any(|o| o.weekday == weekday && o.start < end && start < o.end)
                {
                    v.add(field, "overlaps another slot of the same day");
                } else {
                    availability.push(Slot {
                        weekday,
                        start,
                        end,
                    });
                }
            }
        }
        availability.sort_by_key(|s| (s.weekday, s.start));
        let time_zone = if f.time_zone.trim().is_empty() {
            DEFAULT_TIME_ZONE.to_owned()
        } else {
            f.time_zone.trim().to_owned()
        };
        v.check(
            time_zone.parse::<Tz>().is_err(),
            "fields.time_zone",
            "is not an IANA time zone such as Europe/Paris",
        );
        let source = AvailabilitySource::try_from(f.availability_source).unwrap_or_else(|_| {
            v.add(
                "fields.availability_source",
                "must be shop, erp or opening_hours",
            );
            AvailabilitySource::Unspecified
        });
        let external_ref = if f.external_ref.trim().is_empty() {
            None
        } else {
            Some(validate::reference(
                &mut v,
                "fields.external_ref",
                &f.external_ref,
            ))
        };
        let input = Self {
            first_name: validate::name(&mut v, "fields.first_name", &f.first_name),
            last_name: validate::name(&mut v, "fields.last_name", &f.last_name),
            email,
            phone,
            photo_url: photo.to_owned(),
            provider: f.provider.trim().to_owned(),
            skills,
            availability,
            time_zone,
            active: f.active,
            external_ref,
            source,
        };
        v.into_result()?;
        Ok(input)
    }
}
