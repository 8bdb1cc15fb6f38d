//! `make bench` (docs/benchmarks.md): Relais against raw baselines measured
//! on the same machine in the same run.
//!
//! 1. Catalogue writes: `CreateProduct` over gRPC against the real catalogue
//!    (in-process, fresh database, its relay running), then pgbench running
//!    the same statements (`scripts/bench/catalogue_insert.sql`) on the same
//!    schema at the same concurrency.
//! 2. Order placement: `PlaceProductOrder` (two lines, staff for a
//!    resident) over gRPC against the real orders service with the real
//!    catalogue, then pgbench writing the same rows
//!    (`scripts/bench/orders_place.sql`) at the same concurrency.
//! 3. Planning: recurring series expanded in local time against Postgres
//!    `generate_series` on the same series, and `FindAvailableWorkers`
//!    against pgbench running one statement for the same question
//!    (`scripts/bench/planning_available.sql`).
//! 4. Billing: `ValidateInvoice` (gapless numbering) against pgbench doing
//!    the same writes (`scripts/bench/billing_validate.sql`).
//! 5. Outbox relay: a bare async-nats JetStream publisher, then the relay
//!    draining an outbox pre-filled with the same number of same-size events.
//! 6. Connector: a full catalogue pull of 100,000 articles from the
//!    reference ERP against a plain `COPY` of the same rows, and product
//!    orders' time from placement to the ERP under load against the ERP's
//!    own write latency.
//! 7. Gateway: a booking and a product order through the public HTTP/JSON
//!    API against the same calls straight to the orders service's gRPC, on
//!    one stack; sign-ins against bare argon2id hashes with the gateway's
//!    parameters.
//!
//! A benchmark, not a test: it asserts nothing about speed, only that every
//! write and every message arrived.

mod billing;
mod connector;
mod gateway;
mod orders;
mod pgbench;
mod planning;
mod relay;
mod stats;
mod support;
mod writes;

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sqlx::{Connection, PgConnection};

use crate::stats::{ms, thousands};

#[derive(Parser, Debug)]
#[command(
    name = "relais-bench",
    about = "Relais throughput against raw baselines (Postgres via pgbench, JetStream via async-nats)"
)]
struct Args {
    /// Products created through gRPC (and transactions run by pgbench).
    #[arg(long, env = "BENCH_PRODUCTS", default_value_t = 5_000)]
    products: usize,
    /// Orders placed through gRPC (and transactions run by pgbench).
    #[arg(long, env = "BENCH_ORDERS", default_value_t = 3_000)]
    orders: usize,
    /// Draft invoices validated through gRPC (and by pgbench).
    #[arg(long, env = "BENCH_INVOICES", default_value_t = 3_000)]
    invoices: usize,
    /// Recurring series expanded over a year.
    #[arg(long, env = "BENCH_SERIES", default_value_t = 10_000)]
    series: usize,
    /// Availability checks through gRPC (and pgbench transactions).
    #[arg(long, env = "BENCH_CHECKS", default_value_t = 5_000)]
    checks: usize,
    /// Workers with the skill for the availability checks.
    #[arg(long, env = "BENCH_WORKERS", default_value_t = 50)]
    workers: usize,
    /// Interventions booked per worker over the year.
    #[arg(long, env = "BENCH_BOOKINGS_PER_WORKER", default_value_t = 200)]
    bookings_per_worker: usize,
    /// Concurrent gRPC clients, pgbench clients and pooled connections.
    #[arg(long, env = "BENCH_CONCURRENCY", default_value_t = 16)]
    concurrency: usize,
    /// Untimed writes before every measured round, on both sides.
    #[arg(long, env = "BENCH_WARMUP", default_value_t = 500)]
    warmup: usize,
    /// pgbench worker threads (-j).
    #[arg(long, env = "BENCH_PGBENCH_THREADS", default_value_t = 2)]
    pgbench_threads: usize,
    /// Events the relay publishes (and messages the raw publisher sends).
    #[arg(long, env = "BENCH_MESSAGES", default_value_t = 50_000)]
    messages: usize,
    /// Payload size of each event / message, in bytes.
    #[arg(long, env = "BENCH_MESSAGE_BYTES", default_value_t = 300)]
    message_bytes: usize,
    /// Publish acks in flight for the raw publisher (the relay's batch is 512).
    #[arg(long, env = "BENCH_WINDOW", default_value_t = 512)]
    window: usize,
    /// Articles the connector pulls from the reference ERP (and rows COPY writes).
    #[arg(long, env = "BENCH_ARTICLES", default_value_t = 100_000)]
    articles: usize,
    /// Product orders timed from placement to the ERP.
    #[arg(long, env = "BENCH_PUSH_ORDERS", default_value_t = 2_000)]
    push_orders: usize,
    /// Product orders placed per second for the push latency.
    #[arg(long, env = "BENCH_PUSH_RATE", default_value_t = 100)]
    push_rate: usize,
    /// Bookings, and product orders, per side (gateway, direct gRPC) and round.
    #[arg(long, env = "BENCH_GATEWAY_CALLS", default_value_t = 2_000)]
    gateway_calls: usize,
    /// Sign-ins through the gateway (and bare argon2id hashes) per round;
    /// as many accounts are signed up first.
    #[arg(long, env = "BENCH_SIGN_INS", default_value_t = 300)]
    sign_ins: usize,
    /// Bare argon2id hashes computed at once on the raw side of the
    /// sign-ins (0: two per core, the gateway's own limit).
    #[arg(long, env = "BENCH_HASH_SLOTS", default_value_t = 0)]
    hash_slots: usize,
    /// Times each measurement is repeated (alternating with its baseline);
    /// the figures are the median round's.
    #[arg(long, env = "BENCH_ROUNDS", default_value_t = 3)]
    rounds: usize,
    /// Smoke run: one round, 500 products, 5,000 messages, short warm-up.
    #[arg(long)]
    quick: bool,
    /// Which benchmarks to run.
    #[arg(long, value_enum, default_value_t = Only::All)]
    only: Only,
    /// The pgbench binary (default: $PG_BINDIR/pgbench, else from PATH).
    #[arg(long, env = "PGBENCH")]
    pgbench: Option<PathBuf>,
    /// Keep the benchmark databases instead of dropping them.
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Only {
    All,
    Writes,
    Orders,
    Planning,
    Billing,
    Relay,
    Connector,
    Gateway,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    if args.quick {
        args.products = args.products.min(500);
        args.orders = args.orders.min(300);
        args.series = args.series.min(1_000);
        args.invoices = args.invoices.min(320);
        args.checks = args.checks.min(500);
        args.messages = args.messages.min(5_000);
        args.warmup = args.warmup.min(100);
        args.articles = args.articles.min(5_000);
        args.push_orders = args.push_orders.min(300);
        args.gateway_calls = args.gateway_calls.min(300);
        args.sign_ins = args.sign_ins.min(64);
        args.rounds = 1;
    }
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(args.products > 0, "--products must be at least 1");
    anyhow::ensure!(args.orders > 0, "--orders must be at least 1");
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");

    let started = Instant::now();
    let env = Environment::probe().await?;
    eprintln!(
        "bench: Postgres {}, nats-server {}, {} CPUs",
        env.postgres, env.nats, env.cpus
    );

    let pgbench = args.pgbench.clone().unwrap_or_else(|| {
        std::env::var_os("PG_BINDIR")
            .map(|d| PathBuf::from(d).join("pgbench"))
            .unwrap_or_else(|| PathBuf::from("pgbench"))
    });
    let writes = if matches!(args.only, Only::All | Only::Writes) {
        Some(
            writes::run(&writes::Params {
                products: args.products,
                warmup: args.warmup,
                concurrency: args.concurrency,
                rounds: args.rounds,
                pgbench: pgbench.clone(),
                pgbench_threads: args.pgbench_threads,
                keep: args.keep,
            })
            .await
            .context("catalogue writes benchmark failed")?,
        )
    } else {
        None
    };
    let orders = if matches!(args.only, Only::All | Only::Orders) {
        Some(
            orders::run(&orders::Params {
                orders: args.orders,
                warmup: args.warmup,
                concurrency: args.concurrency,
                rounds: args.rounds,
                pgbench: pgbench.clone(),
                pgbench_threads: args.pgbench_threads,
                keep: args.keep,
            })
            .await
            .context("order placement benchmark failed")?,
        )
    } else {
        None
    };
    let planning = if matches!(args.only, Only::All | Only::Planning) {
        Some(
            planning::run(&planning::Params {
                series: args.series,
                checks: args.checks,
                workers: args.workers,
                bookings_per_worker: args.bookings_per_worker,
                concurrency: args.concurrency,
                rounds: args.rounds,
                pgbench: pgbench.clone(),
                pgbench_threads: args.pgbench_threads,
                keep: args.keep,
            })
            .await
            .context("planning benchmark failed")?,
        )
    } else {
        None
    };
    let billing = if matches!(args.only, Only::All | Only::Billing) {
        Some(
            billing::run(&billing::Params {
                invoices: args.invoices,
                concurrency: args.concurrency,
                rounds: args.rounds,
                pgbench: pgbench.clone(),
                pgbench_threads: args.pgbench_threads,
                keep: args.keep,
            })
            .await
            .context("billing benchmark failed")?,
        )
    } else {
        None
    };
    let relay = if matches!(args.only, Only::All | Only::Relay) {
        Some(
            relay::run(&relay::Params {
                messages: args.messages,
                message_bytes: args.message_bytes,
                window: args.window,
                rounds: args.rounds,
                keep: args.keep,
            })
            .await
            .context("relay benchmark failed")?,
        )
    } else {
        None
    };

    let connector = if matches!(args.only, Only::All | Only::Connector) {
        Some(
            connector::run(&connector::Params {
                articles: args.articles,
                orders: args.push_orders,
                rate: args.push_rate,
                concurrency: args.concurrency,
                // 100,000 articles take minutes: one round unless asked.
                rounds: if args.rounds == 3 { 1 } else { args.rounds },
                keep: args.keep,
            })
            .await
            .context("connector benchmark failed")?,
        )
    } else {
        None
    };

    let gateway = if matches!(args.only, Only::All | Only::Gateway) {
        Some(
            gateway::run(&gateway::Params {
                calls: args.gateway_calls,
                sign_ins: args.sign_ins,
                hash_slots: args.hash_slots,
                warmup: args.warmup,
                concurrency: args.concurrency,
                rounds: args.rounds,
                keep: args.keep,
            })
            .await
            .context("gateway benchmark failed")?,
        )
    } else {
        None
    };

    print_summary(
        &args,
        &env,
        &Reports {
            writes,
            orders,
            planning,
            billing,
            relay,
            connector,
            gateway,
        },
    );
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

struct Environment {
    postgres: String,
    nats: String,
    cpus: usize,
}

impl Environment {
    /// Versions, and a clear error early when the stack is down.
    async fn probe() -> anyhow::Result<Self> {
        let admin = relais_platform::testing::admin_url();
        let mut conn = PgConnection::connect(&admin).await.context(
            "Postgres is not reachable at DATABASE_URL: run `make bench` (it starts the stack)",
        )?;
        let postgres: String = sqlx::query_scalar("show server_version")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await.ok();
        let url = relais_platform::testing::nats_url();
        // No retry here: a stack that is down should fail at once.
        // As the harness user: the local stack refuses anonymous clients.
        let client = relais_platform::nats::connect_as(
            &url,
            "relais-bench",
            Some(&relais_platform::testing::harness_auth()),
        )
        .await
        .with_context(|| {
            format!("NATS is not reachable at {url}: run `make bench` (it starts the stack)")
        })?;
        let nats = client.server_info().version;
        drop(client);
        Ok(Self {
            postgres: postgres
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
            nats,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }
}

/// A markdown table, to read here or paste into docs/benchmarks.md.
/// Whatever ran, to print.
struct Reports {
    writes: Option<writes::Report>,
    orders: Option<orders::Report>,
    planning: Option<planning::Report>,
    billing: Option<billing::Report>,
    relay: Option<relay::Report>,
    connector: Option<connector::Report>,
    gateway: Option<gateway::Report>,
}

fn print_summary(args: &Args, env: &Environment, reports: &Reports) {
    let writes = reports.writes.as_ref();
    let orders = reports.orders.as_ref();
    let planning = reports.planning.as_ref();
    let billing = reports.billing.as_ref();
    let relay = reports.relay.as_ref();
    let connector = reports.connector.as_ref();
    let gateway = reports.gateway.as_ref();
    println!();
    println!(
        "### {} — {} CPUs, Postgres {}, nats-server {}{}",
        chrono::Utc::now().format("%Y-%m-%d"),
        env.cpus,
        env.postgres,
        env.nats,
        if args.quick { " (--quick)" } else { "" }
    );
    println!();
    println!(
        "Median of {} round(s); in brackets the slowest and fastest round.",
        args.rounds
    );
    println!();
    println!("| Benchmark | Relais | Raw baseline | Relais / raw |");
    println!("|---|---|---|---|");
    if let Some(w) = writes {
        println!(
            "| Catalogue `CreateProduct`, {} clients, {} per round | gRPC: {} | pgbench: {} | {:.2} |",
            args.concurrency,
            thousands(args.products as f64),
            w.service.describe("ops"),
            w.raw.describe("tx"),
            w.service.ratio_to(&w.raw),
        );
    }
    if let Some(o) = orders {
        println!(
            "| Orders `PlaceProductOrder` (2 lines, priced by the catalogue), {} clients, {} per round | gRPC: {} | pgbench: {} | {:.2} |",
            args.concurrency,
            thousands(args.orders as f64),
            o.service.describe("orders"),
            o.raw.describe("tx"),
            o.service.ratio_to(&o.raw),
        );
    }
    if let Some(p) = planning {
        println!(
            "| Planning: expand {} recurring series over a year ({} occurrences), one thread | Relais (`Schedule::from_placed` + `occurrences`): {} | Postgres `generate_series` + `AT TIME ZONE`, one query: {} | {:.2} |",
            thousands(args.series as f64),
            thousands(p.occurrences as f64),
            p.expansion.describe("series"),
            p.expansion_raw.describe("series"),
            p.expansion.ratio_to(&p.expansion_raw),
        );
        println!(
            "| Planning `FindAvailableWorkers`, {} clients, {} workers × {} bookings | gRPC: {} | pgbench, one statement: {} | {:.2} |",
            args.concurrency,
            args.workers,
            args.bookings_per_worker,
            p.checks.describe("checks"),
            p.checks_raw.describe("tx"),
            p.checks.ratio_to(&p.checks_raw),
        );
    }
    if let Some(b) = billing {
        println!(
            "| Billing `ValidateInvoice` (gapless numbering, one tenant), {} clients, {} per round | gRPC: {} | pgbench: {} | {:.2} |",
            args.concurrency,
            thousands(args.invoices as f64),
            b.service.describe("invoices"),
            b.raw.describe("tx"),
            b.service.ratio_to(&b.raw),
        );
    }
    if let Some(r) = relay {
        println!(
            "| Outbox → JetStream, {} events × {} B | relay (batch {}): {} | async-nats, {} acks in flight: {} | {:.2} |",
            thousands(args.messages as f64),
            args.message_bytes,
            r.batch_size,
            r.relay.describe("events"),
            args.window,
            r.raw.describe("msgs"),
            r.relay.ratio_to(&r.raw),
        );
    }
    if let Some(c) = connector {
        println!(
            "| Connector: full catalogue pull, {} articles from the reference ERP (HTTP pages of 200, bulk import) | {} | `COPY` of the same rows: {} | {:.3} |",
            thousands(args.articles as f64),
            c.pull.describe("articles"),
            c.copy.describe("rows"),
            c.pull.ratio_to(&c.copy),
        );
        println!(
            "| Connector: product order placement → ERP record, {} orders at {}/s ({}) | p50 {}, p99 {} | one `setOrder` call, {} clients: p50 {}, p99 {} | p50 {:.2} |",
            thousands(args.push_orders as f64),
            args.push_rate,
            c.placed.describe("orders placed"),
            ms(c.push.p50()),
            ms(c.push.p99()),
            args.concurrency,
            ms(c.erp_write.p50()),
            ms(c.erp_write.p99()),
            c.erp_write.p50().as_secs_f64() / c.push.p50().as_secs_f64().max(1e-9),
        );
    }
    if let Some(g) = gateway {
        for (pair, what, path) in [
            (
                &g.booking,
                "`PlaceBooking` (one-time, any qualified worker)",
                "`POST /v1/shop/bookings`",
            ),
            (
                &g.product,
                "`PlaceProductOrder` (2 lines)",
                "`POST /v1/shop/product-orders`",
            ),
        ] {
            println!(
                "| Gateway: {path} against {what} straight to orders, a customer's token, {} clients, {} per round | HTTP/JSON: {} | gRPC: {} | {:.2} (p99 × {:.2}) |",
                args.concurrency,
                thousands(args.gateway_calls as f64),
                pair.gateway.describe("calls"),
                pair.direct.describe("calls"),
                pair.throughput_ratio(),
                pair.p99_ratio(),
            );
        }
        println!(
            "| Gateway: `POST /v1/auth/sign-in` (argon2id m=19 MiB, t=2, p=1), {} clients, {} per round | HTTP: {} | the same number of bare hashes in process, {} callers, {} at once: {} | {:.2} |",
            args.concurrency,
            thousands(args.sign_ins as f64),
            g.sign_in.describe("sign-ins"),
            args.concurrency,
            g.hash_slots,
            g.hashes.describe("hashes"),
            g.sign_in.ratio_to(&g.hashes),
        );
    }
    println!();
    if let Some(g) = gateway {
        println!(
            "Gateway: answers of {} B (booking) and {} B (product order) as JSON, {} B and {} B as protobuf. \
             CPU of the benchmark's process (every service, the gateway and the clients) per call, median \
             of rounds: booking {:.2} ms direct, {:.2} ms through the gateway; product order {:.2} ms, {:.2} ms. \
             One argon2id hash on one thread: p50 {}, fastest {} ({} samples).",
            g.booking.json_bytes,
            g.product.json_bytes,
            g.booking.protobuf_bytes,
            g.product.protobuf_bytes,
            g.booking.cpu().0,
            g.booking.cpu().1,
            g.product.cpu().0,
            g.product.cpu().1,
            ms(g.one_hash.p50()),
            ms(g.one_hash.quantile(0.0)),
            g.one_hash_samples,
        );
    }
    if let Some(o) = orders {
        println!(
            "Orders: OrderPlaced payload {} B, stored response {} B (measured, used by pgbench).",
            o.event_bytes, o.response_bytes
        );
    }
    if let Some(w) = writes {
        println!(
            "Writes: idempotency keys on both sides; event payload {} B, stored response {} B \
             (measured from the service's rows, used by pgbench). Relay backlog when the last \
             write of a round returned: at most {} events, all published {}.",
            w.event_bytes,
            w.response_bytes,
            w.backlog_at_end,
            w.drain
                .map(|d| format!("within {}", ms(d)))
                .unwrap_or_else(|| "not within 60 s".into()),
        );
    }
}
