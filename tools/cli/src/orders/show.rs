//! How an order and its amounts, statuses and times read on a terminal.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use relais_proto::{
    orders::{Order, OrderStatus, PaymentMode},
    types::Money,
};

/// An order's summary on stdout; with `id_only`, its id on stdout and the
/// summary on stderr.
pub(crate) fn show_order(o: &Order, id_only: bool) {
    let text = order_summary(o);
    if id_only {
        eprint!("{text}");
        println!("{}", o.id);
    } else {
        print!("{text}");
    }
}

pub(crate) fn order_summary(o: &Order) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} order {} {} by {} ({}) for {}",
        o.kind.replace('_', "-"),
        o.id,
        status_word(o.status),
        o.placed_by,
        o.placed_by_role,
        o.customer_name
    );
    if let Some(b) = &o.booking {
        let s = b.schedule.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} at {} {} for {} min, {}",
            b.service_code,
            s.start_time,
            s.time_zone,
            s.duration_minutes,
            match &s.recurrence {
                None => format!("once on {}", s.first_date),
                Some(r) => format!(
                    "every {} week(s) on weekdays {:?} from {}{}",
                    r.interval_weeks,
                    r.weekdays,
                    s.first_date,
                    if r.count > 0 {
                        format!(", {} times", r.count)
                    } else {
                        format!(" until {}", r.end_date)
                    }
                ),
            }
        );
        let _ = writeln!(
            out,
            "  {} occurrence(s): first {}, last {}; worker {}",
            b.occurrences,
            rfc3339(b.first_start.as_ref()),
            rfc3339(b.last_start.as_ref()),
            if b.worker_id.is_empty() {
                "any qualified"
            } else {
                &b.worker_id
            }
        );
        if !b.hour_pack_order_id.is_empty() {
            let _ = writeln!(
                out,
                "  paid with the hours of pack order {}",
                b.hour_pack_order_id
            );
        }
    }
    if let Some(p) = &o.hour_pack {
        let _ = writeln!(
            out,
            "  pack \"{}\": {} min of {}",
            p.name,
            p.duration_minutes,
            if p.eligible_service_ids.is_empty() {
                "any service at its VAT rate".to_owned()
            } else {
                format!("{} services", p.eligible_service_ids.len())
            }
        );
    }
    for l in &o.lines {
        let _ = writeln!(
            out,
            "  {:<10} {:<48} x{:<3} {:>12} excl. VAT, VAT {}.{:02} %",
            l.reference,
            l.name,
            l.quantity,
            money(l.total_excl_vat.as_ref()),
            l.vat_rate_bp / 100,
            l.vat_rate_bp % 100
        );
    }
    let _ = writeln!(
        out,
        "  total {} excl. VAT + {} VAT = {}; {}; confirmation to {}",
        money(o.total_excl_vat.as_ref()),
        money(o.total_vat.as_ref()),
        money(o.total_incl_vat.as_ref()),
        payment_word(o.payment_mode),
        o.confirmation_email
    );
    out
}

/// `confirmed`, `in-progress`...: the words the commands take.
pub(crate) fn status_word(status: i32) -> String {
    OrderStatus::try_from(status).map_or_else(
        |_| format!("status {status}"),
        |s| {
            s.as_str_name()
                .trim_start_matches("ORDER_STATUS_")
                .to_lowercase()
                .replace('_', "-")
        },
    )
}

pub(crate) fn payment_word(mode: i32) -> String {
    PaymentMode::try_from(mode).map_or_else(
        |_| format!("payment mode {mode}"),
        |m| {
            m.as_str_name()
                .trim_start_matches("PAYMENT_MODE_")
                .to_lowercase()
                .replace('_', " ")
        },
    )
}

/// An amount with its two decimals, computed without floats.
pub(crate) fn money(m: Option<&Money>) -> String {
    let Some(m) = m else {
        return "-".to_owned();
    };
    let sign = if m.amount_cents < 0 { "-" } else { "" };
    let cents = m.amount_cents.unsigned_abs();
    let currency = match m.currency.as_str() {
        "EUR" | "" => "€",
        other => other,
    };
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

/// A protobuf timestamp (built through its `From<SystemTime>`).
pub(crate) fn timestamp<T: From<SystemTime>>(t: DateTime<Utc>) -> T {
    SystemTime::from(t).into()
}

/// A protobuf timestamp as RFC 3339 in UTC, or `-`.
pub(crate) fn rfc3339<T: Clone + TryInto<SystemTime>>(t: Option<&T>) -> String {
    t.cloned()
        .and_then(|t| t.try_into().ok())
        .map(|t| DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use relais_proto::orders::OrderFilter;

    use super::*;

    #[test]
    fn amounts_print_exactly() {
        let eur = |c| Money {
            amount_cents: c,
            currency: "EUR".into(),
        };
        assert_eq!(money(Some(&eur(23_900))), "239.00 €");
        assert_eq!(money(Some(&eur(5))), "0.05 €");
        assert_eq!(money(Some(&eur(-120))), "-1.20 €");
        assert_eq!(money(None), "-");
    }

    #[test]
    fn timestamps_round_trip() {
        let t: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap_or_default();
        let filter = OrderFilter {
            placed_from: Some(timestamp(t)),
            ..Default::default()
        };
        assert_eq!(rfc3339(filter.placed_from.as_ref()), "2026-11-23T10:00:00Z");
    }
}
