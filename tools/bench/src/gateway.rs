//! The gateway (docs/benchmarks.md §7): what the public HTTP/JSON API adds
//! to a call straight to the orders service's gRPC, and what a sign-in
//! costs next to the password hash it is built around.
//!
//! One stack (the testkit's: catalogue, planning, orders, billing, the
//! gateway, each on a fresh database, one namespace) serves both sides of
//! each comparison, in the same run, at the same concurrency and for the
//! same number of calls:
//!
//! - a booking (`POST /v1/shop/bookings` against `PlaceBooking`) and a
//!   product order (`POST /v1/shop/product-orders` against
//!   `PlaceProductOrder`), each with a customer's token, the same one on
//!   both sides; the HTTP clients are reqwest with one keep-alive
//!   connection each, the gRPC clients tonic with one HTTP/2 connection
//!   each;
//! - sign-ins (`POST /v1/auth/sign-in`, accounts made by sign-up first)
//!   against as many bare argon2id hashes with the gateway's parameters,
//!   computed in this process.
//!
//! Rounds alternate the two sides, the first side changing every round
//! (ABBA), so whatever the machine does meanwhile weighs on both.

use std::{
    path::PathBuf,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use argon2::{
    Algorithm, Argon2, Params as ArgonParams, PasswordHasher, Version, password_hash::SaltString,
};
use chrono::{Days, NaiveDate, Utc};
use futures::StreamExt;
use relais_gateway::accounts::passwords;
use relais_platform::auth::{Claims, Role};
use relais_proto::{
    catalogue::{CreateProductRequest, ProductFields, SetStockRequest},
    orders::{
        Address, CreateCustomerRequest, CustomerFields, OrderLineRequest, PaymentMode,
        PlaceBookingRequest, PlaceProductOrderRequest, Schedule,
        orders_service_client::OrdersServiceClient,
    },
    types::Money,
};
use relais_testkit::Stack;
use serde_json::{Value, json};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};
use uuid::Uuid;

use crate::{
    stats::{Latencies, Rounds, Run},
    support::{BenchDb, drain, drive},
};

#[derive(Debug, Clone)]
pub struct Params {
    /// Bookings, and product orders, per side and round.
    pub calls: usize,
    /// Sign-ins (and bare hashes) per side and round; as many accounts.
    pub sign_ins: usize,
    /// Bare hashes computed at once (0: two per core, as the gateway).
    pub hash_slots: usize,
    pub warmup: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub keep: bool,
}

/// Direct gRPC against the gateway, for one kind of call.
#[derive(Default)]
pub struct Pair {
    pub direct: Rounds,
    pub gateway: Rounds,
    /// The gateway's JSON answer and the service's protobuf one, in bytes.
    pub json_bytes: usize,
    pub protobuf_bytes: usize,
    /// CPU this process spent per call in each round, in ms.
    pub direct_cpu: Vec<f64>,
    pub gateway_cpu: Vec<f64>,
}

impl Pair {
    pub fn throughput_ratio(&self) -> f64 {
        self.gateway.ratio_to(&self.direct)
    }

    /// Median over rounds of this process's CPU per call: direct, gateway.
    pub fn cpu(&self) -> (f64, f64) {
        (median(&self.direct_cpu), median(&self.gateway_cpu))
    }

    /// p99 of the gateway's median round over the direct median round's.
    pub fn p99_ratio(&self) -> f64 {
        let p99 = |r: &Rounds| {
            r.median()
                .and_then(|m| m.latencies.as_ref())
                .map_or(0.0, |l| l.p99().as_secs_f64())
        };
        let direct = p99(&self.direct);
        if direct > 0.0 {
            p99(&self.gateway) / direct
        } else {
            0.0
        }
    }
}

pub struct Report {
    pub booking: Pair,
    pub product: Pair,
    pub sign_in: Rounds,
    pub hashes: Rounds,
    /// One argon2id hash at a time on one thread, every sample.
    pub one_hash: Latencies,
    pub one_hash_samples: usize,
    /// Bare hashes computed at once on the raw side.
    pub hash_slots: usize,
}

/// What the calls use: a service with qualified workers, customers (each
/// with a token), two products.
struct Shop {
    tenant: Uuid,
    service: String,
    customers: Vec<Customer>,
    items: [String; 2],
}

struct Customer {
    id: String,
    token: String,
    /// `Bearer <token>` as gRPC metadata.
    metadata: MetadataValue<Ascii>,
}

/// Workers with the service's skill (all available 7:00-20:00 every day).
const WORKERS: usize = 8;
/// Local start times of the bookings, two hours each.
const STARTS: [&str; 5] = ["08:00", "10:00", "12:00", "14:00", "16:00"];
/// Days ahead over which bookings are spread (the first a week from now).
const DAYS: usize = 350;

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let pool_size = u32::try_from(p.concurrency).unwrap_or(u32::MAX);
    // Where the gateway keeps its accounts (to checkpoint and drop) and
    // its mail (to remove): the testkit shows them only to the hook.
    let gateway_db = Arc::new(Mutex::new(None::<(String, PathBuf)>));
    let seen = gateway_db.clone();
    // Every service with the production pool size (the testkit's is 8),
    // as the other benchmarks; no limit on sign-ins per address, all of
    // them coming from 127.0.0.1.
    let stack = Stack::builder()
        .with_catalogue(move |c| c.db_max_connections = pool_size)
        .with_planning(move |c| c.platform.db_max_connections = pool_size)
        .with_orders(move |c| c.platform.db_max_connections = pool_size)
        .with_gateway(move |c| {
            c.platform.db_max_connections = pool_size;
            c.accounts.sign_ins_per_minute = 0;
            if let Ok(mut s) = seen.lock() {
                *s = Some((c.platform.database_url.clone(), c.platform.mail.dir.clone()));
            }
        })
        .spawn()
        .await
        .context("the stack failed to start (is it up? `make bench` starts it)")?;
    let (gateway_url, mail_dir) = gateway_db
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .context("the gateway's settings were not seen")?;
    let dbs = [
        BenchDb::new(&stack.catalogue_part().database_url)?,
        BenchDb::new(&stack.planning_part().database_url)?,
        BenchDb::new(&stack.orders_part().database_url)?,
        BenchDb::new(&stack.billing_part().database_url)?,
        BenchDb::new(&gateway_url)?,
    ];

    let result = measure(p, &stack, &dbs).await;

    let (nats, ns) = (stack.nats_url.clone(), stack.ns.clone());
    stack.stop();
    let stopped = stack.wait().await;
    if let Ok(client) = relais_platform::nats::connect_as(
        &nats,
        "relais-bench",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await
    {
        let js = async_nats::jetstream::new(client);
        for s in ["catalogue", "planning", "orders", "billing", "gateway"] {
            let _ = js.delete_stream(ns.stream(s)).await;
        }
    }
    let _ = std::fs::remove_dir_all(&mail_dir);
    let mut dropped = Ok(());
    for db in dbs {
        let d = db.drop_now(p.keep).await;
        if dropped.is_ok() {
            dropped = d;
        }
    }
    let report = result?;
    stopped.context("a service of the stack stopped with an error")?;
    dropped?;
    Ok(report)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Booking,
    Product,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Product => "product order",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Direct,
    Gateway,
}

/// The first side of round `round` (1-based): direct, gateway, gateway,
/// direct, direct...
fn sides(round: usize) -> [Side; 2] {
    if round % 2 == 1 {
        [Side::Direct, Side::Gateway]
    } else {
        [Side::Gateway, Side::Direct]
    }
}

async fn measure(p: &Params, stack: &Stack, dbs: &[BenchDb]) -> anyhow::Result<Report> {
    let settle = Settle::new(stack, dbs).await?;
    eprintln!(
        "bench: gateway: seeding {WORKERS} workers, {} customers, two products",
        p.concurrency * 4
    );
    let shop = Arc::new(seed(stack, p.concurrency * 4).await?);
    let base: Arc<str> = stack.gateway_url().into();
    let mut grpc = Vec::with_capacity(p.concurrency);
    let mut http = Vec::with_capacity(p.concurrency);
    for _ in 0..p.concurrency {
        grpc.push(OrdersServiceClient::new(
            Channel::from_shared(format!("http://{}", stack.orders_part().grpc_addr))?
                .connect()
                .await
                .context("failed to connect to orders")?,
        ));
        // One client each, so one keep-alive connection each.
        http.push(Http {
            client: relais_platform::http::client(Duration::from_secs(30))?,
            base: base.clone(),
        });
    }
    let run_id = Uuid::new_v4().simple().to_string();
    let today = Utc::now().date_naive();

    let mut report = Report {
        booking: Pair::default(),
        product: Pair::default(),
        sign_in: Rounds::default(),
        hashes: Rounds::default(),
        one_hash: Latencies::default(),
        one_hash_samples: 0,
        hash_slots: hash_slots(p),
    };
    for kind in [Kind::Booking, Kind::Product] {
        for round in 1..=p.rounds {
            for side in sides(round) {
                eprintln!(
                    "bench: gateway round {round}/{}: {} {:?}: warm-up {} then {} from {} clients",
                    p.rounds,
                    kind.name(),
                    side,
                    p.warmup,
                    p.calls,
                    p.concurrency
                );
                let calls = Calls {
                    kind,
                    shop: shop.clone(),
                    today,
                };
                let prefix = format!("{run_id}-{kind:?}-{side:?}-{round}");
                if p.warmup > 0 {
                    calls
                        .place(side, &grpc, &http, &format!("{prefix}-w"), p.warmup)
                        .await?;
                }
                settle.now().await?;
                eprintln!("bench: gateway:   measuring {}", p.calls);
                let cpu = process_cpu();
                let run = calls
                    .place(side, &grpc, &http, &format!("{prefix}-b"), p.calls)
                    .await?;
                let cpu = progress(&run, cpu);
                let pair = match kind {
                    Kind::Booking => &mut report.booking,
                    Kind::Product => &mut report.product,
                };
                match side {
                    Side::Direct => {
                        pair.direct.push(run);
                        pair.direct_cpu.extend(cpu);
                    }
                    Side::Gateway => {
                        pair.gateway.push(run);
                        pair.gateway_cpu.extend(cpu);
                    }
                }
            }
        }
        let calls = Calls {
            kind,
            shop: shop.clone(),
            today,
        };
        let (json_bytes, protobuf_bytes) = calls.sizes(&grpc[0], &http[0], &run_id).await?;
        let pair = match kind {
            Kind::Booking => &mut report.booking,
            Kind::Product => &mut report.product,
        };
        pair.json_bytes = json_bytes;
        pair.protobuf_bytes = protobuf_bytes;
    }
    settle.now().await?;

    sign_ins(p, &shop, &http, &settle, &mut report).await?;
    Ok(report)
}

/// An HTTP client of the gateway.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: Arc<str>,
}

impl Http {
    /// POSTs `body`; the answer's body, which must come with `expected`.
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: &Value,
        expected: u16,
    ) -> anyhow::Result<bytes::Bytes> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.with_context(|| format!("POST {path}"))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .with_context(|| format!("POST {path}: reading the answer"))?;
        anyhow::ensure!(
            status.as_u16() == expected,
            "POST {path}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(bytes)
    }
}

/// The calls of one kind: request `i` is the same on both sides (its
/// customer, its slot, its lines), its idempotency key aside.
#[derive(Clone)]
struct Calls {
    kind: Kind,
    shop: Arc<Shop>,
    today: NaiveDate,
}

impl Calls {
    fn customer(&self, i: usize) -> &Customer {
        &self.shop.customers[i % self.shop.customers.len()]
    }

    /// Booking `i`'s date and start: a week ahead or more, spread over
    /// days and times.
    fn slot(&self, i: usize) -> (String, &'static str) {
        let day = 7 + (i / STARTS.len()) % DAYS;
        let date = self.today + Days::new(day as u64);
        (date.to_string(), STARTS[i % STARTS.len()])
    }

    fn booking_pb(&self, i: usize, key: String) -> PlaceBookingRequest {
        let (date, start) = self.slot(i);
        PlaceBookingRequest {
            idempotency_key: key,
            customer_id: self.customer(i).id.clone(),
            service_id: self.shop.service.clone(),
            schedule: Some(Schedule {
                first_date: date,
                start_time: start.into(),
                duration_minutes: 120,
                ..Default::default()
            }),
            payment_mode: PaymentMode::Card as i32,
            terms_accepted: true,
            ..Default::default()
        }
    }

    fn booking_json(&self, i: usize) -> Value {
        let (date, start) = self.slot(i);
        json!({
            "service_id": self.shop.service,
            "schedule": {"first_date": date, "start_time": start, "duration_minutes": 120},
            "payment_mode": "card",
            "terms_accepted": true,
        })
    }

    fn product_pb(&self, i: usize, key: String) -> PlaceProductOrderRequest {
        PlaceProductOrderRequest {
            idempotency_key: key,
            customer_id: self.customer(i).id.clone(),
            lines: self
                .shop
                .items
                .iter()
                .map(|item| OrderLineRequest {
                    item_id: item.clone(),
                    quantity: 1,
                    discount_bp: 0,
                })
                .collect(),
            shipping_method: "delivery".into(),
            payment_mode: PaymentMode::Card as i32,
            terms_accepted: true,
            ..Default::default()
        }
    }

    fn product_json(&self) -> Value {
        json!({
            "lines": self.shop.items.iter()
                .map(|item| json!({"item_id": item, "quantity": 1}))
                .collect::<Vec<_>>(),
            "shipping_method": "delivery",
            "payment_mode": "card",
            "terms_accepted": true,
        })
    }

    fn authed<T>(&self, i: usize, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        req.metadata_mut()
            .insert("authorization", self.customer(i).metadata.clone());
        req
    }

    /// Call `i` straight to orders; the encoded answer's size.
    async fn direct(
        &self,
        mut client: OrdersServiceClient<Channel>,
        i: usize,
        key: String,
    ) -> anyhow::Result<usize> {
        use prost::Message;
        Ok(match self.kind {
            Kind::Booking => client
                .place_booking(self.authed(i, self.booking_pb(i, key.clone())))
                .await
                .with_context(|| format!("PlaceBooking {key}"))?
                .into_inner()
                .encoded_len(),
            Kind::Product => client
                .place_product_order(self.authed(i, self.product_pb(i, key.clone())))
                .await
                .with_context(|| format!("PlaceProductOrder {key}"))?
                .into_inner()
                .encoded_len(),
        })
    }

    /// Call `i` through the gateway; the JSON answer's size.
    async fn gateway(&self, http: &Http, i: usize, key: String) -> anyhow::Result<usize> {
        let (path, body) = match self.kind {
            Kind::Booking => ("/v1/shop/bookings", self.booking_json(i)),
            Kind::Product => ("/v1/shop/product-orders", self.product_json()),
        };
        let answer = http
            .post(path, Some(&self.customer(i).token), Some(&key), &body, 201)
            .await?;
        Ok(answer.len())
    }

    async fn place(
        &self,
        side: Side,
        grpc: &[OrdersServiceClient<Channel>],
        http: &[Http],
        prefix: &str,
        count: usize,
    ) -> anyhow::Result<Run> {
        let prefix: Arc<str> = prefix.into();
        match side {
            Side::Direct => {
                let calls = self.clone();
                drive(grpc, count, move |client, i| {
                    let (calls, key) = (calls.clone(), format!("{prefix}-{i}"));
                    async move { calls.direct(client, i, key).await.map(drop) }
                })
                .await
            }
            Side::Gateway => {
                let calls = self.clone();
                drive(http, count, move |client, i| {
                    let (calls, key) = (calls.clone(), format!("{prefix}-{i}"));
                    async move { calls.gateway(&client, i, key).await.map(drop) }
                })
                .await
            }
        }
    }

    /// One more call each way (untimed): the sizes of the answers.
    async fn sizes(
        &self,
        grpc: &OrdersServiceClient<Channel>,
        http: &Http,
        run_id: &str,
    ) -> anyhow::Result<(usize, usize)> {
        let json = self.gateway(http, 0, format!("{run_id}-size-g")).await?;
        let protobuf = self
            .direct(grpc.clone(), 0, format!("{run_id}-size-d"))
            .await?;
        Ok((json, protobuf))
    }
}

fn eur(cents: i64) -> Option<Money> {
    Some(Money {
        amount_cents: cents,
        currency: "EUR".into(),
    })
}

/// The service (25 €/h), its workers, `customers` customers in Lyon with
/// an e-mail and a saved card, each with a token of their own; two
/// products with stock enough for any run.
async fn seed(stack: &Stack, customers: usize) -> anyhow::Result<Shop> {
    let service = stack.service("MENAGE", "Ménage à domicile").await;
    anyhow::ensure!(!service.is_empty(), "no service was created");
    for n in 0..WORKERS {
        let worker = stack
            .shop_worker(&format!("Worker{n}"), "Bench", &service)
            .await;
        anyhow::ensure!(!worker.is_empty(), "worker {n} was not created");
    }
    let mut orders = stack.orders();
    let mut list = Vec::with_capacity(customers);
    for n in 0..customers {
        let id = orders
            .create_customer(stack.admin(CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(CustomerFields {
                    first_name: format!("Client{n}"),
                    last_name: "Bench".into(),
                    email: format!("client{n}@bench.example"),
                    billing_address: Some(Address {
                        line1: "12 rue de la République".into(),
                        postal_code: "69001".into(),
                        city: "Lyon".into(),
                        country: "FR".into(),
                        ..Default::default()
                    }),
                    payment_method_ref: "pm_card_visa".into(),
                    ..Default::default()
                }),
            }))
            .await
            .context("CreateCustomer")?
            .into_inner()
            .customer
            .context("no customer")?
            .id;
        let token = relais_testkit::sign(&Claims {
            sub: format!("customer-{id}"),
            customer_id: Some(Uuid::parse_str(&id)?),
            // Long enough for any run (the test default is ten minutes).
            exp: Utc::now().timestamp() + 3 * 3600,
            ..stack.claims(Role::Customer)
        });
        let metadata = format!("Bearer {token}")
            .parse()
            .context("the token is not valid gRPC metadata")?;
        list.push(Customer {
            id,
            token,
            metadata,
        });
    }
    let mut catalogue = stack.catalogue();
    let mut items = Vec::new();
    for (sku, cents) in [("BENCH-1", 1190), ("BENCH-2", 390)] {
        let id = catalogue
            .create_product(stack.admin(CreateProductRequest {
                idempotency_key: String::new(),
                fields: Some(ProductFields {
                    sku: sku.into(),
                    designation: format!("Article {sku}"),
                    price: eur(cents),
                    vat_rate_bp: 2000,
                    active: true,
                    ..Default::default()
                }),
            }))
            .await
            .context("CreateProduct")?
            .into_inner()
            .product
            .context("no product")?
            .id;
        catalogue
            .set_stock(stack.admin(SetStockRequest {
                product_id: id.clone(),
                real: 1_000_000_000,
                available: 1_000_000_000,
            }))
            .await
            .context("SetStock")?;
        items.push(id);
    }
    let [a, b]: [String; 2] = items.try_into().map_err(|_| anyhow::anyhow!("two items"))?;
    Ok(Shop {
        tenant: stack.tenant,
        service,
        customers: list,
        items: [a, b],
    })
}

/// Waits until what the previous phase caused is done, so that it does not
/// land in the next measurement: every outbox published, every consumer
/// of the orders stream (stock reservations, planning, billing) caught up,
/// then a checkpoint of every database.
struct Settle<'a> {
    pools: Vec<PgPool>,
    dbs: &'a [BenchDb],
    js: async_nats::jetstream::Context,
    orders_stream: String,
}

impl<'a> Settle<'a> {
    async fn new(stack: &Stack, dbs: &'a [BenchDb]) -> anyhow::Result<Self> {
        let mut pools = Vec::new();
        for (part, schema) in [
            (stack.catalogue_part(), "catalogue"),
            (stack.planning_part(), "planning"),
            (stack.orders_part(), "orders"),
            (stack.billing_part(), "billing"),
        ] {
            let opts = PgConnectOptions::from_str(&part.database_url)
                .context("invalid database URL")?
                .options([("search_path", schema)]);
            pools.push(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await
                    .with_context(|| format!("failed to connect to {schema}'s database"))?,
            );
        }
        let client = relais_platform::nats::connect_as(
            &stack.nats_url,
            "relais-bench",
            Some(&relais_platform::testing::harness_auth()),
        )
        .await?;
        Ok(Self {
            pools,
            dbs,
            js: async_nats::jetstream::new(client),
            orders_stream: stack.ns.stream(relais_orders::SERVICE),
        })
    }

    async fn now(&self) -> anyhow::Result<()> {
        for pool in &self.pools {
            drain(pool, Duration::from_secs(60)).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let stream = self
            .js
            .get_stream(&self.orders_stream)
            .await
            .context("the orders stream")?;
        loop {
            let mut behind = 0;
            let mut consumers = stream.consumers();
            while let Some(info) = consumers.next().await {
                let info = info.context("consumer info")?;
                behind += info.num_pending + info.num_ack_pending as u64;
            }
            if behind == 0 {
                break;
            }
            if Instant::now() > deadline {
                eprintln!("bench: warning: consumers still {behind} messages behind after 120 s");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // What the consumers published in turn (stock changes).
        for pool in &self.pools {
            drain(pool, Duration::from_secs(60)).await?;
        }
        for db in self.dbs {
            db.checkpoint().await?;
        }
        Ok(())
    }
}

/// Sign-ins through the gateway against bare argon2id hashes.
async fn sign_ins(
    p: &Params,
    shop: &Arc<Shop>,
    http: &[Http],
    settle: &Settle<'_>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let accounts = p.sign_ins.max(1);
    eprintln!(
        "bench: gateway: signing up {accounts} accounts from {} clients",
        p.concurrency
    );
    let tenant = shop.tenant;
    let email = |n: usize| format!("account{n}@bench.example");
    let password = |n: usize| format!("correct horse battery {n}");
    drive(http, accounts, move |client, n| async move {
        client
            .post(
                "/v1/auth/sign-up",
                None,
                Some(&format!("bench-sign-up-{n}")),
                &json!({
                    "tenant": tenant, "email": email(n), "password": password(n),
                    "first_name": "Anne", "last_name": "Martin",
                    "billing_address": {"line1": "12 rue de la République",
                        "postal_code": "69001", "city": "Lyon"},
                }),
                201,
            )
            .await
            .map(drop)
    })
    .await?;
    let sign_in = move |client: Http, n: usize| async move {
        let n = n % accounts;
        client
            .post(
                "/v1/auth/sign-in",
                None,
                None,
                &json!({"tenant": tenant, "email": email(n), "password": password(n)}),
                200,
            )
            .await
            .map(drop)
    };
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        ArgonParams::new(
            passwords::MEMORY_KIB,
            passwords::PASSES,
            passwords::LANES,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
    );
    // The raw side's callers, as many as the HTTP side's clients, hash as
    // the gateway does (`passwords::Hasher`): on blocking threads, at most
    // two per core at once unless told otherwise (`--hash-slots 16`: all
    // of them at once, 19 MiB each).
    let slots = Arc::new(tokio::sync::Semaphore::new(hash_slots(p)));
    let hashers = vec![(argon.clone(), slots); p.concurrency];
    let hash = move |(argon, slots): (Argon2<'static>, Arc<tokio::sync::Semaphore>), n: usize| async move {
        let _slot = slots.acquire_owned().await?;
        tokio::task::spawn_blocking(move || hash_once(&argon, n))
            .await
            .context("a hashing thread panicked")?
    };
    let warmup = p.concurrency.min(p.sign_ins);
    let mut one = Vec::new();
    for round in 1..=p.rounds {
        for side in sides(round) {
            let gateway = side == Side::Gateway;
            eprintln!(
                "bench: gateway round {round}/{}: {}: warm-up {warmup} then {} from {} clients",
                p.rounds,
                if gateway {
                    "sign-ins"
                } else {
                    "bare argon2id hashes"
                },
                p.sign_ins,
                p.concurrency
            );
            if gateway {
                drive(http, warmup, sign_in).await?;
                settle.now().await?;
                eprintln!("bench: gateway:   measuring {}", p.sign_ins);
                let cpu = process_cpu();
                let run = drive(http, p.sign_ins, sign_in).await?;
                progress(&run, cpu);
                report.sign_in.push(run);
            } else {
                drive(&hashers, warmup, hash).await?;
                // One at a time first: what one hash costs on one core.
                for n in 0..10 {
                    let argon = argon.clone();
                    let t = Instant::now();
                    tokio::task::spawn_blocking(move || hash_once(&argon, n)).await??;
                    one.push(t.elapsed());
                }
                settle.now().await?;
                eprintln!("bench: gateway:   measuring {}", p.sign_ins);
                let cpu = process_cpu();
                let run = drive(&hashers, p.sign_ins, hash).await?;
                progress(&run, cpu);
                report.hashes.push(run);
            }
        }
    }
    report.one_hash_samples = one.len();
    report.one_hash = Latencies::new(one);
    Ok(())
}

/// CPU time this process (services, gateway and clients alike) has used
/// so far, from /proc (Linux; None elsewhere).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command's closing parenthesis: state, then fields 4 on;
    // utime and stime are fields 14 and 15, in clock ticks (100 a second).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// A measured run's figures on stderr, with the CPU this process spent
/// per call during it (in ms), which it returns.
fn progress(run: &Run, cpu_before: Option<Duration>) -> Option<f64> {
    let per_call = cpu_before
        .zip(process_cpu())
        .map(|(a, b)| b.saturating_sub(a).as_secs_f64() * 1000.0 / run.ops.max(1) as f64);
    eprintln!(
        "bench: gateway:   {}{}",
        run.describe("calls"),
        per_call
            .map(|c| format!(", this process's CPU {c:.2} ms a call"))
            .unwrap_or_default()
    );
    per_call
}

/// The median of `xs` (the lower middle one for an even count), 0 if empty.
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// How many bare hashes run at once.
pub fn hash_slots(p: &Params) -> usize {
    if p.hash_slots > 0 {
        p.hash_slots
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
    }
}

/// What the gateway computes for a password: argon2id with a fresh salt.
fn hash_once(argon: &Argon2<'_>, n: usize) -> anyhow::Result<()> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    argon
        .hash_password(format!("correct horse battery {n}").as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_which_side_goes_first() {
        assert_eq!(sides(1), [Side::Direct, Side::Gateway]);
        assert_eq!(sides(2), [Side::Gateway, Side::Direct]);
        assert_eq!(sides(3), [Side::Direct, Side::Gateway]);
    }
}
