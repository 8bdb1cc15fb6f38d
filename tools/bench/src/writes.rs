//! Catalogue writes: `CreateProduct` over gRPC against the real catalogue
//! (in-process, fresh database, relay running as in production), then the
//! same statements through pgbench on the same database and schema.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use relais_catalogue::App;
use relais_platform::{auth::Role, config::PlatformConfig, nats::Namespace, outbox, testing};
use relais_proto::{
    catalogue::{
        CreateProductRequest, ProductFields, catalogue_service_client::CatalogueServiceClient,
    },
    types::Money,
};
use sqlx::Connection;
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};
use uuid::Uuid;

use crate::{
    pgbench::{PgBench, pgbench},
    stats::{Rounds, Run},
    support::{BenchDb, Task, drain, drive, hex, random_bytes},
};

/// The pgbench script, kept in `scripts/bench/` to be read and run by hand.
const SCRIPT: &str = include_str!("../../../scripts/bench/catalogue_insert.sql");

#[derive(Debug, Clone)]
pub struct Params {
    pub products: usize,
    pub warmup: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub pgbench: PathBuf,
    pub pgbench_threads: usize,
    pub keep: bool,
}

pub struct Report {
    pub service: Rounds,
    pub raw: Rounds,
    /// Mean size of the service's outbox payloads (encoded ProductChanged).
    pub event_bytes: usize,
    /// Mean size of the responses stored with the idempotency keys.
    pub response_bytes: usize,
    /// The most events left unpublished when a round's last write returned,
    /// and the longest the relay then took to publish them (None: not
    /// within a minute).
    pub backlog_at_end: i64,
    pub drain: Option<Duration>,
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let mut cfg = testing::config(&testing::nats_url()).await.context(
        "failed to create the benchmark database (is the stack up? `make bench` starts it)",
    )?;
    // As many pooled connections as pgbench gets (the production default is 16).
    cfg.db_max_connections = u32::try_from(p.concurrency).unwrap_or(u32::MAX);
    let db = BenchDb::new(&cfg.database_url)?;
    let ns = Namespace::new(cfg.namespace.clone());
    let nats_url = cfg.nats_url.clone();
    let dir = std::env::temp_dir().join(format!("relais-bench-{}", Uuid::new_v4().simple()));

    let result = measure(p, &cfg, &db, &ns, &dir).await;

    // Cleanup whatever happened: the stream of this run, its database, the
    // pgbench logs.
    if let Ok(nats) = relais_platform::nats::connect_as(
        &nats_url,
        "relais-bench",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await
    {
        let js = async_nats::jetstream::new(nats);
        let _ = js.delete_stream(ns.stream(relais_catalogue::SERVICE)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let dropped = db.drop_now(p.keep).await;
    let report = result?;
    dropped?;
    Ok(report)
}

/// Alternates rounds: the service (a fresh start of the app on the same
/// database each time), then pgbench.
async fn measure(
    p: &Params,
    cfg: &PlatformConfig,
    db: &BenchDb,
    ns: &Namespace,
    dir: &Path,
) -> anyhow::Result<Report> {
    let tenant = Uuid::now_v7();
    let token = testing::token(tenant, Role::Admin);
    anyhow::ensure!(!token.is_empty(), "failed to mint an admin token");
    let auth: MetadataValue<Ascii> = format!("Bearer {token}")
        .parse()
        .context("the token is not valid gRPC metadata")?;
    let run_id = Uuid::new_v4().simple().to_string();
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let script = dir.join("catalogue_insert.sql");
    std::fs::write(&script, SCRIPT)
        .with_context(|| format!("failed to write {}", script.display()))?;

    let mut report = Report {
        service: Rounds::default(),
        raw: Rounds::default(),
        event_bytes: 0,
        response_bytes: 0,
        backlog_at_end: 0,
        drain: Some(Duration::ZERO),
    };
    for round in 1..=p.rounds {
        eprintln!(
            "bench: writes round {round}/{}: catalogue, warm-up {} then {} CreateProduct from {} clients",
            p.rounds, p.warmup, p.products, p.concurrency
        );
        let s = service_round(p, cfg, db, (tenant, &auth), &run_id, round).await?;
        report.service.push(s.run);
        report.event_bytes = s.event_bytes;
        report.response_bytes = s.response_bytes;
        report.backlog_at_end = report.backlog_at_end.max(s.backlog_at_end);
        report.drain = match (report.drain, s.drain) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };

        eprintln!(
            "bench: writes round {round}/{}: pgbench, warm-up {} then {} transactions",
            p.rounds,
            p.warmup.div_ceil(p.concurrency) * p.concurrency,
            p.products.div_ceil(p.concurrency) * p.concurrency,
        );
        let raw = pgbench_round(
            p,
            db,
            ns,
            &script,
            &dir.join(format!("round-{round}")),
            (report.event_bytes, report.response_bytes),
        )
        .await?;
        report.raw.push(raw);
    }
    Ok(report)
}

struct ServiceRound {
    run: Run,
    event_bytes: usize,
    response_bytes: usize,
    backlog_at_end: i64,
    drain: Option<Duration>,
}

async fn service_round(
    p: &Params,
    cfg: &PlatformConfig,
    db: &BenchDb,
    (tenant, auth): (Uuid, &MetadataValue<Ascii>),
    run_id: &str,
    round: usize,
) -> anyhow::Result<ServiceRound> {
    db.wait_until_unlocked().await?;
    let app = App::build(cfg.clone())
        .await
        .context("the catalogue failed to start")?;
    let grpc = app.grpc_addr();
    let pool = app.pool();
    let service = Task::spawn(|shutdown| app.run(shutdown));

    // One connection per client, as C separate callers would have.
    let mut clients = Vec::with_capacity(p.concurrency);
    for _ in 0..p.concurrency {
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .context("invalid gRPC address")?
            .connect()
            .await
            .with_context(|| format!("failed to connect to the catalogue at {grpc}"))?;
        clients.push(CatalogueServiceClient::new(channel));
    }
    let measured = async {
        let warm = format!("W{round}");
        create_products(&clients, auth, run_id, &warm, p.warmup).await?;
        drain(&pool, Duration::from_secs(60)).await?;
        db.checkpoint().await?;
        let bench = format!("B{round}");
        let run = create_products(&clients, auth, run_id, &bench, p.products).await?;
        let (backlog_at_end, _) = outbox::backlog(&pool)
            .await
            .context("failed to read the outbox backlog")?;
        let drain = drain(&pool, Duration::from_secs(60)).await?;
        // Every event of the service's tenant is a ProductChanged (pgbench
        // writes under tenants of its own).
        let (event_bytes, response_bytes): (f64, f64) = sqlx::query_as(
            "select (select coalesce(avg(octet_length(payload)), 0)::float8 from outbox
                     where position($1 in subject) > 0),
                    (select coalesce(avg(octet_length(response)), 0)::float8 from idempotency_keys
                     where tenant_id = $2 and response is not null)",
        )
        .bind(format!(".{tenant}."))
        .bind(tenant)
        .fetch_one(&pool)
        .await
        .context("failed to measure event and response sizes")?;
        anyhow::Ok(ServiceRound {
            run,
            event_bytes: event_bytes.round() as usize,
            response_bytes: response_bytes.round() as usize,
            backlog_at_end,
            drain,
        })
    }
    .await;
    drop(clients);
    let stopped = service.stop().await;
    let round = measured?;
    stopped?.context("the catalogue stopped with an error")?;
    Ok(round)
}

/// pgbench: a warm-up, then the measured run, each under a tenant of its
/// own (the script's SKUs and keys restart from 1 with every pgbench run);
/// afterwards its outbox rows are marked published so that the next start
/// of the catalogue does not publish them.
async fn pgbench_round(
    p: &Params,
    db: &BenchDb,
    ns: &Namespace,
    script: &Path,
    log_dir: &Path,
    (event_bytes, response_bytes): (usize, usize),
) -> anyhow::Result<Run> {
    let defines = |tenant: Uuid| {
        vec![
            ("tenant", tenant.to_string()),
            ("n", "0".to_owned()),
            (
                "subject",
                ns.subject(relais_catalogue::SERVICE, tenant, "product", "created"),
            ),
            ("payload", hex(&random_bytes(event_bytes))),
            ("response", hex(&random_bytes(response_bytes))),
        ]
    };
    let threads = p.pgbench_threads.clamp(1, p.concurrency);
    let bench = PgBench {
        bin: &p.pgbench,
        concurrency: p.concurrency,
        schema: relais_catalogue::SERVICE,
    };
    if p.warmup > 0 {
        let per_client = p.warmup.div_ceil(p.concurrency);
        pgbench(
            &bench,
            &db.url,
            script,
            threads,
            per_client,
            &defines(Uuid::now_v7()),
            None,
        )
        .await?;
    }
    db.checkpoint().await?;
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("failed to create {}", log_dir.display()))?;
    let per_client = p.products.div_ceil(p.concurrency);
    let run = pgbench(
        &bench,
        &db.url,
        script,
        threads,
        per_client,
        &defines(Uuid::now_v7()),
        Some(log_dir),
    )
    .await?;
    let mut conn = db.admin().await?;
    sqlx::query("update catalogue.outbox set published_at = now() where published_at is null")
        .execute(&mut conn)
        .await
        .context("failed to retire pgbench's outbox rows")?;
    conn.close().await.ok();
    Ok(run)
}

/// `count` CreateProduct calls spread over the clients.
async fn create_products(
    clients: &[CatalogueServiceClient<Channel>],
    auth: &MetadataValue<Ascii>,
    run_id: &str,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Run> {
    let (auth, run_id, prefix) = (auth.clone(), run_id.to_owned(), prefix.to_owned());
    drive(clients, count, move |mut client, i| {
        let mut req = Request::new(product(&run_id, &prefix, i));
        req.metadata_mut().insert("authorization", auth.clone());
        let prefix = prefix.clone();
        async move {
            client
                .create_product(req)
                .await
                .with_context(|| format!("CreateProduct {prefix}-{i} failed"))?;
            Ok(())
        }
    })
    .await
}

fn product(run_id: &str, prefix: &str, i: usize) -> CreateProductRequest {
    let sku = format!("{prefix}-{i:06}");
    CreateProductRequest {
        idempotency_key: format!("{run_id}-{prefix}-{i}"),
        fields: Some(ProductFields {
            designation: format!("Article {sku}"),
            sku,
            description: "Un article".into(),
            category_id: String::new(),
            price: Some(Money {
                amount_cents: 1250,
                currency: "EUR".into(),
            }),
            vat_rate_bp: 2000,
            sales_unit: "unit".into(),
            weight_grams: 250,
            image_urls: vec!["https://img.example/a.jpg".into()],
            active: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_embedded() {
        assert!(SCRIPT.contains("INSERT INTO outbox"));
    }
}
