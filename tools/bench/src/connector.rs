//! Connector: (1) a full catalogue pull of `articles` articles from the
//! reference ERP over its HTTP API into the real catalogue (bulk import,
//! one transaction per item, events through the outbox), against a plain
//! `COPY` of the same rows into a table of the same columns; (2) product
//! orders placed at a steady `rate` per second and the time each takes to
//! reach the ERP (placement → the ERP's record), against the ERP's own
//! write latency (a `setOrder` call from `concurrency` clients).

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use chrono::{DateTime, Utc};
use relais_connector::{adapter::ErpAdapter, reference_erp::ReferenceErpClient};
use relais_platform::{auth::Role, testing};
use relais_proto::{
    catalogue::{
        CreateProductRequest, ProductFields, SetStockRequest,
        catalogue_service_client::CatalogueServiceClient,
    },
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, OrderStatusRule, RunSyncRequest, SendAs,
        connector_service_client::ConnectorServiceClient,
    },
    orders::{
        CreateCustomerRequest, CustomerFields, OrderLineRequest, PaymentMode,
        PlaceProductOrderRequest, orders_service_client::OrdersServiceClient,
    },
    types::Money,
};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tonic::{Request, transport::Channel};
use uuid::Uuid;

use crate::{
    stats::{Latencies, Rounds, Run},
    support::{BenchDb, drive},
};

const KEYS: (&str, &str) = ("bench-public", "bench-private");

#[derive(Debug, Clone)]
pub struct Params {
    pub articles: usize,
    pub orders: usize,
    /// Orders placed per second.
    pub rate: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub keep: bool,
}

pub struct Report {
    pub pull: Rounds,
    pub copy: Rounds,
    /// Placement to the ERP's record, per order.
    pub push: Latencies,
    /// One `setOrder` call to the ERP, per call.
    pub erp_write: Latencies,
    pub placed: Run,
}

fn authed<T>(tenant: Uuid, msg: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", testing::token(tenant, Role::Admin)).parse()?,
    );
    Ok(req)
}

async fn channel(addr: std::net::SocketAddr) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?)
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let kit = relais_testkit::Stack::builder()
        .connector()
        .with_erp(|cfg| {
            cfg.keys = [(KEYS.0.to_owned(), KEYS.1.to_owned())]
                .into_iter()
                .collect();
            cfg.token_ttl = Duration::from_secs(3600);
            cfg.faults = false;
        })
        .with_connector(|cfg| {
            cfg.push.erp_timeout = Duration::from_secs(10);
            cfg.push.poll = Duration::from_millis(100);
        })
        .spawn()
        .await
        .context("the stack failed to start (is it up? `make bench` starts it)")?;
    let erp_url = kit.erp_database_url();
    let dbs = [
        BenchDb::new(&kit.catalogue_part().database_url)?,
        BenchDb::new(&kit.orders_part().database_url)?,
        BenchDb::new(&kit.planning_part().database_url)?,
        BenchDb::new(&kit.connector_part().database_url)?,
        BenchDb::new(&erp_url)?,
    ];
    let result = measure(p, &kit, &erp_url, &dbs[0]).await;
    let (nats, ns) = (kit.nats_url.clone(), kit.ns.clone());
    kit.stop();
    let _ = kit.wait().await;
    if let Ok(client) = relais_platform::nats::connect_as(
        &nats,
        "relais-bench",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await
    {
        let js = async_nats::jetstream::new(client);
        for s in ["catalogue", "orders", "connector", "planning"] {
            let _ = js.delete_stream(ns.stream(s)).await;
        }
    }
    for db in dbs {
        db.drop_now(p.keep).await?;
    }
    result
}

async fn measure(
    p: &Params,
    kit: &relais_testkit::Stack,
    erp_url: &str,
    catalogue_db: &BenchDb,
) -> anyhow::Result<Report> {
    let catalogue_addr = kit.catalogue_part().grpc_addr;
    let orders_addr = kit.orders_part().grpc_addr;
    let erp_base = kit.erp_base();
    let connector = ConnectorServiceClient::new(channel(kit.connector_part().grpc_addr).await?);

    seed_articles(erp_url, p.articles).await?;
    let mut report = Report {
        pull: Rounds::default(),
        copy: Rounds::default(),
        push: Latencies::default(),
        erp_write: Latencies::default(),
        placed: Run {
            ops: 0,
            elapsed: Duration::ZERO,
            latencies: None,
        },
    };
    for round in 1..=p.rounds {
        eprintln!(
            "bench: connector round {round}/{}: pulling {} articles from the reference ERP",
            p.rounds, p.articles
        );
        let tenant = Uuid::now_v7();
        let connection = connect(&connector, tenant, &erp_base, false).await?;
        catalogue_db.checkpoint().await?;
        let started = std::time::Instant::now();
        let mut stream = connector
            .clone()
            .run_sync(authed(
                tenant,
                RunSyncRequest {
                    connection_id: connection,
                    family: "catalogue".into(),
                    full: true,
                },
            )?)
            .await?
            .into_inner();
        let mut last = None;
        while let Some(m) = stream.message().await? {
            last = m.run;
        }
        let elapsed = started.elapsed();
        let run = last.context("the run reported nothing")?;
        anyhow::ensure!(
            run.applied == p.articles as i64 && run.failed == 0,
            "the pull applied {} of {} articles ({} failed): {:?}",
            run.applied,
            p.articles,
            run.failed,
            run.errors.first()
        );
        report.pull.push(Run {
            ops: p.articles as u64,
            elapsed,
            latencies: None,
        });
        report
            .copy
            .push(copy_baseline(catalogue_db, p.articles, round).await?);
    }

    eprintln!(
        "bench: connector: {} product orders from {} clients, each timed to the ERP",
        p.orders, p.concurrency
    );
    let tenant = Uuid::now_v7();
    connect(&connector, tenant, &erp_base, true).await?;
    let mut catalogue = CatalogueServiceClient::new(channel(catalogue_addr).await?);
    let product = catalogue
        .create_product(authed(
            tenant,
            CreateProductRequest {
                idempotency_key: String::new(),
                fields: Some(ProductFields {
                    sku: "BENCH-GLOVES".into(),
                    designation: "Gants".into(),
                    price: Some(Money {
                        amount_cents: 1190,
                        currency: "EUR".into(),
                    }),
                    vat_rate_bp: 2000,
                    active: true,
                    ..Default::default()
                }),
            },
        )?)
        .await?
        .into_inner()
        .product
        .context("no product")?
        .id;
    catalogue
        .set_stock(authed(
            tenant,
            SetStockRequest {
                product_id: product.clone(),
                real: 10_000_000,
                available: 10_000_000,
            },
        )?)
        .await?;
    let mut orders = OrdersServiceClient::new(channel(orders_addr).await?);
    let customer = orders
        .create_customer(authed(
            tenant,
            CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: "Paul".into(),
                    last_name: "Durand".into(),
                    email: "paul@example.org".into(),
                    billing_address: Some(relais_proto::orders::Address {
                        line1: "3 rue Sala".into(),
                        postal_code: "69002".into(),
                        city: "Lyon".into(),
                        country: "FR".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            },
        )?)
        .await?
        .into_inner()
        .customer
        .context("no customer")?
        .id;
    // Open loop: orders arrive at `rate` per second whatever the answers
    // take (at most `concurrency` in flight), as customers would; a closed
    // loop at full speed would only measure how fast a queue grows.
    let client = OrdersServiceClient::new(channel(orders_addr).await?);
    let gate = Arc::new(tokio::sync::Semaphore::new(p.concurrency));
    let placed_at = Arc::new(std::sync::Mutex::new(Vec::with_capacity(p.orders)));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / p.rate.max(1) as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(p.orders);
    for _ in 0..p.orders {
        ticker.tick().await;
        let permit = gate.clone().acquire_owned().await?;
        let (mut client, product, customer, at) = (
            client.clone(),
            product.clone(),
            customer.clone(),
            placed_at.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let order = client
                .place_product_order(authed(
                    tenant,
                    PlaceProductOrderRequest {
                        customer_id: customer,
                        lines: vec![OrderLineRequest {
                            item_id: product,
                            quantity: 2,
                            discount_bp: 500,
                        }],
                        shipping_method: "delivery".into(),
                        payment_mode: PaymentMode::Invoice as i32,
                        terms_accepted: true,
                        ..Default::default()
                    },
                )?)
                .await
                .context("PlaceProductOrder failed")?
                .into_inner()
                .order
                .context("no order")?;
            let t = order.placed_at.context("no placed_at")?;
            let t =
                DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).context("placed_at")?;
            if let Ok(mut v) = at.lock() {
                v.push((order.id, t));
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    report.placed = Run {
        ops: p.orders as u64,
        elapsed: started.elapsed(),
        latencies: None,
    };
    report.push = push_latencies(erp_url, &placed_at, p.orders).await?;

    let erp = Arc::new(ReferenceErpClient::new(
        &erp_base,
        KEYS.0,
        KEYS.1,
        Duration::from_secs(10),
    )?);
    let writers: Vec<Arc<ReferenceErpClient>> = (0..p.concurrency).map(|_| erp.clone()).collect();
    let direct = drive(&writers, p.orders, |erp, i| async move {
        let fields = match json!({ "status": "paid", "lines": [{ "reference": "BENCH-GLOVES", "quantity": 2 }] }) {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        erp.upsert("order", None, &format!("bench-direct-{i}"), &fields)
            .await
            .context("setOrder failed")?;
        Ok(())
    })
    .await?;
    report.erp_write = direct.latencies.unwrap_or_default();
    Ok(report)
}

/// A connection in `tenant`: the catalogue pulled; with `orders`, product
/// orders sent as orders from their placement (validated) on.
async fn connect(
    connector: &ConnectorServiceClient<Channel>,
    tenant: Uuid,
    erp_base: &str,
    orders: bool,
) -> anyhow::Result<String> {
    let family = |f: &str, d: Direction| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    };
    let families = if orders {
        vec![
            family("customers", Direction::Push),
            family("orders", Direction::Push),
        ]
    } else {
        vec![family("catalogue", Direction::Pull)]
    };
    Ok(connector
        .clone()
        .create_connection(authed(
            tenant,
            CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(ConnectionFields {
                    name: "bench-erp".into(),
                    adapter: AdapterKind::ReferenceErp as i32,
                    endpoint: erp_base.into(),
                    secret: format!("{}:{}", KEYS.0, KEYS.1),
                    secret_ref: String::new(),
                    families,
                    order_statuses: vec![OrderStatusRule {
                        status: "validated".into(),
                        send_as: SendAs::Order as i32,
                    }],
                    conflict_policy: ConflictPolicy::ErpWins as i32,
                    enabled: true,
                }),
            },
        )?)
        .await?
        .into_inner()
        .connection
        .context("no connection")?
        .id)
}

/// `n` articles in the ERP's own store, as its users would have entered
/// them (not timed).
async fn seed_articles(erp_url: &str, n: usize) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(erp_url).await?;
    sqlx::query(
        "insert into reference_erp.records (object, id, data)
         select 'article', 'P' || lpad(g::text, 7, '0'),
                jsonb_build_object('sku', 'BENCH-' || g, 'designation', 'Article ' || g,
                    'description', 'Article de démonstration numéro ' || g,
                    'price_cents', 100 + g % 5000, 'vat_rate_bp', 2000, 'sales_unit', 'pièce',
                    'weight_grams', g % 3000, 'active', true)
         from generate_series(1, $1) g",
    )
    .bind(i64::try_from(n)?)
    .execute(&mut conn)
    .await
    .context("seeding the ERP's articles")?;
    conn.close().await.ok();
    Ok(())
}

/// The same rows as the pull writes (the product's columns), by `COPY`.
async fn copy_baseline(db: &BenchDb, n: usize, round: usize) -> anyhow::Result<Run> {
    let mut conn = db.admin().await?;
    let table = format!("bench_copy_{round}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "create table {table} (tenant_id uuid, id uuid, sku text, designation text,
             description text, price_cents bigint, currency text, vat_rate_bp int,
             sales_unit text, weight_grams bigint, active boolean, origin text,
             primary key (tenant_id, id), unique (tenant_id, sku))"
    )))
    .execute(&mut conn)
    .await?;
    let tenant = Uuid::now_v7();
    let mut data = String::with_capacity(n * 160);
    for g in 1..=n {
        data.push_str(&format!(
            "{tenant}\t{}\tBENCH-{g}\tArticle {g}\tArticle de démonstration numéro {g}\t{}\tEUR\t2000\tpièce\t{}\tt\terp:bench-erp\n",
            Uuid::now_v7(),
            100 + g % 5000,
            g % 3000
        ));
    }
    let started = std::time::Instant::now();
    let mut copy = conn
        .copy_in_raw(&format!("copy {table} from stdin"))
        .await?;
    copy.send(data.as_bytes()).await?;
    let rows = copy.finish().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(rows == n as u64, "COPY wrote {rows} of {n} rows");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop table {table}")))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok(Run {
        ops: n as u64,
        elapsed,
        latencies: None,
    })
}

/// Waits until every order is in the ERP, then each one's time from its
/// placement to the ERP's record (both clocks are this machine's).
async fn push_latencies(
    erp_url: &str,
    placed: &std::sync::Mutex<Vec<(String, DateTime<Utc>)>>,
    n: usize,
) -> anyhow::Result<Latencies> {
    let placed: Vec<(String, DateTime<Utc>)> = placed
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut conn = PgConnection::connect(erp_url).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let rows: Vec<(String, DateTime<Utc>)> = loop {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "select data->>'shop_id', updated_at from reference_erp.records
             where object = 'order' and data ? 'shop_id'",
        )
        .fetch_all(&mut conn)
        .await?;
        if rows.len() >= n {
            break rows;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "only {} of {n} orders reached the ERP in 5 minutes",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    anyhow::ensure!(
        rows.len() == n,
        "{} ERP orders for {n} placed: duplicates",
        rows.len()
    );
    let at: std::collections::HashMap<String, DateTime<Utc>> = rows.into_iter().collect();
    let mut samples = Vec::with_capacity(n);
    for (id, t) in placed {
        let erp = at
            .get(&id)
            .with_context(|| format!("order {id} is not in the ERP"))?;
        samples.push((*erp - t).to_std().unwrap_or_default());
    }
    conn.close().await.ok();
    Ok(Latencies::new(samples))
}
