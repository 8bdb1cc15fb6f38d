//! CSV exports people open in spreadsheets: amounts with a dot and fixed
//! decimals, and typed text that can never run as a formula.

/// Text typed by people, made safe for spreadsheets: a cell that starts
/// like a formula is opened as text, never run (CSV injection).
pub fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// `value / 10^scale` with a dot, e.g. 1234 -> "12.34".
pub fn decimal(value: i64, scale: u32) -> String {
    let unit = 10_i64.pow(scale);
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    let unit = unit.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        v / unit,
        v % unit,
        width = scale as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_rates_print_with_two_decimals() {
        assert_eq!(decimal(2370, 2), "23.70");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(550, 2), "5.50");
        assert_eq!(decimal(-120, 2), "-1.20");
    }

    #[test]
    fn formulas_are_opened_as_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("Jeanne Martin"), "Jeanne Martin");
    }
}
