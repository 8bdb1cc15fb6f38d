//! A connection's fields as an admin gives them, checked: every bad field
//! named at once.

use relais_platform::{
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::connector as pb;

use super::model::{AdapterKind, Dir, FAMILIES, Family, Policy, Settings, StatusRule};
use crate::cron::Schedule;

/// A connection's fields, checked.
pub struct Fields {
    pub name: String,
    pub adapter: AdapterKind,
    pub endpoint: String,
    pub secret_ref: String,
    /// The credentials given with this call, to be sealed; empty: none
    /// given (on update: keep the stored ones).
    pub secret: String,
    pub settings: Settings,
    pub enabled: bool,
}

/// INVALID_ARGUMENT naming every bad field; `creating`: a new connection
/// needs its credentials (an update may keep the stored ones).
pub fn parse(f: Option<&pb::ConnectionFields>, creating: bool) -> Result<Fields> {
    let Some(f) = f else {
        return Err(Error::invalid("fields", "is required"));
    };
    let mut v = Violations::new();
    let name = validate::reference(&mut v, "fields.name", &f.name);
    v.check(
        !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "fields.name",
        "letters, digits, - and _ only (it becomes the origin erp:<name>)",
    );
    let adapter = match pb::AdapterKind::try_from(f.adapter) {
        Ok(pb::AdapterKind::ReferenceErp) => Some(AdapterKind::ReferenceErp),
        Ok(pb::AdapterKind::Tryton) => Some(AdapterKind::Tryton),
        Ok(pb::AdapterKind::Csv) => Some(AdapterKind::Csv),
        _ => {
            v.add("fields.adapter", "is required");
            None
        }
    };
    let endpoint = f.endpoint.trim().to_owned();
    match adapter {
        Some(AdapterKind::Csv) => v.check(
            !endpoint
                .strip_prefix("file://")
                .is_some_and(|p| p.starts_with('/') && !p.split('/').any(|s| s == "..")),
            "fields.endpoint",
            "must be a file:///absolute/path URL of the exchange folder (no ..)",
        ),
        _ => v.check(
            !(endpoint.starts_with("http://") || endpoint.starts_with("https://")),
            "fields.endpoint",
            "must be an http:// or https:// URL",
        ),
    }
    if adapter == Some(AdapterKind::Tryton) {
        let database = endpoint
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, path)| path.trim_end_matches('/'))
            .unwrap_or_default();
        v.check(
            database.is_empty() || database.contains('/'),
            "fields.endpoint",
            "a Tryton endpoint names its database: http://host:8000/<database>",
        );
    }
    v.check(
        endpoint.len() > 500,
        "fields.endpoint",
        "at most 500 characters",
    );
    let secret_ref = f.secret_ref.trim().to_owned();
    v.check(
        secret_ref.len() > 100
            || !secret_ref
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
        "fields.secret_ref",
        "a name (A-Z, 0-9, _) in the tenant's namespace of secrets, not the credentials",
    );
    let secret = f.secret.trim().to_owned();
    v.check(
        secret.chars().count() > 1000 || secret.contains(['\n', '\r', '\t']),
        "fields.secret",
        "one line of at most 1000 characters",
    );
    if adapter == Some(AdapterKind::Csv) {
        v.check(
            !secret.is_empty() || !secret_ref.is_empty(),
            "fields.secret",
            "a file exchange takes no credentials",
        );
    } else if creating && secret.is_empty() && secret_ref.is_empty() {
        v.add(
            "fields.secret",
            "the ERP's credentials are required (reference ERP: public:private; Tryton: \
             login:password)",
        );
    } else if !secret.is_empty() {
        v.check(
            !secret_ref.is_empty(),
            "fields.secret_ref",
            "give the credentials either stored (secret) or by reference (secret_ref), not both",
        );
        v.check(
            !secret.contains(':'),
            "fields.secret",
            "credentials are public:private (reference ERP) or login:password (Tryton)",
        );
    }
    let adapter = adapter.unwrap_or(AdapterKind::ReferenceErp);
    let mut families: Vec<Family> = Vec::new();
    for (i, fam) in f.families.iter().enumerate() {
        let field = |n: &str| format!("fields.families[{i}].{n}");
        let Some((known, allowed)) = FAMILIES.iter().find(|(n, _)| *n == fam.family) else {
            v.add(
                field("family"),
                format!(
                    "unknown family {:?}: one of {}",
                    fam.family,
                    FAMILIES.map(|(n, _)| n).join(", ")
                ),
            );
            continue;
        };
        if families.iter().any(|x| x.family == *known) {
            v.add(field("family"), "appears twice");
        }
        let direction = match Dir::from_pb(fam.direction) {
            Some(d) if d != Dir::Off && !adapter.carries(known) => {
                v.add(
                    field("direction"),
                    format!(
                        "the {} adapter does not carry {known} (it carries {})",
                        adapter.as_str(),
                        adapter.families().join(", ")
                    ),
                );
                d
            }
            Some(d) if d == Dir::Off || allowed.contains(&d) => d,
            Some(d) => {
                v.add(
                    field("direction"),
                    format!("{known} cannot flow {d:?} (allowed: {allowed:?})"),
                );
                Dir::Off
            }
            None => {
                v.add(field("direction"), "is required");
                Dir::Off
            }
        };
        let schedule = fam.schedule.trim().to_owned();
        if !schedule.is_empty() {
            if let Err(e) = Schedule::parse(&schedule) {
                v.add(field("schedule"), e);
            } else if !matches!(direction, Dir::Pull | Dir::Both) {
                v.add(field("schedule"), "only pulls run on a schedule");
            }
        }
        families.push(Family {
            family: (*known).to_owned(),
            direction,
            schedule,
        });
    }
    let mut order_statuses = Vec::new();
    for (i, r) in f.order_statuses.iter().enumerate() {
        let field = |n: &str| format!("fields.order_statuses[{i}].{n}");
        v.check(
            !["paid", "validated", "cancelled"].contains(&r.status.as_str()),
            &field("status"),
            "one of paid, validated, cancelled",
        );
        let send_as = match pb::SendAs::try_from(r.send_as) {
            Ok(pb::SendAs::NotSent) => "not_sent",
            Ok(pb::SendAs::Quote) => "quote",
            Ok(pb::SendAs::Order) => "order",
            _ => {
                v.add(field("send_as"), "is required");
                "not_sent"
            }
        };
        order_statuses.push(StatusRule {
            status: r.status.clone(),
            send_as: send_as.to_owned(),
        });
    }
    let conflict_policy = match pb::ConflictPolicy::try_from(f.conflict_policy) {
        Ok(pb::ConflictPolicy::ShopWins) => Policy::ShopWins,
        Ok(pb::ConflictPolicy::Manual) => Policy::Manual,
        Ok(pb::ConflictPolicy::ErpWins | pb::ConflictPolicy::Unspecified) => Policy::ErpWins,
        Err(_) => {
            v.add("fields.conflict_policy", "unknown policy");
            Policy::ErpWins
        }
    };
    v.into_result()?;
    Ok(Fields {
        name,
        adapter,
        endpoint,
        secret_ref,
        secret,
        settings: Settings {
            families,
            order_statuses,
            conflict_policy,
        },
        enabled: f.enabled,
    })
}
