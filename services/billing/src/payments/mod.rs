//! Card debits and refunds (seed 001). A validated invoice to debit gets a
//! pending charge in the validating transaction; the payment runner sends
//! due attempts to the provider, one row locked per call, and records the
//! answer with its events (and e-mail) in the same transaction.
//!
//! - Succeeded: the invoice is paid (`invoice.paid`).
//! - Unknown outcome (network, provider error): the same attempt is sent
//!   again later with the same idempotency key, so it is charged once; if
//!   it stays unknown after the last call, the attempt stops with
//!   `unknown_outcome` for staff to check, never with a new key.
//! - Soft decline: a new attempt (new key) after a backoff, up to the
//!   configured number of attempts; then as a hard decline.
//! - Hard decline: the invoice is `payment_failed`, published and e-mailed.
//!
//! What an outcome does to the invoice is not decided here but by the
//! runner's [`Settle`] (crate::flows::settle): payments never imports
//! invoices.

pub mod provider;
mod runner;
pub mod simulator;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use relais_platform::{context::timestamp, error::Result, validate};
use relais_proto::billing::{Payment, PaymentStatus};
use sqlx::PgConnection;
use uuid::Uuid;

use provider::PaymentProvider;
pub use runner::{PaymentRunner, Settle};

/// How payments are collected.
#[derive(Clone)]
pub struct PaymentsConfig {
    pub provider: Arc<dyn PaymentProvider>,
    /// Charge attempts (soft declines) before the invoice fails.
    pub max_attempts: i32,
    /// Delay before the second attempt; doubles after each.
    pub retry_base: Duration,
    /// Calls of one attempt whose outcome stays unknown before giving up.
    pub max_calls: i32,
    pub poll: Duration,
}

/// Queues the first charge of a validated invoice (in its transaction).
pub async fn queue_charge(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Uuid,
    customer: Uuid,
    amount_cents: i64,
    payment_method_ref: &str,
) -> Result<()> {
    insert_attempt(
        conn,
        tenant,
        invoice,
        customer,
        1,
        amount_cents,
        payment_method_ref,
        Utc::now(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn insert_attempt(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Uuid,
    customer: Uuid,
    attempt: i32,
    amount_cents: i64,
    payment_method_ref: &str,
    due: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "insert into payments (tenant_id, id, invoice_id, customer_id, kind, attempt,
             idempotency_key, amount_cents, currency, payment_method_ref, status, next_attempt_at)
         values ($1, $2, $3, $4, 'charge', $5, $6, $7, 'EUR', $8, 'pending', $9)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(invoice)
    .bind(customer)
    .bind(attempt)
    .bind(format!("relais-charge-{invoice}-{attempt}"))
    .bind(amount_cents)
    .bind(payment_method_ref)
    .bind(due)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues the refund of a credit note on a paid invoice, from the charge
/// that paid it. Nothing when the invoice was paid otherwise (at order:
/// the shop's checkout refunds it; by transfer: staff do).
pub async fn queue_refund(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Uuid,
    credit_note: Uuid,
    amount_cents: i64,
) -> Result<bool> {
    let charge: Option<(Uuid, String)> = sqlx::query_as(
        "select customer_id, provider_ref from payments
         where tenant_id = $1 and invoice_id = $2 and kind = 'charge' and status = 'succeeded'",
    )
    .bind(tenant)
    .bind(invoice)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((customer, charge_ref)) = charge else {
        return Ok(false);
    };
    sqlx::query(
        "insert into payments (tenant_id, id, invoice_id, customer_id, kind, attempt,
             idempotency_key, amount_cents, currency, refunds_ref, credit_note_id, status)
         values ($1, $2, $3, $4, 'refund', 1, $5, $6, 'EUR', $7, $8, 'pending')",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(invoice)
    .bind(customer)
    .bind(format!("relais-refund-{credit_note}"))
    .bind(amount_cents)
    .bind(charge_ref)
    .bind(credit_note)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    id: Uuid,
    invoice_id: Uuid,
    customer_id: Uuid,
    kind: String,
    attempt: i32,
    idempotency_key: String,
    amount_cents: i64,
    currency: String,
    payment_method_ref: String,
    refunds_ref: Option<String>,
    credit_note_id: Option<Uuid>,
    status: String,
    provider_ref: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
    calls: i32,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

const COLS: &str = "tenant_id, id, invoice_id, customer_id, kind, attempt, idempotency_key,
    amount_cents, currency, payment_method_ref, refunds_ref, credit_note_id, status, provider_ref,
    failure_code, failure_message, calls, next_attempt_at, created_at";

impl From<Row> for Payment {
    fn from(r: Row) -> Self {
        let status = match r.status.as_str() {
            "pending" => PaymentStatus::Pending,
            "succeeded" => PaymentStatus::Succeeded,
            "failed" => PaymentStatus::Failed,
            _ => PaymentStatus::Unspecified,
        };
        Payment {
            id: r.id.to_string(),
            invoice_id: r.invoice_id.to_string(),
            customer_id: r.customer_id.to_string(),
            kind: r.kind,
            attempt: r.attempt,
            amount: validate::money_out(r.amount_cents),
            status: status as i32,
            provider_ref: r.provider_ref.unwrap_or_default(),
            failure_code: r.failure_code.unwrap_or_default(),
            failure_message: r.failure_message.unwrap_or_default(),
            next_attempt_at: (r.status == "pending").then(|| timestamp(r.next_attempt_at)),
            created_at: Some(timestamp(r.created_at)),
            credit_note_id: r.credit_note_id.map(|c| c.to_string()).unwrap_or_default(),
            calls: r.calls,
        }
    }
}

/// Payments of an invoice or a customer, newest first.
pub async fn list(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Option<Uuid>,
    customer: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Payment>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from payments
         where tenant_id = $1 and ($2::uuid is null or invoice_id = $2)
           and ($3::uuid is null or customer_id = $3) and ($4::uuid is null or id < $4)
         order by id desc limit $5"
    )))
    .bind(tenant)
    .bind(invoice)
    .bind(customer)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Payment::from).collect())
}
