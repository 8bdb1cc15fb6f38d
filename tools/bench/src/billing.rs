//! Billing: `ValidateInvoice` over gRPC (numbering without gaps, so every
//! validation of a tenant waits for the one before it to commit) against
//! pgbench doing the same writes in one transaction
//! (`scripts/bench/billing_validate.sql`) at the same concurrency.

use std::path::PathBuf;

use anyhow::Context;
use relais_platform::{auth::Role, testing};
use relais_proto::billing::{ValidateInvoiceRequest, billing_service_client::BillingServiceClient};
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};
use uuid::Uuid;

use crate::{
    pgbench::{PgBench, pgbench},
    stats::Rounds,
    support::{BenchDb, Task, drive, hex, random_bytes},
};

const SCRIPT: &str = include_str!("../../../scripts/bench/billing_validate.sql");

#[derive(Debug, Clone)]
pub struct Params {
    pub invoices: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub pgbench: PathBuf,
    pub pgbench_threads: usize,
    pub keep: bool,
}

pub struct Report {
    pub service: Rounds,
    pub raw: Rounds,
    pub event_bytes: usize,
    pub document_bytes: usize,
}

/// `n` drafts of one line for `tenant`; their ids in creation order.
async fn drafts(pool: &sqlx::PgPool, tenant: Uuid, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "insert into invoices (tenant_id, id, status, customer_id, customer_name, order_id,
             payment_mode, total_excl_vat_cents, total_vat_cents, total_incl_vat_cents, currency, origin)
         select $1, gen_random_uuid(), 'draft', $2, 'Paul Durand', gen_random_uuid(),
                'PAYMENT_MODE_CARD', 3213, 643, 3856, 'EUR', 'shop'
         from generate_series(1, $3)
         returning id",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .context("seeding draft invoices")?;
    sqlx::query(
        "insert into invoice_lines (tenant_id, invoice_id, line_no, item_id, reference, description,
             quantity, unit_price_cents, vat_rate_bp, discount_bp, total_excl_vat_cents, vat_cents)
         select tenant_id, id, 1, gen_random_uuid(), 'ENT-001', 'Gants', 3, 1190, 2000, 1000, 3213, 643
         from invoices where tenant_id = $1",
    )
    .bind(tenant)
    .execute(pool)
    .await?;
    sqlx::query("analyze").execute(pool).await?;
    Ok(ids)
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let mut cfg = testing::config(&testing::nats_url()).await?;
    cfg.db_max_connections = u32::try_from(p.concurrency).unwrap_or(u32::MAX);
    let db = BenchDb::new(&cfg.database_url)?;
    let ns = relais_platform::nats::Namespace::new(cfg.namespace.clone());
    let nats_url = cfg.nats_url.clone();
    let dir = std::env::temp_dir().join(format!("relais-bench-{}", Uuid::new_v4().simple()));
    let result = measure(p, cfg, &db, &ns, &dir).await;
    if let Ok(nats) = relais_platform::nats::connect_as(
        &nats_url,
        "relais-bench",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await
    {
        let js = async_nats::jetstream::new(nats);
        let _ = js.delete_stream(ns.stream(relais_billing::SERVICE)).await;
        let _ = js.delete_stream(ns.stream("orders")).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let dropped = db.drop_now(p.keep).await;
    let report = result?;
    dropped?;
    Ok(report)
}

async fn measure(
    p: &Params,
    cfg: relais_platform::config::PlatformConfig,
    db: &BenchDb,
    ns: &relais_platform::nats::Namespace,
    dir: &std::path::Path,
) -> anyhow::Result<Report> {
    std::fs::create_dir_all(dir)?;
    let script = dir.join("billing_validate.sql");
    std::fs::write(&script, SCRIPT)?;
    let mut report = Report {
        service: Rounds::default(),
        raw: Rounds::default(),
        event_bytes: 0,
        document_bytes: 0,
    };
    for round in 1..=p.rounds {
        eprintln!(
            "bench: billing round {round}/{}: validating {} invoices from {} clients",
            p.rounds, p.invoices, p.concurrency
        );
        // Restarted every round and stopped during pgbench's, so its relay
        // never competes with the baseline for the two cores.
        db.wait_until_unlocked().await?;
        let app = relais_billing::App::build(relais_billing::BillingConfig::simulated(
            cfg.clone(),
            std::sync::Arc::new(relais_billing::Simulator::new()),
        ))
        .await
        .context("billing failed to start")?;
        let grpc = app.grpc_addr();
        let pool = app.pool();
        let service = Task::spawn(|shutdown| app.run(shutdown));
        let mut clients = Vec::new();
        for _ in 0..p.concurrency {
            let channel = Channel::from_shared(format!("http://{grpc}"))?
                .connect()
                .await?;
            clients.push(BillingServiceClient::new(channel));
        }
        // A tenant per round and side: each starts its numbering at 1.
        let tenant = Uuid::now_v7();
        let ids = std::sync::Arc::new(drafts(&pool, tenant, p.invoices).await?);
        let auth: MetadataValue<Ascii> = format!("Bearer {}", testing::token(tenant, Role::Admin))
            .parse()
            .context("token")?;
        db.checkpoint().await?;
        let run = drive(&clients, p.invoices, move |mut client, i| {
            let mut req = Request::new(ValidateInvoiceRequest {
                id: ids[i].to_string(),
                expected_version: 0,
            });
            req.metadata_mut().insert("authorization", auth.clone());
            async move {
                client
                    .validate_invoice(req)
                    .await
                    .context("ValidateInvoice failed")?;
                Ok(())
            }
        })
        .await?;
        let (gaps, event_bytes, document_bytes): (i64, f64, f64) = sqlx::query_as(
            "select (select count(*) from invoices where tenant_id = $1 and status = 'draft')
                  + (select count(distinct number) from invoices where tenant_id = $1) - $2,
                    (select coalesce(avg(octet_length(payload)), 0)::float8 from outbox
                     where subject like '%.invoice.validated'),
                    (select coalesce(avg(octet_length(content)), 0)::float8 from documents)",
        )
        .bind(tenant)
        .bind(i64::try_from(p.invoices).unwrap_or(0))
        .fetch_one(&pool)
        .await?;
        anyhow::ensure!(gaps == 0, "validation left drafts or repeated numbers");
        report.event_bytes = event_bytes.round() as usize;
        report.document_bytes = document_bytes.round() as usize;
        report.service.push(run);
        drop(clients);
        service.stop().await??;

        let raw_tenant = Uuid::now_v7();
        drafts(&admin_pool(db).await?, raw_tenant, p.invoices).await?;
        db.checkpoint().await?;
        let bench = PgBench {
            bin: &p.pgbench,
            concurrency: p.concurrency,
            schema: relais_billing::SERVICE,
        };
        let defines = vec![
            ("tenant", raw_tenant.to_string()),
            (
                "subject",
                ns.subject(relais_billing::SERVICE, raw_tenant, "invoice", "validated"),
            ),
            ("payload", hex(&random_bytes(report.event_bytes.max(1)))),
            ("document", hex(&random_bytes(report.document_bytes.max(1)))),
        ];
        let log = dir.join(format!("billing-round-{round}"));
        std::fs::create_dir_all(&log)?;
        let threads = p.pgbench_threads.clamp(1, p.concurrency);
        let per_client = p.invoices / p.concurrency;
        let raw = pgbench(
            &bench,
            &db.url,
            &script,
            threads,
            per_client,
            &defines,
            Some(&log),
        )
        .await?;
        let mut conn = db.admin().await?;
        sqlx::query("update billing.outbox set published_at = now() where published_at is null")
            .execute(&mut conn)
            .await?;
        report.raw.push(raw);
    }
    Ok(report)
}

/// A superuser pool on the benchmark database, in the billing schema, for
/// seeding while the service is stopped.
async fn admin_pool(db: &BenchDb) -> anyhow::Result<sqlx::PgPool> {
    use std::str::FromStr;
    let opts = sqlx::postgres::PgConnectOptions::from_str(&db.url)?
        .options([("search_path", relais_billing::SERVICE)]);
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?)
}
