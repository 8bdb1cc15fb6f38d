//! Bookings are invoiced from what was done (seed 001): billing keeps each
//! confirmed booking's line, follows planning's interventions marked done
//! (at the time actually worked) and workers' names, and drafts per month
//! one invoice per customer with a line per intervention.

use chrono::{DateTime, Utc};
use prost::Message;
use relais_domain::money;
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    context::Ctx,
    error::{Error, Result},
    nats::Namespace,
};
use relais_proto::{
    billing::Invoice,
    events::{InterventionChanged, WorkerChanged},
    orders::{Order, PaymentMode},
    planning::InterventionStatus,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{SERVICE, invoices};

const PLANNING: &str = "planning";

pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "billing-interventions".into(),
        source_service: PLANNING.into(),
        filter_subjects: vec![
            ns.event_filter(PLANNING, "intervention", "done"),
            ns.event_filter(PLANNING, "worker", "created"),
            ns.event_filter(PLANNING, "worker", "updated"),
        ],
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

fn uuid(field: &str, s: &str) -> std::result::Result<Uuid, HandlerError> {
    Uuid::parse_str(s).map_err(|_| HandlerError::poison(format!("{field} is not an id")))
}

fn optional(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok()
}

fn at(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, 0))
}

pub struct Interventions;

impl Handler for Interventions {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        if event.subject.ends_with(".intervention.done") {
            let e = InterventionChanged::decode(event.payload.as_ref())
                .map_err(HandlerError::poison)?;
            let (Some(meta), Some(i)) = (e.meta, e.intervention) else {
                return Err(HandlerError::poison("event without meta or intervention"));
            };
            if i.status != InterventionStatus::Done as i32 {
                return Ok(());
            }
            let tenant = uuid("meta.tenant_id", &meta.tenant_id)?;
            let order = uuid("intervention.order_id", &i.order_id)?;
            let (Some(start), Some(end)) = (at(i.start.as_ref()), at(i.end.as_ref())) else {
                return Err(HandlerError::poison("intervention without start or end"));
            };
            // The booking's confirmation comes on the orders stream and may
            // not be handled yet: wait for it (retried, then dead letter).
            let known: Option<bool> = sqlx::query_scalar(
                "select true from bookings where tenant_id = $1 and order_id = $2",
            )
            .bind(tenant)
            .bind(order)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| HandlerError::Retry(e.into()))?;
            if known.is_none() {
                return Err(HandlerError::Retry(anyhow::anyhow!(
                    "booking {order} is not known to billing yet"
                )));
            }
            let planned = i32::try_from((end - start).num_minutes())
                .unwrap_or(0)
                .max(1);
            sqlx::query(
                "insert into done_interventions (tenant_id, intervention_id, order_id, customer_id,
                     worker_id, started_at, planned_minutes, actual_minutes, price_cents,
                     hour_pack_order_id, version)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 on conflict (tenant_id, intervention_id) do update
                    set worker_id = excluded.worker_id, started_at = excluded.started_at,
                        planned_minutes = excluded.planned_minutes,
                        actual_minutes = excluded.actual_minutes, price_cents = excluded.price_cents,
                        version = excluded.version
                    where done_interventions.invoice_id is null
                      and done_interventions.version < excluded.version",
            )
            .bind(tenant)
            .bind(uuid("intervention.id", &i.id)?)
            .bind(order)
            .bind(uuid("intervention.customer_id", &i.customer_id)?)
            .bind(optional(&i.worker_id))
            .bind(start)
            .bind(planned)
            .bind(if i.actual_minutes > 0 {
                i.actual_minutes
            } else {
                planned
            })
            .bind(i.price.as_ref().map_or(0, |m| m.amount_cents))
            .bind(optional(&i.hour_pack_order_id))
            .bind(i.version)
            .execute(&mut *tx)
            .await
            .map_err(|e| HandlerError::Retry(e.into()))?;
            return Ok(());
        }
        let e = WorkerChanged::decode(event.payload.as_ref()).map_err(HandlerError::poison)?;
        let (Some(meta), Some(w)) = (e.meta, e.worker) else {
            return Err(HandlerError::poison("event without meta or worker"));
        };
        let f = w.fields.unwrap_or_default();
        sqlx::query(
            "insert into workers (tenant_id, id, name, version) values ($1, $2, $3, $4)
             on conflict (tenant_id, id) do update set name = excluded.name, version = excluded.version
                where workers.version < excluded.version",
        )
        .bind(uuid("meta.tenant_id", &meta.tenant_id)?)
        .bind(uuid("worker.id", &w.id)?)
        .bind(format!("{} {}", f.first_name, f.last_name).trim())
        .bind(w.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| HandlerError::Retry(e.into()))?;
        Ok(())
    }
}

/// Keeps a confirmed booking's line for the invoices of its interventions.
pub async fn hold_booking(conn: &mut PgConnection, ctx: &Ctx, order: &Order) -> Result<()> {
    let Some(line) = order.lines.first() else {
        return Err(Error::invalid("order.lines", "a booking has one line"));
    };
    let booking = order.booking.clone().unwrap_or_default();
    let id = |field: &str, s: &str| {
        Uuid::parse_str(s).map_err(|_| Error::invalid(field.to_owned(), "is not an id"))
    };
    sqlx::query(
        "insert into bookings (tenant_id, order_id, customer_id, customer_name, email, service_id,
             reference, description, vat_rate_bp, discount_bp, payment_mode, tax_credit)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (tenant_id, order_id) do nothing",
    )
    .bind(ctx.tenant)
    .bind(id("order.id", &order.id)?)
    .bind(id("order.customer_id", &order.customer_id)?)
    .bind(&order.customer_name)
    .bind(&order.confirmation_email)
    .bind(id("order.booking.service_id", &booking.service_id)?)
    .bind(&line.reference)
    .bind(&line.name)
    .bind(line.vat_rate_bp)
    .bind(line.discount_bp)
    .bind(
        PaymentMode::try_from(order.payment_mode)
            .unwrap_or_default()
            .as_str_name(),
    )
    .bind(booking.tax_credit_eligible)
    .execute(conn)
    .await?;
    Ok(())
}

fn duration(minutes: i32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m:02}"),
    }
}

/// One intervention to invoice, with its booking's line.
#[derive(sqlx::FromRow)]
struct Pending {
    intervention_id: Uuid,
    customer_id: Uuid,
    customer_name: String,
    email: String,
    service_id: Uuid,
    reference: String,
    description: String,
    started_at: DateTime<Utc>,
    planned_minutes: i32,
    actual_minutes: i32,
    price_cents: i64,
    vat_rate_bp: i32,
    discount_bp: i32,
    payment_mode: String,
    tax_credit: bool,
    worker: Option<String>,
}

/// Drafts, per customer, one invoice of the interventions done in the
/// month starting `month` (Europe/Paris) and not invoiced yet.
pub async fn draft_month(
    conn: &mut PgConnection,
    ctx: &Ctx,
    month: chrono::NaiveDate,
    customer: Option<Uuid>,
) -> Result<Vec<Invoice>> {
    let (from, to) = invoices::month_bounds(month)?;
    let rows: Vec<Pending> = sqlx::query_as(
        "select d.intervention_id, d.customer_id, b.customer_name, b.email, b.service_id,
                b.reference, b.description, d.started_at, d.planned_minutes, d.actual_minutes,
                d.price_cents, b.vat_rate_bp, b.discount_bp, b.payment_mode, b.tax_credit,
                w.name as worker
         from done_interventions d
         join bookings b on b.tenant_id = d.tenant_id and b.order_id = d.order_id
         left join workers w on w.tenant_id = d.tenant_id and w.id = d.worker_id
         where d.tenant_id = $1 and d.invoice_id is null and d.hour_pack_order_id is null
           and d.started_at >= $2 and d.started_at < $3 and ($4::uuid is null or d.customer_id = $4)
         order by d.customer_id, b.payment_mode, d.started_at
         for update of d",
    )
    .bind(ctx.tenant)
    .bind(from)
    .bind(to)
    .bind(customer)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    // One invoice per customer and payment mode.
    let mut start = 0;
    while start < rows.len() {
        let key = (rows[start].customer_id, rows[start].payment_mode.clone());
        let end = rows[start..]
            .iter()
            .position(|r| (r.customer_id, r.payment_mode.clone()) != key)
            .map_or(rows.len(), |p| start + p);
        let group = &rows[start..end];
        start = end;
        let lines: Vec<invoices::NewLine> = group
            .iter()
            .map(|r| {
                // The planned price, for the time actually worked. Checked:
                // the amounts were bounded when booked, so one beyond the
                // range is a corrupt record, an internal error, never a
                // panic or a wrapped amount on an invoice.
                let worked = i64::from(r.actual_minutes);
                let planned = i64::from(r.planned_minutes.max(1));
                let (unit, (net, vat)) = money::share(r.price_cents, worked, planned)
                    .and_then(|unit| {
                        Some((unit, money::line(unit, 1, r.discount_bp, r.vat_rate_bp)?))
                    })
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "intervention {}: amount beyond the range",
                            r.intervention_id
                        )
                    })?;
                let day = r
                    .started_at
                    .with_timezone(&chrono_tz::Europe::Paris)
                    .format("%d/%m/%Y");
                let by = r
                    .worker
                    .as_deref()
                    .map(|w| format!(", {w}"))
                    .unwrap_or_default();
                Ok(invoices::NewLine {
                    item_id: Some(r.service_id),
                    reference: r.reference.clone(),
                    description: format!(
                        "{day} {} — {}{by}",
                        r.description,
                        duration(r.actual_minutes)
                    ),
                    quantity: 1,
                    unit_cents: unit,
                    vat_rate_bp: r.vat_rate_bp,
                    discount_bp: r.discount_bp,
                    net_cents: net,
                    vat_cents: vat,
                    tax_credit: r.tax_credit,
                })
            })
            .collect::<Result<_>>()?;
        let first = &group[0];
        let invoice = invoices::insert_draft(
            conn,
            ctx,
            invoices::NewInvoice {
                customer: first.customer_id,
                customer_name: &first.customer_name,
                email: &first.email,
                period: &month.format("%Y-%m").to_string(),
                payment_mode: PaymentMode::from_str_name(&first.payment_mode).unwrap_or_default(),
                lines: &lines,
            },
        )
        .await?;
        let ids: Vec<Uuid> = group.iter().map(|r| r.intervention_id).collect();
        sqlx::query(
            "update done_interventions set invoice_id = $3
             where tenant_id = $1 and intervention_id = any($2)",
        )
        .bind(ctx.tenant)
        .bind(&ids)
        .bind(Uuid::parse_str(&invoice.id).unwrap_or_default())
        .execute(&mut *conn)
        .await?;
        out.push(invoice);
    }
    Ok(out)
}

/// Drafts, without anyone asking, the invoices of every month that is over:
/// residents' monthly billing and interventions done. Drafts wait for staff
/// to validate them. Safe with replicas: drafting takes its rows `for
/// update` and only while they are not invoiced, so a second run finds
/// nothing left.
pub struct MonthCloser {
    pub pool: sqlx::PgPool,
    pub outbox: relais_platform::outbox::Outbox,
    pub ns: Namespace,
    pub every: std::time::Duration,
}

impl MonthCloser {
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            if let Err(e) = self.close_past_months().await {
                tracing::warn!(error = %e, "closing past months failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.every) => {},
            }
        }
    }

    async fn close_past_months(&self) -> Result<usize> {
        use chrono::Datelike;
        let today = Utc::now()
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive();
        let this_month = today.with_day(1).unwrap_or(today);
        let (current_start, _) = invoices::month_bounds(this_month)?;
        // (tenant, month, residence monthly?) still to draft, months over.
        let pending: Vec<(Uuid, chrono::NaiveDate, bool)> = sqlx::query_as(
            "select distinct tenant_id,
                    date_trunc('month', confirmed_at at time zone 'Europe/Paris')::date, true
             from monthly_orders where invoice_id is null and confirmed_at < $1
             union
             select distinct tenant_id,
                    date_trunc('month', started_at at time zone 'Europe/Paris')::date, false
             from done_interventions
             where invoice_id is null and hour_pack_order_id is null and started_at < $1",
        )
        .bind(current_start)
        .fetch_all(&self.pool)
        .await?;
        let mut drafted = 0;
        for (tenant, month, residences) in pending {
            let ctx = Ctx::system(SERVICE, tenant, &self.ns, "billing:month-close".into());
            let mut tx = self.pool.begin().await?;
            let made = if residences {
                invoices::draft_monthly(&mut tx, &ctx, month, None).await?
            } else {
                draft_month(&mut tx, &ctx, month, None).await?
            };
            self.outbox.commit(tx).await?;
            if !made.is_empty() {
                tracing::info!(%tenant, %month, residences, drafts = made.len(), "month closed");
            }
            drafted += made.len();
        }
        Ok(drafted)
    }
}
