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

pub mod provider;
pub mod simulator;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use relais_platform::{
    context::{Ctx, timestamp},
    error::Result,
    mail::{self, Mail},
    nats::Namespace,
    outbox::Outbox,
    retry::backoff_delay,
    validate,
};
use relais_proto::{
    billing::{Payment, PaymentStatus},
    events::PaymentChanged,
};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{SERVICE, invoices};
use provider::{Charge, Outcome, PaymentProvider, Refund};

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

/// Sends due payments to the provider until shutdown.
pub struct PaymentRunner {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub ns: Namespace,
    pub cfg: PaymentsConfig,
}

impl PaymentRunner {
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let worked = match self.next().await {
                Ok(worked) => worked,
                Err(e) => {
                    tracing::warn!(error = %e, "payment run failed");
                    false
                }
            };
            if !worked {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(self.cfg.poll) => {},
                }
            }
        }
    }

    /// Sends one due attempt, if any. The row stays locked during the call
    /// (`skip locked`: replicas take other rows), and the answer is stored
    /// with its effects in the same transaction.
    async fn next(&self) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLS} from payments
             where status = 'pending' and next_attempt_at <= now()
             order by next_attempt_at limit 1 for update skip locked"
        )))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let ctx = Ctx::system(
            SERVICE,
            row.tenant_id,
            &self.ns,
            format!("payments:{}", row.kind),
        );
        let span = tracing::info_span!(
            "payment",
            otel.name = %format!("payment {}", row.kind),
            payment_id = %row.id,
            invoice_id = %row.invoice_id,
            attempt = row.attempt,
        );
        let outcome = {
            let _enter = span.enter();
            tracing::info!(key = %row.idempotency_key, "calling the payment provider");
            drop(_enter);
            if row.kind == "charge" {
                self.cfg
                    .provider
                    .charge(&Charge {
                        idempotency_key: row.idempotency_key.clone(),
                        amount_cents: row.amount_cents,
                        currency: row.currency.clone(),
                        payment_method_ref: row.payment_method_ref.clone(),
                        description: format!("Invoice {}", row.invoice_id),
                        invoice_id: row.invoice_id.to_string(),
                    })
                    .await
            } else {
                self.cfg
                    .provider
                    .refund(&Refund {
                        idempotency_key: row.idempotency_key.clone(),
                        charge_ref: row.refunds_ref.clone().unwrap_or_default(),
                        amount_cents: row.amount_cents,
                    })
                    .await
            }
        };
        metrics::counter!("relais_payment_calls_total", "kind" => row.kind.clone()).increment(1);
        self.record(&mut tx, &ctx, row, outcome).await?;
        self.outbox.commit(tx).await?;
        Ok(true)
    }

    async fn record(
        &self,
        conn: &mut PgConnection,
        ctx: &Ctx,
        row: Row,
        outcome: Outcome,
    ) -> Result<()> {
        let calls = row.calls + 1;
        match outcome {
            Outcome::Unknown(why) if calls < self.cfg.max_calls => {
                let delay = backoff_delay(
                    u32::try_from(row.calls).unwrap_or(0),
                    Duration::from_millis(500),
                    Duration::from_secs(300),
                );
                tracing::warn!(error = %why, ?delay, "payment outcome unknown, will ask again with the same key");
                sqlx::query(
                    "update payments set calls = $2, failure_code = 'network', failure_message = $3,
                         next_attempt_at = now() + make_interval(secs => $4), updated_at = now()
                     where tenant_id = $1 and id = $5",
                )
                .bind(ctx.tenant)
                .bind(calls)
                .bind(&why)
                .bind(delay.as_secs_f64())
                .bind(row.id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
            Outcome::Unknown(why) => {
                // The provider may have charged: a new attempt (a new key)
                // could charge twice, and telling the customer it failed
                // could be wrong. The attempt stops here for staff to check
                // with the provider; the invoice stays validated.
                tracing::error!(error = %why, "payment outcome still unknown, left for staff");
                let payment: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "update payments set status = 'failed', calls = $2,
                         failure_code = 'unknown_outcome', failure_message = $3, updated_at = now()
                     where tenant_id = $1 and id = $4 returning {COLS}"
                )))
                .bind(ctx.tenant)
                .bind(calls)
                .bind(&why)
                .bind(row.id)
                .fetch_one(&mut *conn)
                .await?;
                metrics::counter!("relais_payment_failures_total", "kind" => row.kind.clone(), "code" => "unknown_outcome")
                    .increment(1);
                publish(conn, ctx, "failed", payment).await
            }
            Outcome::Declined {
                code,
                message,
                soft,
                provider_ref,
            } => {
                self.failed(conn, ctx, row, calls, &code, &message, soft, &provider_ref)
                    .await
            }
            Outcome::Succeeded { provider_ref } => {
                let payment: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "update payments set status = 'succeeded', calls = $2, provider_ref = $3,
                         failure_code = null, failure_message = null, updated_at = now()
                     where tenant_id = $1 and id = $4 returning {COLS}"
                )))
                .bind(ctx.tenant)
                .bind(calls)
                .bind(&provider_ref)
                .bind(row.id)
                .fetch_one(&mut *conn)
                .await?;
                let kind = payment.kind.clone();
                let invoice = payment.invoice_id;
                publish(conn, ctx, "succeeded", payment).await?;
                if kind == "charge" {
                    invoices::mark_paid(conn, ctx, invoice).await?;
                }
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn failed(
        &self,
        conn: &mut PgConnection,
        ctx: &Ctx,
        row: Row,
        calls: i32,
        code: &str,
        message: &str,
        soft: bool,
        provider_ref: &str,
    ) -> Result<()> {
        let payment: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "update payments set status = 'failed', calls = $2, failure_code = $3,
                 failure_message = $4, provider_ref = nullif($5, ''), updated_at = now()
             where tenant_id = $1 and id = $6 returning {COLS}"
        )))
        .bind(ctx.tenant)
        .bind(calls)
        .bind(code)
        .bind(message)
        .bind(provider_ref)
        .bind(row.id)
        .fetch_one(&mut *conn)
        .await?;
        publish(conn, ctx, "failed", payment).await?;
        metrics::counter!("relais_payment_failures_total", "kind" => row.kind.clone(), "code" => code.to_owned())
            .increment(1);
        if row.kind == "refund" {
            // Money owed back to the customer: staff see it in the list of
            // payments (and the alert on the metric); nothing else to do.
            tracing::error!(code, message, "refund refused by the provider");
            return Ok(());
        }
        if soft && row.attempt < self.cfg.max_attempts {
            let delay = backoff_delay(
                u32::try_from(row.attempt - 1).unwrap_or(0),
                self.cfg.retry_base,
                Duration::from_secs(7 * 24 * 3600),
            );
            let due = Utc::now()
                + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::hours(1));
            tracing::info!(code, ?delay, "soft decline, a new attempt is planned");
            return insert_attempt(
                conn,
                ctx.tenant,
                row.invoice_id,
                row.customer_id,
                row.attempt + 1,
                row.amount_cents,
                &row.payment_method_ref,
                due,
            )
            .await;
        }
        invoices::mark_payment_failed(conn, ctx, row.invoice_id, code, message).await
    }
}

async fn publish(conn: &mut PgConnection, ctx: &Ctx, event: &str, row: Row) -> Result<()> {
    let meta = ctx.meta(row.id, i64::from(row.calls));
    let payload = PaymentChanged {
        meta: Some(meta.clone()),
        payment: Some(Payment::from(row)),
    };
    ctx.emit(conn, "payment", event, &meta, &payload).await?;
    Ok(())
}

/// Queues an e-mail about an invoice to its customer (or the address its
/// order gave); nothing when there is none (the document stays in their
/// account).
pub async fn mail_customer(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Uuid,
    subject: String,
    body: String,
    attach: bool,
) -> Result<bool> {
    let row: Option<(Uuid, String)> =
        sqlx::query_as("select customer_id, email from invoices where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(invoice)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((customer, fallback)) = row else {
        return Ok(false);
    };
    let attachment = if attach {
        let doc: Option<(String, Vec<u8>)> = sqlx::query_as(
            "select file_name, content from documents where tenant_id = $1 and invoice_id = $2",
        )
        .bind(tenant)
        .bind(invoice)
        .fetch_optional(&mut *conn)
        .await?;
        doc.map(|(name, bytes)| mail::MailAttachment {
            name,
            content_type: "application/pdf".into(),
            bytes,
        })
    } else {
        None
    };
    crate::customers::mail(
        conn,
        tenant,
        customer,
        &fallback,
        Mail {
            subject,
            body,
            attachment,
            about: format!("invoice:{invoice}"),
            ..Default::default()
        },
    )
    .await
}
