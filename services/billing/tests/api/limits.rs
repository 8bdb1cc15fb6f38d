//! Implausible numbers, dates and codes are refused with INVALID_ARGUMENT
//! naming the field, and nothing is recorded: amounts that would overflow
//! (a panic in debug, a wrapped total in release), documents validated in
//! the future, another currency, months outside any billing period.

use prost_types::Timestamp;
use relais_platform::testing;
use relais_proto::{
    billing::{
        DraftMonthlyInvoicesRequest, DraftServiceInvoicesRequest, ErpInvoiceLine,
        ListInvoicesRequest, RecordErpInvoiceRequest,
    },
    types::Money,
};

use crate::stack::{Stack, spawn};

fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

impl Stack {
    async fn refused_erp(&self, req: RecordErpInvoiceRequest, field: &str) {
        let err = self
            .billing
            .clone()
            .record_erp_invoice(self.connector(req))
            .await
            .expect_err(field);
        testing::assert_bad_field(&err, field);
    }
}

#[tokio::test]
async fn erp_invoices_with_extreme_amounts_dates_or_currencies_are_refused() {
    let stack = spawn().await;
    let claire = stack
        .customer("Extreme", "x@example.org", "pm_card_visa")
        .await;
    // Known to billing first (a good invoice), so refusals are about input.
    stack.erp_invoice("OG-OK", &claire).await;

    // A unit price at either end of i64 (the sum panicked on them).
    for (no, cents) in [(1, i64::MAX), (2, i64::MIN)] {
        let mut r = stack.erp_request(&format!("OG-MAX{no}"), &claire);
        r.lines[0].unit_price = eur(cents);
        r.lines[0].total_excl_vat = eur(cents);
        r.total_incl_vat = eur(cents);
        stack
            .refused_erp(r, "lines[0].unit_price.amount_cents")
            .await;
    }
    // Stated totals at the ends of i64.
    let mut r = stack.erp_request("OG-MAX3", &claire);
    r.lines[0].total_excl_vat = eur(i64::MAX);
    stack
        .refused_erp(r, "lines[0].total_excl_vat.amount_cents")
        .await;
    let mut r = stack.erp_request("OG-MAX4", &claire);
    r.total_incl_vat = eur(i64::MIN);
    stack.refused_erp(r, "total_incl_vat.amount_cents").await;

    // Each line at the largest price and quantity is allowed, but two of
    // them add up beyond any plausible document (which the totals check
    // let through, stated right).
    let mut r = stack.erp_request("OG-MAX5", &claire);
    let big = ErpInvoiceLine {
        quantity: 100_000,
        unit_price: eur(100_000_000),
        total_excl_vat: eur(10_000_000_000_000),
        ..r.lines[0].clone()
    };
    r.lines = vec![big.clone(), big];
    r.total_incl_vat = eur(24_000_000_000_000);
    stack.refused_erp(r, "lines").await;

    // Another currency, stated or on a line.
    let mut r = stack.erp_request("OG-CUR1", &claire);
    r.total_incl_vat.as_mut().unwrap().currency = "USD".into();
    stack.refused_erp(r, "total_incl_vat.currency").await;
    let mut r = stack.erp_request("OG-CUR2", &claire);
    r.lines[0].total_excl_vat.as_mut().unwrap().currency = "X".repeat(5000);
    stack
        .refused_erp(r, "lines[0].total_excl_vat.currency")
        .await;

    // Validated in the future: the ERP's clock may run a little ahead, not
    // years.
    let mut r = stack.erp_request("OG-FUT", &claire);
    r.validated_at = Some(Timestamp {
        seconds: chrono::Utc::now().timestamp() + 30 * 86_400,
        nanos: 0,
    });
    stack.refused_erp(r, "validated_at").await;

    // An unknown payment mode is not "unspecified".
    let mut r = stack.erp_request("OG-MODE", &claire);
    r.payment_mode = 99;
    stack.refused_erp(r, "payment_mode").await;

    // Nothing was recorded for any of them.
    let listed = stack
        .billing
        .clone()
        .list_invoices(stack.admin(ListInvoicesRequest {
            customer_id: claire.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert_eq!(
        listed.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(),
        ["OG-OK"]
    );
}

#[tokio::test]
async fn months_outside_any_billing_period_are_refused() {
    let stack = spawn().await;
    let mut billing = stack.billing.clone();
    let next_year = chrono::Utc::now()
        .date_naive()
        .checked_add_months(chrono::Months::new(24))
        .unwrap()
        .format("%Y-%m")
        .to_string();
    for month in [
        "0000-01", "-0001-01", "+2026-01", "1999-12", "2026-1", &next_year,
    ] {
        let err = billing
            .draft_monthly_invoices(stack.admin(DraftMonthlyInvoicesRequest {
                month: month.into(),
                residence_id: String::new(),
            }))
            .await
            .expect_err(month);
        testing::assert_bad_field(&err, "month");
        let err = billing
            .draft_service_invoices(stack.admin(DraftServiceInvoicesRequest {
                month: month.into(),
                customer_id: String::new(),
            }))
            .await
            .expect_err(month);
        testing::assert_bad_field(&err, "month");
    }
}
