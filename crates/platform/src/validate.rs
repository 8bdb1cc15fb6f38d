//! Input rules shared by every service's writes. Errors name the field.

use chrono::Datelike;

use crate::error::{Error, Violations};
use relais_proto::types::Money;
use uuid::Uuid;

/// VAT rates in force in France, in basis points: 20 %, 10 %, 5.5 %, 2.1 %, 0.
pub const VAT_RATES_BP: [i32; 5] = [2000, 1000, 550, 210, 0];
/// The tenant's currency; every price of a catalogue is in it.
pub const CURRENCY: &str = "EUR";
/// Above this a price is a typo, not a price: 1,000,000.00.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub use relais_domain::money::MAX_TOTAL_CENTS;
pub const MAX_TEXT: usize = 200;
/// No date Relais records predates this year (the codec refuses earlier
/// timestamps; text dates and months are held to the same range).
pub const MIN_YEAR: i32 = relais_proto::codec::MIN_YEAR;
pub const MAX_DESCRIPTION: usize = 10_000;

pub fn id(field: &str, value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value.trim()).map_err(|_| Error::invalid(field, "must be a UUID"))
}

/// An optional id: empty means none.
pub fn optional_id(v: &mut Violations, field: &str, value: &str) -> Option<Uuid> {
    if value.trim().is_empty() {
        return None;
    }
    match Uuid::parse_str(value.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            v.add(field, "must be a UUID or empty");
            None
        }
    }
}

/// A required short text: trimmed, non-empty, at most `MAX_TEXT` characters.
pub fn name(v: &mut Violations, field: &str, value: &str) -> String {
    let t = value.trim();
    if t.is_empty() {
        v.add(field, "must not be empty");
    } else if t.chars().count() > MAX_TEXT {
        v.add(field, format!("at most {MAX_TEXT} characters"));
    }
    t.to_owned()
}

/// A reference (code, SKU): non-empty, no whitespace inside, at most 64.
pub fn reference(v: &mut Violations, field: &str, value: &str) -> String {
    let t = value.trim();
    if t.is_empty() {
        v.add(field, "must not be empty");
    } else if t.len() > 64 {
        v.add(field, "at most 64 characters");
    } else if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        v.add(field, "must not contain spaces or control characters");
    }
    t.to_owned()
}

/// A reference that may be left empty.
pub fn optional_reference(v: &mut Violations, field: &str, value: &str) -> String {
    if value.trim().is_empty() {
        return String::new();
    }
    reference(v, field, value)
}

pub fn description(v: &mut Violations, field: &str, value: &str) -> String {
    if value.chars().count() > MAX_DESCRIPTION {
        v.add(field, format!("at most {MAX_DESCRIPTION} characters"));
    }
    value.trim().to_owned()
}

pub fn vat(v: &mut Violations, field: &str, bp: i32) -> i32 {
    if !VAT_RATES_BP.contains(&bp) {
        v.add(
            field,
            format!("unknown VAT rate {bp} bp: use one of {VAT_RATES_BP:?} (2000 = 20 %)"),
        );
    }
    bp
}

/// A price in the tenant's currency, 0 ..= `max` cents.
pub fn money(v: &mut Violations, field: &str, value: Option<&Money>, max: i64) -> i64 {
    let Some(m) = value else {
        v.add(field, "is required");
        return 0;
    };
    currency(v, field, m);
    if m.amount_cents < 0 {
        v.add(format!("{field}.amount_cents"), "must not be negative");
    } else if m.amount_cents > max {
        v.add(
            format!("{field}.amount_cents"),
            format!("{} is above the maximum of {max} cents", m.amount_cents),
        );
    }
    m.amount_cents
}

/// An amount a caller states (a total it computed, to be compared with
/// ours): the tenant's currency or none, within ±`MAX_TOTAL_CENTS`. `None`
/// when absent or refused.
pub fn stated_money(v: &mut Violations, field: &str, value: Option<&Money>) -> Option<i64> {
    let m = value?;
    let before = v.len();
    currency(v, field, m);
    v.check(
        !(-MAX_TOTAL_CENTS..=MAX_TOTAL_CENTS).contains(&m.amount_cents),
        &format!("{field}.amount_cents"),
        format!("must be between -{MAX_TOTAL_CENTS} and {MAX_TOTAL_CENTS} cents"),
    );
    (v.len() == before).then_some(m.amount_cents)
}

/// Every amount is in the tenant's currency; empty means that one.
fn currency(v: &mut Violations, field: &str, m: &Money) {
    if !m.currency.is_empty() && m.currency != CURRENCY {
        v.add(
            format!("{field}.currency"),
            format!("must be {CURRENCY} (the tenant's currency) or empty"),
        );
    }
}

/// How far ahead of our clock another system's clock may run: an instant
/// it says is past (a document validated, a payment made) may lie up to
/// this much in our future, not more.
pub const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// An instant that has happened (a validation, a payment): not after `now`
/// plus [`CLOCK_SKEW`], nor before [`MIN_YEAR`]. `None` when refused.
pub fn past_instant(
    v: &mut Violations,
    field: &str,
    t: &prost_types::Timestamp,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = u32::try_from(t.nanos)
        .ok()
        .and_then(|n| chrono::DateTime::from_timestamp(t.seconds, n));
    match at {
        None => v.add(field, "is not a valid time"),
        Some(at) if at > now + CLOCK_SKEW => v.add(
            field,
            format!(
                "{} is in the future: it must be at most a day after now ({})",
                at.format("%Y-%m-%dT%H:%M:%SZ"),
                now.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ),
        Some(at) if at.year() < MIN_YEAR => {
            v.add(field, format!("must not be before the year {MIN_YEAR}"));
        }
        Some(at) => return Some(at),
    }
    None
}

/// The first year of any period Relais bills or reports on (a month, a
/// certificate's year): earlier ones are typos.
pub const FIRST_YEAR: i32 = 2000;

/// A month written `YYYY-MM`, from January [`FIRST_YEAR`] to at most
/// `months_ahead` months after the month of `today` (0: the current month
/// at most); its first day. `None` when refused.
pub fn month(
    v: &mut Violations,
    field: &str,
    value: &str,
    today: chrono::NaiveDate,
    months_ahead: u32,
) -> Option<chrono::NaiveDate> {
    let t = value.trim();
    // Four digits, a dash, two digits: chrono alone would take "0000-01",
    // "-0001-01" or "+12345-01".
    let shaped = t.len() == 7
        && t.bytes().enumerate().all(|(i, b)| {
            if i == 4 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let parsed = shaped
        .then(|| chrono::NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d").ok())
        .flatten();
    let Some(first) = parsed else {
        v.add(field, "is not a month (YYYY-MM)");
        return None;
    };
    let latest = today
        .with_day(1)
        .and_then(|d| d.checked_add_months(chrono::Months::new(months_ahead)))
        .unwrap_or(today);
    if first.year() < FIRST_YEAR || first > latest {
        let when = if months_ahead == 0 {
            "this month".to_owned()
        } else {
            format!("{months_ahead} months ahead")
        };
        v.add(
            field,
            format!(
                "must be between {FIRST_YEAR}-01 and {} ({when})",
                latest.format("%Y-%m")
            ),
        );
        return None;
    }
    Some(first)
}

pub fn money_out(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: CURRENCY.into(),
    })
}

/// 1..=500, 0 meaning 50.
pub fn page_size(size: i32) -> Result<i64, Error> {
    match size {
        0 => Ok(50),
        1..=500 => Ok(i64::from(size)),
        _ => Err(Error::invalid(
            "page.page_size",
            "must be between 1 and 500",
        )),
    }
}

pub fn page_token(token: &str) -> Result<Option<Uuid>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(token)
        .map(Some)
        .map_err(|_| Error::invalid("page.page_token", "is not a token from a previous page"))
}

/// `%text%` for ILIKE, with the pattern characters of `text` escaped.
pub fn like(text: &str) -> String {
    let escaped = text
        .trim()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Optimistic concurrency: `expected` > 0 must equal the record's version.
pub fn expected_version(expected: i64, actual: i64) -> Result<(), Error> {
    if expected > 0 && expected != actual {
        return Err(Error::FailedPrecondition(format!(
            "version mismatch: expected {expected}, the record is at {actual}; read it again"
        )));
    }
    Ok(())
}

/// Optional; when given, one `@` with text on both sides and no spaces.
pub fn email(v: &mut Violations, field: &str, value: &str) -> String {
    let e = value.trim();
    if !e.is_empty() {
        let ok = e.len() <= 254
            && !e.chars().any(char::is_whitespace)
            && e.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty() && host.contains('.') && !host.contains('@')
            });
        v.check(!ok, field, "is not an e-mail address");
    }
    e.to_owned()
}

/// Optional; digits with `+`, spaces, dots, dashes or parentheses.
pub fn phone(v: &mut Violations, field: &str, value: &str) -> String {
    let p = value.trim();
    let ok = p.len() <= 30
        && p.chars()
            .all(|c| c.is_ascii_digit() || " +.-()".contains(c));
    v.check(!ok, field, "is not a phone number");
    p.to_owned()
}
