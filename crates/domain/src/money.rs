//! Order arithmetic in integer cents (DESIGN §3): each line rounds half-up
//! to the cent, and the VAT breakdown sums the lines per rate.

use std::collections::BTreeMap;

/// `value × num / den`, rounded half-up (values are never negative here).
fn mul_div_round(value: i128, num: i128, den: i128) -> i128 {
    (value * num * 2 + den) / (den * 2)
}

/// One line: (total excluding VAT, VAT) in cents.
pub fn line(unit_cents: i64, quantity: i32, discount_bp: i32, vat_bp: i32) -> (i64, i64) {
    let gross = i128::from(unit_cents) * i128::from(quantity);
    let net = mul_div_round(gross, i128::from(10_000 - discount_bp), 10_000);
    let vat = mul_div_round(net, i128::from(vat_bp), 10_000);
    (
        i64::try_from(net).unwrap_or(i64::MAX),
        i64::try_from(vat).unwrap_or(i64::MAX),
    )
}

/// The price of `minutes` at an hourly rate, rounded half-up to the cent.
pub fn for_minutes(hourly_cents: i64, minutes: i32) -> i64 {
    i64::try_from(mul_div_round(
        i128::from(hourly_cents),
        i128::from(minutes),
        60,
    ))
    .unwrap_or(i64::MAX)
}

/// The part excluding VAT of an amount including it at `vat_bp`, rounded
/// half-up (the VAT is the rest, so the two always add up).
pub fn net_of(incl_cents: i64, vat_bp: i32) -> i64 {
    i64::try_from(mul_div_round(
        i128::from(incl_cents),
        10_000,
        10_000 + i128::from(vat_bp),
    ))
    .unwrap_or(i64::MAX)
}

/// Per VAT rate: (base, VAT), from the lines' (rate, net, vat).
pub fn breakdown(lines: &[(i32, i64, i64)]) -> BTreeMap<i32, (i64, i64)> {
    let mut out = BTreeMap::new();
    for (rate, net, vat) in lines {
        let e = out.entry(*rate).or_insert((0, 0));
        e.0 += net;
        e.1 += vat;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_half_up_to_the_cent() {
        // 3 × 3.33 = 9.99; 20 % VAT = 1.998 -> 2.00.
        assert_eq!(line(333, 3, 0, 2000), (999, 200));
        // 10 % off 0.05 = 0.045 -> 0.05 (half-up), 5.5 % VAT of 0.05 = 0.00275 -> 0.00.
        assert_eq!(line(5, 1, 1000, 550), (5, 0));
        // 1 × 0.10, 5.5 % = 0.0055 -> 0.01.
        assert_eq!(line(10, 1, 0, 550), (10, 1));
        // A full discount costs nothing.
        assert_eq!(line(1990, 2, 10_000, 2000), (0, 0));
    }

    #[test]
    fn the_breakdown_sums_lines_per_rate() {
        let b = breakdown(&[(2000, 999, 200), (550, 1000, 55), (2000, 1, 0)]);
        assert_eq!(b[&2000], (1000, 200));
        assert_eq!(b[&550], (1000, 55));
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn huge_quantities_do_not_overflow() {
        let (net, vat) = line(100_000_000, 10_000, 0, 2000);
        assert_eq!(net, 1_000_000_000_000);
        assert_eq!(vat, 200_000_000_000);
    }

    #[test]
    fn a_duration_costs_its_share_of_the_hourly_rate() {
        // 25.90 € an hour for 1 h 30 = 38.85; for 50 min = 21.583 -> 21.58.
        assert_eq!(for_minutes(2590, 90), 3885);
        assert_eq!(for_minutes(2590, 50), 2158);
        // 0.01 € for 30 min = 0.005 -> 0.01 (half-up).
        assert_eq!(for_minutes(1, 30), 1);
    }

    #[test]
    fn an_amount_including_vat_splits_into_net_and_vat() {
        // 12.00 incl. 20 %: 10.00 + 2.00; 10.00 incl. 5.5 %: 9.48 + 0.52.
        assert_eq!(net_of(1200, 2000), 1000);
        assert_eq!(net_of(1000, 550), 948);
    }
}
