//! Seed 003: residence staff order products for a resident, paid monthly
//! through the residence; billing gathers the month's orders into one
//! invoice (a cancelled order is not billed, one cancelled after
//! validation is credited) and drafts the next one itself once the month
//! is over.

use std::time::Duration;

use chrono::Datelike;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    billing::{DraftMonthlyInvoicesRequest, InvoiceStatus, ValidateInvoiceRequest},
    orders::{
        AddResidenceStaffRequest, Address, CreateCustomerRequest, CreateResidenceRequest,
        CustomerFields, Order, OrderLineRequest, PaymentMode, PlaceProductOrderRequest,
    },
};

use crate::support::{Relais, spawn_with_billing};

/// An order of `quantity` gloves for `customer` paid by `mode`, placed with
/// `token` and confirmed.
async fn confirmed_order(
    stack: &Relais,
    token: &str,
    customer: &str,
    gloves: &str,
    quantity: i32,
    mode: PaymentMode,
) -> Order {
    let order = stack
        .orders()
        .place_product_order(with_token(
            token,
            PlaceProductOrderRequest {
                customer_id: customer.into(),
                lines: vec![OrderLineRequest {
                    item_id: gloves.into(),
                    quantity,
                    discount_bp: 0,
                }],
                shipping_method: "delivery".into(),
                payment_mode: mode as i32,
                terms_accepted: true,
                // Residents have no e-mail: their residence's.
                confirmation_email: if mode == PaymentMode::ResidenceMonthly {
                    "accueil@tilleuls.example".into()
                } else {
                    String::new()
                },
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    stack.confirm(&order.id).await;
    order
}

#[tokio::test]
async fn residents_get_one_monthly_invoice_for_their_orders() {
    let stack = spawn_with_billing(relais_testkit::Stack::builder().orders()).await;
    let mut orders = stack.orders();
    let tilleuls = Address {
        line1: "4 allée des Tilleuls".into(),
        postal_code: "69003".into(),
        city: "Lyon".into(),
        ..Default::default()
    };
    let residence = orders
        .create_residence(stack.admin(CreateResidenceRequest {
            name: "Les Tilleuls".into(),
            address: Some(tilleuls.clone()),
            email: "accueil@tilleuls.example".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .residence
        .unwrap()
        .id;
    orders
        .add_residence_staff(stack.admin(AddResidenceStaffRequest {
            residence_id: residence.clone(),
            staff_subject: "nurse-1".into(),
            display_name: "Aline".into(),
        }))
        .await
        .unwrap();
    let aline = relais_testkit::sign(&Claims {
        sub: "nurse-1".into(),
        ..stack.claims(Role::Staff)
    });
    let admin = stack.token(Role::Admin);
    let jeanne = orders
        .create_customer(stack.admin(CreateCustomerRequest {
            idempotency_key: String::new(),
            fields: Some(CustomerFields {
                first_name: "Jeanne".into(),
                last_name: "Martin".into(),
                billing_address: Some(tilleuls),
                residence_id: residence.clone(),
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap()
        .id;
    let paul = stack
        .customer("Paul", "Durand", "paul@example.org", "")
        .await;
    let gloves = stack.gloves(10_000).await;
    // Aline orders for Jeanne three times.
    let mut placed = Vec::new();
    for quantity in [1, 2, 5] {
        let order = confirmed_order(
            &stack,
            &aline,
            &jeanne,
            &gloves,
            quantity,
            PaymentMode::ResidenceMonthly,
        )
        .await;
        assert_eq!(order.placed_by, "nurse-1");
        placed.push(order);
    }
    // The third is cancelled before the month is billed: never invoiced.
    stack.cancel(&placed[2].id, "erreur").await;

    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let mut billing = stack.billing();
    let draft = |month: &str| {
        stack.admin(DraftMonthlyInvoicesRequest {
            month: month.into(),
            residence_id: residence.clone(),
        })
    };
    // Billing handles the orders' events in the order they were published:
    // once a later card order of Paul's is invoiced, Jeanne's three
    // confirmations and the cancellation have been handled.
    confirmed_order(&stack, &admin, &paul, &gloves, 1, PaymentMode::Card).await;
    stack.invoices(&paul, 1).await;
    let invoices = billing
        .draft_monthly_invoices(draft(&month))
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert_eq!(invoices.len(), 1);
    let monthly = &invoices[0];
    assert_eq!(
        (monthly.period.as_str(), monthly.order_id.as_str()),
        (month.as_str(), "")
    );
    assert_eq!(monthly.customer_id, jeanne);
    assert_eq!(monthly.lines.len(), 2, "the cancelled order is not billed");
    // 1 + 2 gloves at 11.90: 35.70 + 7.14 VAT.
    assert_eq!(monthly.total_incl_vat.as_ref().unwrap().amount_cents, 4284);
    assert_eq!(monthly.payment_mode, PaymentMode::ResidenceMonthly as i32);
    // Again: nothing new to bill.
    let again = billing
        .draft_monthly_invoices(draft(&month))
        .await
        .unwrap()
        .into_inner();
    assert!(again.invoices.is_empty());
    let err = billing
        .draft_monthly_invoices(draft("2026-13"))
        .await
        .expect_err("no such month");
    testing::assert_bad_field(&err, "month");

    // Validated, then one of its orders is cancelled: that order's lines
    // are credited; the invoice stays as it was.
    let validated = billing
        .validate_invoice(stack.admin(ValidateInvoiceRequest {
            id: monthly.id.clone(),
            expected_version: 0,
        }))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    stack.cancel(&placed[1].id, "erreur").await;
    let all = stack.invoices(&jeanne, 2).await;
    let note = all.iter().find(|i| i.kind == "credit_note").unwrap();
    assert_eq!(note.credited_invoice_id, validated.id);
    // 2 × 11.90 = 23.80 + 4.76 VAT.
    assert_eq!(note.total_incl_vat.as_ref().unwrap().amount_cents, 2856);

    // Nobody drafts the next month: once it is over, billing does.
    let order = confirmed_order(
        &stack,
        &aline,
        &jeanne,
        &gloves,
        4,
        PaymentMode::ResidenceMonthly,
    )
    .await;
    // The month ends (the order is moved a month back, as if it had been
    // confirmed then) once billing holds it.
    let db = sqlx::PgPool::connect(&stack.billing_part().database_url)
        .await
        .unwrap();
    let aged = testing::eventually(Duration::from_secs(10), || async {
        let moved = sqlx::query(
            "update billing.monthly_orders set confirmed_at = confirmed_at - interval '1 month'
             where order_id = $1::uuid",
        )
        .bind(&order.id)
        .execute(&db)
        .await
        .unwrap()
        .rows_affected();
        (moved == 1).then_some(())
    })
    .await;
    assert!(aged.is_some(), "billing never held the order");
    let last_month = (chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
        .with_day(1)
        .unwrap()
        - chrono::Duration::days(1))
    .format("%Y-%m")
    .to_string();
    let all = stack.invoices(&jeanne, 3).await;
    let closed = all
        .iter()
        .find(|i| i.status == InvoiceStatus::Draft as i32)
        .unwrap();
    // 4 × 11.90 = 47.60 + 9.52 VAT.
    assert_eq!(closed.total_incl_vat.as_ref().unwrap().amount_cents, 5712);
    assert_eq!(closed.origin, "shop");
    assert_eq!(closed.period, last_month);
}
