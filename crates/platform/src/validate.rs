//! Input rules shared by every service's writes. Errors name the field.

use crate::error::{Error, Violations};
use relais_proto::types::Money;
use uuid::Uuid;

/// VAT rates in force in France, in basis points: 20 %, 10 %, 5.5 %, 2.1 %, 0.
pub const VAT_RATES_BP: [i32; 5] = [2000, 1000, 550, 210, 0];
/// The tenant's currency; every price of a catalogue is in it.
pub const CURRENCY: &str = "EUR";
/// Above this a price is a typo, not a price: 1,000,000.00.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_TEXT: usize = 200;
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
    if !m.currency.is_empty() && m.currency != CURRENCY {
        v.add(
            format!("{field}.currency"),
            format!("must be {CURRENCY}, the tenant's currency"),
        );
    }
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
