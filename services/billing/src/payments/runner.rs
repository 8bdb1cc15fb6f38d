//! The payment runner: sends due attempts to the provider and records
//! their outcomes, with their events, in the attempt's transaction.

use std::time::Duration;

use chrono::Utc;
use relais_platform::{
    context::Ctx, error::Result, nats::Namespace, outbox::Outbox, retry::backoff_delay,
};
use relais_proto::{billing::Payment, events::PaymentChanged};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    COLS, PaymentsConfig, Row, insert_attempt,
    provider::{Charge, Outcome, Refund},
};
use crate::SERVICE;

/// What a charge's final outcome does to its invoice, in the same
/// transaction: implemented above payments (crate::flows::settle).
pub trait Settle: Send + Sync + 'static {
    /// The charge succeeded.
    fn paid(
        &self,
        conn: &mut PgConnection,
        ctx: &Ctx,
        invoice: Uuid,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The charge failed for good (hard decline, or the last soft one).
    fn failed(
        &self,
        conn: &mut PgConnection,
        ctx: &Ctx,
        invoice: Uuid,
        code: &str,
        message: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Sends due payments to the provider until shutdown.
pub struct PaymentRunner<S> {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub ns: Namespace,
    pub cfg: PaymentsConfig,
    pub settle: S,
}

impl<S: Settle> PaymentRunner<S> {
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
        metrics::counter!("relais_payment_calls_total", "service" => crate::SERVICE, "kind" => row.kind.clone()).increment(1);
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
                metrics::counter!("relais_payment_failures_total", "service" => crate::SERVICE, "kind" => row.kind.clone(), "code" => "unknown_outcome")
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
                    self.settle.paid(conn, ctx, invoice).await?;
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
        metrics::counter!("relais_payment_failures_total", "service" => crate::SERVICE, "kind" => row.kind.clone(), "code" => code.to_owned())
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
        self.settle
            .failed(conn, ctx, row.invoice_id, code, message)
            .await
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
