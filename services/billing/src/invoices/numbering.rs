//! Invoice, credit note and certificate numbers: one gapless series per
//! tenant, prefix and year.

use chrono::{DateTime, Datelike, Utc};
use relais_platform::error::Result;
use sqlx::PgConnection;
use uuid::Uuid;

/// The next number of the tenant's `prefix` series for the year, e.g.
/// "F2026-000042". The counter row stays locked until the caller's
/// transaction ends: concurrent callers take numbers one after the other,
/// and a rollback gives its number back, so the series has no gap.
pub(crate) async fn next_number(
    conn: &mut PgConnection,
    tenant: Uuid,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    let series = format!("{prefix}{}", now.year());
    let taken: i64 = sqlx::query_scalar(
        "insert into invoice_sequences (tenant_id, series, next_number) values ($1, $2, 2)
         on conflict (tenant_id, series) do update set next_number = invoice_sequences.next_number + 1
         returning next_number - 1",
    )
    .bind(tenant)
    .bind(&series)
    .fetch_one(&mut *conn)
    .await?;
    Ok(format!("{series}-{taken:06}"))
}
