//! Order placement: `PlaceProductOrder` over gRPC against the real orders
//! service (in-process, with the real catalogue it prices from, relays
//! running), then the rows of the same orders written by pgbench on the
//! same database and schema at the same concurrency.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use relais_orders::{App, OrdersConfig};
use relais_platform::{
    auth::{Claims, Role},
    config::PlatformConfig,
    nats::Namespace,
    testing,
};
use relais_proto::{
    catalogue::{
        CreateProductRequest, ProductFields, SetStockRequest,
        catalogue_service_client::CatalogueServiceClient,
    },
    orders::{
        AddResidenceStaffRequest, Address, CreateCustomerRequest, CreateResidenceRequest,
        CustomerFields, OrderLineRequest, PaymentMode, PlaceProductOrderRequest,
        orders_service_client::OrdersServiceClient,
    },
    types::Money,
};
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

const SCRIPT: &str = include_str!("../../../scripts/bench/orders_place.sql");
const STAFF: &str = "bench-nurse";

#[derive(Debug, Clone)]
pub struct Params {
    pub orders: usize,
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
    pub event_bytes: usize,
    pub response_bytes: usize,
}

/// The resident, residence and products every order uses.
struct Shop {
    tenant: Uuid,
    residence: String,
    customer: String,
    items: [String; 2],
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let mut cfg = testing::config(&testing::nats_url()).await.context(
        "failed to create the benchmark database (is the stack up? `make bench` starts it)",
    )?;
    cfg.db_max_connections = u32::try_from(p.concurrency).unwrap_or(u32::MAX);
    // The catalogue runs through every round, as a neighbour service would;
    // one namespace, as in a deployment: its stock consumer follows the
    // orders stream while orders are placed.
    let neighbours = relais_testkit::Stack::builder()
        .catalogue()
        .namespace(cfg.namespace.clone())
        .spawn()
        .await
        .context("the catalogue failed to start")?;
    let db = BenchDb::new(&cfg.database_url)?;
    let catalogue_db = BenchDb::new(&neighbours.catalogue_part().database_url)?;
    let ns = Namespace::new(cfg.namespace.clone());
    let nats_url = cfg.nats_url.clone();
    let dir = std::env::temp_dir().join(format!("relais-bench-{}", Uuid::new_v4().simple()));

    let catalogue_addr = format!("http://{}", neighbours.catalogue_part().grpc_addr);
    let result = measure(p, &cfg, catalogue_addr, &db, &ns, &dir).await;
    neighbours.stop();
    let stopped = neighbours.wait().await;

    if let Ok(nats) = relais_platform::nats::connect_as(
        &nats_url,
        "relais-bench",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await
    {
        let js = async_nats::jetstream::new(nats);
        let _ = js.delete_stream(ns.stream(relais_orders::SERVICE)).await;
        let _ = js.delete_stream(ns.stream(relais_catalogue::SERVICE)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let dropped = db.drop_now(p.keep).await;
    let catalogue_dropped = catalogue_db.drop_now(p.keep).await;
    let report = result?;
    stopped?;
    dropped?;
    catalogue_dropped?;
    Ok(report)
}

fn bearer(tenant: Uuid, role: Role, sub: &str) -> anyhow::Result<MetadataValue<Ascii>> {
    let token = testing::token_with(&Claims {
        sub: sub.into(),
        tenant,
        role,
        customer_id: None,
        residences: vec![],
        connection: None,
        exp: chrono::Utc::now().timestamp() + 3600,
    });
    format!("Bearer {token}")
        .parse()
        .context("the token is not valid gRPC metadata")
}

fn authed<T>(auth: &MetadataValue<Ascii>, msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert("authorization", auth.clone());
    req
}

async fn measure(
    p: &Params,
    cfg: &PlatformConfig,
    catalogue_addr: String,
    db: &BenchDb,
    ns: &Namespace,
    dir: &Path,
) -> anyhow::Result<Report> {
    let tenant = Uuid::now_v7();
    let admin = bearer(tenant, Role::Admin, "bench-admin")?;
    let staff = bearer(tenant, Role::Staff, STAFF)?;
    let run_id = Uuid::new_v4().simple().to_string();
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let script = dir.join("orders_place.sql");
    std::fs::write(&script, SCRIPT)
        .with_context(|| format!("failed to write {}", script.display()))?;

    let mut shop = None;
    let mut report = Report {
        service: Rounds::default(),
        raw: Rounds::default(),
        event_bytes: 0,
        response_bytes: 0,
    };
    for round in 1..=p.rounds {
        eprintln!(
            "bench: orders round {round}/{}: warm-up {} then {} PlaceProductOrder from {} clients",
            p.rounds, p.warmup, p.orders, p.concurrency
        );
        db.wait_until_unlocked().await?;
        let app = App::build(OrdersConfig {
            platform: cfg.clone(),
            catalogue_addr: catalogue_addr.clone(),
            // The bench's orders choose no worker, so planning is never asked.
            planning_addr: "http://127.0.0.1:9".into(),
        })
        .await
        .context("the orders service failed to start")?;
        let grpc = app.grpc_addr();
        let pool = app.pool();
        let service = Task::spawn(|shutdown| app.run(shutdown));
        let measured = async {
            let channel = |addr: String| async move {
                Channel::from_shared(addr.clone())
                    .context("invalid gRPC address")?
                    .connect()
                    .await
                    .with_context(|| format!("failed to connect to {addr}"))
            };
            if shop.is_none() {
                shop = Some(
                    seed(
                        tenant,
                        &admin,
                        OrdersServiceClient::new(channel(format!("http://{grpc}")).await?),
                        CatalogueServiceClient::new(channel(catalogue_addr.clone()).await?),
                    )
                    .await?,
                );
            }
            let shop = shop.as_ref().context("no shop")?;
            let mut clients = Vec::with_capacity(p.concurrency);
            for _ in 0..p.concurrency {
                clients.push(OrdersServiceClient::new(
                    channel(format!("http://{grpc}")).await?,
                ));
            }
            place(&clients, &staff, shop, &format!("{run_id}-W{round}"), p.warmup).await?;
            drain(&pool, Duration::from_secs(60)).await?;
            db.checkpoint().await?;
            let run = place(&clients, &staff, shop, &format!("{run_id}-B{round}"), p.orders).await?;
            drain(&pool, Duration::from_secs(60)).await?;
            let (event_bytes, response_bytes): (f64, f64) = sqlx::query_as(
                "select (select coalesce(avg(octet_length(payload)), 0)::float8 from outbox
                         where subject like '%.order.placed'),
                        (select coalesce(avg(octet_length(response)), 0)::float8 from idempotency_keys
                         where tenant_id = $1 and operation = 'PlaceProductOrder' and response is not null)",
            )
            .bind(tenant)
            .fetch_one(&pool)
            .await
            .context("failed to measure event and response sizes")?;
            anyhow::Ok((run, event_bytes.round() as usize, response_bytes.round() as usize))
        }
        .await;
        let stopped = service.stop().await;
        let (run, event_bytes, response_bytes) = measured?;
        stopped?.context("the orders service stopped with an error")?;
        report.service.push(run);
        report.event_bytes = event_bytes;
        report.response_bytes = response_bytes;

        let shop = shop.as_ref().context("no shop")?;
        eprintln!("bench: orders round {round}/{}: pgbench", p.rounds);
        let raw = pgbench_round(
            p,
            db,
            ns,
            shop,
            &script,
            &dir.join(format!("orders-round-{round}")),
            (event_bytes, response_bytes),
            &format!("{run_id}-{round}"),
        )
        .await?;
        report.raw.push(raw);
    }
    Ok(report)
}

fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

/// A residence with the bench's staff member, a resident, two products
/// with stock enough for any run.
async fn seed(
    tenant: Uuid,
    admin: &MetadataValue<Ascii>,
    mut orders: OrdersServiceClient<Channel>,
    mut catalogue: CatalogueServiceClient<Channel>,
) -> anyhow::Result<Shop> {
    let address = Address {
        line1: "12 rue des Tilleuls".into(),
        postal_code: "69003".into(),
        city: "Lyon".into(),
        ..Default::default()
    };
    let residence = orders
        .create_residence(authed(
            admin,
            CreateResidenceRequest {
                name: "Les Tilleuls".into(),
                address: Some(address.clone()),
                email: "accueil@residence.example".into(),
                ..Default::default()
            },
        ))
        .await
        .context("CreateResidence")?
        .into_inner()
        .residence
        .context("no residence")?
        .id;
    orders
        .add_residence_staff(authed(
            admin,
            AddResidenceStaffRequest {
                residence_id: residence.clone(),
                staff_subject: STAFF.into(),
                display_name: "Aline".into(),
            },
        ))
        .await
        .context("AddResidenceStaff")?;
    let customer = orders
        .create_customer(authed(
            admin,
            CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: "Jeanne".into(),
                    last_name: "Martin".into(),
                    phone: "04 78 00 00 00".into(),
                    billing_address: Some(address),
                    residence_id: residence.clone(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .context("CreateCustomer")?
        .into_inner()
        .customer
        .context("no customer")?
        .id;
    let mut items = Vec::new();
    for (sku, cents) in [("BENCH-1", 1190), ("BENCH-2", 390)] {
        let id = catalogue
            .create_product(authed(
                admin,
                CreateProductRequest {
                    idempotency_key: String::new(),
                    fields: Some(ProductFields {
                        sku: sku.into(),
                        designation: format!("Article {sku}"),
                        price: eur(cents),
                        vat_rate_bp: 2000,
                        active: true,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .context("CreateProduct")?
            .into_inner()
            .product
            .context("no product")?
            .id;
        catalogue
            .set_stock(authed(
                admin,
                SetStockRequest {
                    product_id: id.clone(),
                    real: 1_000_000_000,
                    available: 1_000_000_000,
                },
            ))
            .await
            .context("SetStock")?;
        items.push(id);
    }
    let [a, b]: [String; 2] = items.try_into().map_err(|_| anyhow::anyhow!("two items"))?;
    Ok(Shop {
        tenant,
        residence,
        customer,
        items: [a, b],
    })
}

async fn place(
    clients: &[OrdersServiceClient<Channel>],
    staff: &MetadataValue<Ascii>,
    shop: &Shop,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Run> {
    let staff = staff.clone();
    let prefix = prefix.to_owned();
    let customer = shop.customer.clone();
    let items = shop.items.clone();
    drive(clients, count, move |mut client, i| {
        let req = PlaceProductOrderRequest {
            idempotency_key: format!("{prefix}-{i}"),
            customer_id: customer.clone(),
            lines: items
                .iter()
                .map(|item| OrderLineRequest {
                    item_id: item.clone(),
                    quantity: 1,
                    discount_bp: 0,
                })
                .collect(),
            shipping_method: "delivery".into(),
            payment_mode: PaymentMode::ResidenceMonthly as i32,
            terms_accepted: true,
            confirmation_email: "accueil@residence.example".into(),
            ..Default::default()
        };
        let req = authed(&staff, req);
        let prefix = prefix.clone();
        async move {
            client
                .place_product_order(req)
                .await
                .with_context(|| format!("PlaceProductOrder {prefix}-{i} failed"))?;
            Ok(())
        }
    })
    .await
}

#[allow(clippy::too_many_arguments)]
async fn pgbench_round(
    p: &Params,
    db: &BenchDb,
    ns: &Namespace,
    shop: &Shop,
    script: &Path,
    log_dir: &Path,
    (event_bytes, response_bytes): (usize, usize),
    run: &str,
) -> anyhow::Result<Run> {
    let defines = |phase: &str| {
        vec![
            ("tenant", shop.tenant.to_string()),
            ("customer", shop.customer.clone()),
            ("residence", shop.residence.clone()),
            ("staff", STAFF.to_owned()),
            ("item1", shop.items[0].clone()),
            ("item2", shop.items[1].clone()),
            ("run", format!("pgb-{run}-{phase}")),
            ("n", "0".to_owned()),
            (
                "subject",
                ns.subject(relais_orders::SERVICE, shop.tenant, "order", "placed"),
            ),
            ("payload", hex(&random_bytes(event_bytes))),
            ("response", hex(&random_bytes(response_bytes))),
        ]
    };
    let bench = PgBench {
        bin: &p.pgbench,
        concurrency: p.concurrency,
        schema: relais_orders::SERVICE,
    };
    let threads = p.pgbench_threads.clamp(1, p.concurrency);
    if p.warmup > 0 {
        let per_client = p.warmup.div_ceil(p.concurrency);
        pgbench(
            &bench,
            &db.url,
            script,
            threads,
            per_client,
            &defines("w"),
            None,
        )
        .await?;
    }
    db.checkpoint().await?;
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("failed to create {}", log_dir.display()))?;
    let per_client = p.orders.div_ceil(p.concurrency);
    let result = pgbench(
        &bench,
        &db.url,
        script,
        threads,
        per_client,
        &defines("b"),
        Some(log_dir),
    )
    .await?;
    let mut conn = db.admin().await?;
    sqlx::query("update orders.outbox set published_at = now() where published_at is null")
        .execute(&mut conn)
        .await
        .context("failed to retire pgbench's outbox rows")?;
    sqlx::Connection::close(conn).await.ok();
    Ok(result)
}
