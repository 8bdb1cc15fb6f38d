//! Interventions of a period per provider and worker, as CSV: for payroll
//! (seed 000) and for paying marketplace providers (seed 002).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use relais_domain::csv::{cell, decimal};
use relais_platform::error::{Error, Result};
use sqlx::PgConnection;
use uuid::Uuid;

pub const HEADER: &[&str] = &[
    "provider",
    "worker_id",
    "worker",
    "date",
    "start",
    "end",
    "time_zone",
    "intervention_id",
    "order_id",
    "occurrence",
    "customer_id",
    "service_id",
    "status",
    "planned_minutes",
    "actual_minutes",
    "hour_pack_order_id",
    "amount_excl_vat",
    "currency",
];

pub struct Filter {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub provider: Option<String>,
    pub worker: Option<Uuid>,
    pub done_only: bool,
    /// Only residents of these residences (staff: relais_platform::access).
    pub residences: Option<Vec<Uuid>>,
}

#[derive(sqlx::FromRow)]
struct Line {
    provider: String,
    worker_id: Uuid,
    first_name: String,
    last_name: String,
    time_zone: String,
    id: Uuid,
    order_id: Uuid,
    occurrence: i32,
    customer_id: Uuid,
    service_id: Uuid,
    status: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    actual_minutes: Option<i32>,
    hour_pack_order_id: Option<Uuid>,
    price_cents: i64,
}

/// Rows per page; each page is one chunk of the stream.
pub const PAGE: i64 = 1000;

/// One page, sorted by provider, worker, start; the header on the first.
pub async fn page(
    conn: &mut PgConnection,
    tenant: Uuid,
    f: &Filter,
    offset: i64,
) -> Result<(Vec<u8>, bool)> {
    let lines: Vec<Line> = sqlx::query_as(
        "select w.provider, w.id as worker_id, w.first_name, w.last_name, w.time_zone, i.id,
                i.order_id, i.occurrence, i.customer_id, i.service_id, i.status, i.starts_at,
                i.ends_at, i.actual_minutes, i.hour_pack_order_id, i.price_cents
         from interventions i
         join workers w on w.tenant_id = i.tenant_id and w.id = i.worker_id
         where i.tenant_id = $1 and i.starts_at >= $2 and i.starts_at < $3
           and i.status <> 'cancelled' and (not $6 or i.status = 'done')
           and ($4::text is null or w.provider = $4) and ($5::uuid is null or w.id = $5)
           and ($9::uuid[] is null or i.customer_id in (select customer_id from access_customers
                                                       where tenant_id = $1 and residence_id = any($9)))
         order by w.provider, w.last_name, w.id, i.starts_at, i.id
         offset $7 limit $8",
    )
    .bind(tenant)
    .bind(f.from)
    .bind(f.to)
    .bind(&f.provider)
    .bind(f.worker)
    .bind(f.done_only)
    .bind(offset)
    .bind(PAGE)
    .bind(&f.residences)
    .fetch_all(conn)
    .await?;
    let more = i64::try_from(lines.len()).unwrap_or(0) == PAGE;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let bad = |e: csv::Error| Error::Unexpected(anyhow::anyhow!("csv: {e}"));
    if offset == 0 {
        w.write_record(HEADER).map_err(bad)?;
    }
    for l in lines {
        let tz: Tz = l.time_zone.parse().unwrap_or(chrono_tz::Europe::Paris);
        let (s, e) = (l.starts_at.with_timezone(&tz), l.ends_at.with_timezone(&tz));
        let planned = (l.ends_at - l.starts_at).num_minutes();
        // Done: paid for the time actually worked.
        let amount = match l.actual_minutes {
            Some(actual) if l.status == "done" && planned > 0 => {
                relais_domain::money::share(l.price_cents, i64::from(actual), planned).ok_or_else(
                    || Error::Unexpected(anyhow::anyhow!("intervention price beyond the range")),
                )?
            }
            _ => l.price_cents,
        };
        w.write_record([
            cell(&l.provider),
            l.worker_id.to_string(),
            cell(&format!("{} {}", l.first_name, l.last_name)),
            s.format("%Y-%m-%d").to_string(),
            s.format("%H:%M").to_string(),
            e.format("%H:%M").to_string(),
            tz.name().to_owned(),
            l.id.to_string(),
            l.order_id.to_string(),
            l.occurrence.to_string(),
            l.customer_id.to_string(),
            l.service_id.to_string(),
            l.status,
            planned.to_string(),
            l.actual_minutes.map(|m| m.to_string()).unwrap_or_default(),
            l.hour_pack_order_id
                .map(|p| p.to_string())
                .unwrap_or_default(),
            decimal(amount, 2),
            "EUR".to_owned(),
        ])
        .map_err(bad)?;
    }
    let data = w
        .into_inner()
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("csv: {e}")))?;
    Ok((data, more))
}
