//! Order arithmetic in integer cents (docs/architecture.md §3): each line rounds half-up
//! to the cent, and the VAT breakdown sums the lines per rate.
//!
//! Every function here is checked: it answers `None` rather than panic
//! (debug) or wrap (release) when an input would take an amount beyond
//! ±[`MAX_TOTAL_CENTS`]; callers turn that into INVALID_ARGUMENT naming the
//! field that caused it ([`too_large`] says why). Amounts are computed in
//! i128, where no product of an i64 and two i32 can overflow.

use std::collections::BTreeMap;

use crate::violations::Violations;

/// Above this (either sign) any amount — a line, a document's total, a sum
/// of documents — is refused: 100,000,000,000.00, far above any real
/// document, and small enough that adding up a million of them still fits
/// in an i64 (so no sum of stored amounts can overflow either).
pub const MAX_TOTAL_CENTS: i64 = 10_000_000_000_000;

/// Why an amount was refused, for the field that made it too large.
pub fn too_large() -> String {
    format!("makes an amount beyond {MAX_TOTAL_CENTS} cents: check the quantities and prices")
}

/// `x` as cents, if within ±`MAX_TOTAL_CENTS`.
fn cents(x: i128) -> Option<i64> {
    i64::try_from(x)
        .ok()
        .filter(|c| (-MAX_TOTAL_CENTS..=MAX_TOTAL_CENTS).contains(c))
}

/// `value × num / den`, rounded half-up (half away from zero for negative
/// values, so a credit mirrors its invoice). `den` > 0.
fn mul_div_round(value: i128, num: i128, den: i128) -> i128 {
    let x = value * num;
    if x >= 0 {
        (x * 2 + den) / (den * 2)
    } else {
        -((-x * 2 + den) / (den * 2))
    }
}

/// One line: (total excluding VAT, VAT) in cents; `None` beyond the range.
pub fn line(unit_cents: i64, quantity: i32, discount_bp: i32, vat_bp: i32) -> Option<(i64, i64)> {
    let gross = i128::from(unit_cents) * i128::from(quantity);
    let net = mul_div_round(gross, i128::from(10_000 - i64::from(discount_bp)), 10_000);
    let vat = mul_div_round(net, i128::from(vat_bp), 10_000);
    Some((cents(net)?, cents(vat)?))
}

/// The price of `minutes` at an hourly rate, rounded half-up to the cent.
pub fn for_minutes(hourly_cents: i64, minutes: i32) -> Option<i64> {
    cents(mul_div_round(
        i128::from(hourly_cents),
        i128::from(minutes),
        60,
    ))
}

/// `amount × part / whole`, rounded half-up: the share of a price for part
/// of its quantity (minutes worked of minutes planned...). `None` when
/// `whole` is not positive or the result is beyond the range.
pub fn share(amount_cents: i64, part: i64, whole: i64) -> Option<i64> {
    if whole <= 0 {
        return None;
    }
    cents(mul_div_round(
        i128::from(amount_cents),
        i128::from(part),
        i128::from(whole),
    ))
}

/// The part excluding VAT of an amount including it at `vat_bp`, rounded
/// half-up (the VAT is the rest, so the two always add up).
pub fn net_of(incl_cents: i64, vat_bp: i32) -> Option<i64> {
    cents(mul_div_round(
        i128::from(incl_cents),
        10_000,
        10_000 + i128::from(vat_bp),
    ))
}

/// The sum of amounts, if it stays within the range.
pub fn sum(amounts: impl IntoIterator<Item = i64>) -> Option<i64> {
    amounts
        .into_iter()
        .try_fold(0_i64, |acc, a| cents(i128::from(acc) + i128::from(a)))
}

/// [`sum`], or INVALID_ARGUMENT on `field` (the input that made it too
/// large) when it leaves the range.
pub fn total(field: &str, amounts: impl IntoIterator<Item = i64>) -> Result<i64, Violations> {
    sum(amounts).ok_or_else(|| Violations::one(field, too_large()))
}

/// [`line`], or INVALID_ARGUMENT on `field` when it leaves the range.
pub fn checked_line(
    field: &str,
    unit_cents: i64,
    quantity: i32,
    discount_bp: i32,
    vat_bp: i32,
) -> Result<(i64, i64), Violations> {
    line(unit_cents, quantity, discount_bp, vat_bp)
        .ok_or_else(|| Violations::one(field, too_large()))
}

/// Per VAT rate: (base, VAT), from the lines' (rate, net, vat); `None` when
/// a sum leaves the range.
pub fn breakdown(lines: &[(i32, i64, i64)]) -> Option<BTreeMap<i32, (i64, i64)>> {
    let mut out = BTreeMap::new();
    for (rate, net, vat) in lines {
        let e = out.entry(*rate).or_insert((0, 0));
        *e = (sum([e.0, *net])?, sum([e.1, *vat])?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_round_half_up_to_the_cent() {
        // 3 × 3.33 = 9.99; 20 % VAT = 1.998 -> 2.00.
        assert_eq!(line(333, 3, 0, 2000), Some((999, 200)));
        // 10 % off 0.05 = 0.045 -> 0.05 (half-up), 5.5 % VAT of 0.05 = 0.00275 -> 0.00.
        assert_eq!(line(5, 1, 1000, 550), Some((5, 0)));
        // 1 × 0.10, 5.5 % = 0.0055 -> 0.01.
        assert_eq!(line(10, 1, 0, 550), Some((10, 1)));
        // A full discount costs nothing.
        assert_eq!(line(1990, 2, 10_000, 2000), Some((0, 0)));
    }

    #[test]
    fn the_breakdown_sums_lines_per_rate() {
        let b = breakdown(&[(2000, 999, 200), (550, 1000, 55), (2000, 1, 0)]).unwrap();
        assert_eq!(b[&2000], (1000, 200));
        assert_eq!(b[&550], (1000, 55));
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn huge_quantities_do_not_overflow() {
        let (net, vat) = line(100_000_000, 10_000, 0, 2000).unwrap();
        assert_eq!(net, 1_000_000_000_000);
        assert_eq!(vat, 200_000_000_000);
    }

    #[test]
    fn a_duration_costs_its_share_of_the_hourly_rate() {
        // 25.90 € an hour for 1 h 30 = 38.85; for 50 min = 21.583 -> 21.58.
        assert_eq!(for_minutes(2590, 90), Some(3885));
        assert_eq!(for_minutes(2590, 50), Some(2158));
        // 0.01 € for 30 min = 0.005 -> 0.01 (half-up).
        assert_eq!(for_minutes(1, 30), Some(1));
    }

    #[test]
    fn an_amount_including_vat_splits_into_net_and_vat() {
        // 12.00 incl. 20 %: 10.00 + 2.00; 10.00 incl. 5.5 %: 9.48 + 0.52.
        assert_eq!(net_of(1200, 2000), Some(1000));
        assert_eq!(net_of(1000, 550), Some(948));
    }

    #[test]
    fn amounts_beyond_the_range_are_none_never_a_panic_or_a_wrap() {
        assert_eq!(line(i64::MAX, i32::MAX, 0, 2000), None);
        assert_eq!(line(i64::MIN, i32::MAX, 0, 2000), None);
        assert_eq!(line(i64::MAX, 1, i32::MIN, i32::MAX), None);
        assert_eq!(for_minutes(i64::MAX, i32::MAX), None);
        assert_eq!(net_of(i64::MIN, 0), None);
        assert_eq!(sum([i64::MAX, 1]), None);
        assert_eq!(sum([MAX_TOTAL_CENTS, 1]), None);
        assert_eq!(sum([MAX_TOTAL_CENTS, -1, 1]), Some(MAX_TOTAL_CENTS));
        assert_eq!(share(i64::MAX, i64::MAX, 1), None);
        assert_eq!(share(100, 1, 0), None);
        assert!(breakdown(&[(2000, MAX_TOTAL_CENTS, 0), (2000, 1, 0)]).is_none());
    }

    #[test]
    fn negative_amounts_round_half_away_from_zero() {
        assert_eq!(line(-5, 1, 1000, 550), Some((-5, 0)));
        assert_eq!(share(-3, 1, 2), Some(-2));
    }
}
