//! The `relais` command: `relais dev` runs every service in one process
//! with the demo tenant seeded; the other commands call the services or
//! operate them (tokens, listings, outbox republish).

mod args;
mod billing;
mod connector;
mod demo;
mod events;
mod orders;
mod planning;

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use relais_platform::{
    auth::{Authenticator, Role},
    config::PlatformConfig,
    shutdown, telemetry,
};
use relais_proto::catalogue::{
    ListCategoriesRequest, ListHourPacksRequest, ListProductsRequest, ListServicesRequest,
    catalogue_service_client::CatalogueServiceClient,
};
use tonic::{Request, transport::Channel};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "relais",
    version,
    about = "Relais: online shop ↔ ERP bridge for home services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in this process and seed the demo tenant.
    Dev {
        /// Do not seed the demo catalogue.
        #[arg(long)]
        no_seed: bool,
    },
    /// Seed the demo tenant through the running catalogue (idempotent).
    Seed {
        #[arg(long, env = "CATALOGUE_ADDR", default_value = "http://127.0.0.1:50051")]
        catalogue: String,
    },
    /// Print the demo ids `relais dev` seeded, as shell variables:
    /// `eval "$(relais demo-ids)"` sets RESIDENCE, RESIDENT (Jeanne Martin)
    /// and PAUL (Paul Durand).
    DemoIds {
        #[arg(long, env = "ORDERS_ADDR", default_value = "http://127.0.0.1:50052")]
        orders: String,
    },
    /// Print a bearer token signed with RELAIS_JWT_SECRET (for grpcurl).
    Token {
        #[arg(long, default_value = "admin")]
        role: String,
        /// Defaults to the demo tenant.
        #[arg(long, value_parser = crate::args::uuid)]
        tenant: Option<Uuid>,
        #[arg(long, default_value_t = 24)]
        hours: u64,
        /// The token's subject (e.g. demo-staff, the demo residence's staff member).
        #[arg(long, default_value = "relais-cli")]
        sub: String,
        /// For a customer token: the customer's id.
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Option<Uuid>,
    },
    /// Read the catalogue of a tenant.
    Catalogue {
        #[arg(value_enum)]
        what: Listing,
        /// Free-text search (products and services).
        #[arg(long, default_value = "")]
        query: String,
        #[arg(long, env = "CATALOGUE_ADDR", default_value = "http://127.0.0.1:50051")]
        catalogue: String,
        #[arg(long, value_parser = crate::args::uuid)]
        tenant: Option<Uuid>,
    },
    /// Place a product order for a customer, as a staff member (seed 003).
    Order(orders::OrderArgs),
    /// Book a service for a customer: once, or every N weeks on chosen weekdays.
    Book(orders::BookArgs),
    /// Buy an hour pack for a customer (pay it with `order-status <id> confirmed`).
    BuyPack(orders::BuyPackArgs),
    /// Move an order along its life cycle, as an admin or as the ERP connector.
    OrderStatus(orders::StatusArgs),
    /// List, export or total the orders (as an admin, or as a staff member).
    Orders {
        #[command(subcommand)]
        op: orders::OrdersOp,
    },
    /// Invoices: a customer's, and validating a draft (numbered without gaps).
    Billing {
        #[command(subcommand)]
        op: billing::BillingOp,
        #[arg(long, env = "BILLING_ADDR")]
        billing: Option<String>,
        #[arg(long, value_parser = crate::args::uuid)]
        tenant: Option<Uuid>,
    },
    /// Read the planning: workers, interventions by worker, customer or order.
    Planning {
        #[command(subcommand)]
        op: planning::PlanningOp,
        #[arg(long, env = "PLANNING_ADDR")]
        planning: Option<String>,
        #[arg(long, value_parser = crate::args::uuid)]
        tenant: Option<Uuid>,
    },
    /// The ERP connector: connections, a sync now with its progress, runs,
    /// bindings, dead letters (and replay), conflicts, tariff mappings.
    Connector {
        #[command(subcommand)]
        op: connector::ConnectorOp,
        #[arg(long, env = "CONNECTOR_ADDR")]
        connector: Option<String>,
        /// The connection, by name.
        #[arg(long, default_value = connector::DEMO_CONNECTION)]
        connection: String,
        #[arg(long, value_parser = crate::args::uuid)]
        tenant: Option<Uuid>,
    },
    /// Act in the reference ERP as its users would (the demo tenant's ERP).
    Erp {
        #[command(subcommand)]
        op: connector::ErpOp,
        #[arg(
            long,
            env = "REFERENCE_ERP_URL",
            default_value = "http://127.0.0.1:8800"
        )]
        url: String,
        /// public:private.
        #[arg(
            long,
            env = "RELAIS_ERP_DEMO",
            default_value = "demo-public:demo-private"
        )]
        keys: String,
    },
    /// Print the events published on NATS as they arrive (until Ctrl-C).
    Events(events::EventsArgs),
    /// Outbox operations.
    Outbox {
        #[command(subcommand)]
        op: OutboxOp,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Listing {
    Categories,
    Services,
    Products,
    Packs,
}

#[derive(Subcommand)]
enum OutboxOp {
    /// Mark every event since a time unpublished, so the relay sends them
    /// again (after a broker lost acknowledged messages).
    Republish {
        #[arg(long)]
        service: String,
        /// RFC 3339, e.g. 2026-11-23T10:00:00Z.
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
    },
    /// Unpublished events and the age of the oldest.
    Backlog {
        #[arg(long)]
        service: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line; no backtrace for a user's mistake.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev { no_seed } => dev(!no_seed).await,
        Command::DemoIds { orders } => demo::print_ids(&orders, &admin_token(demo::TENANT)?).await,
        Command::Seed { catalogue } => demo::seed(&catalogue, &admin_token(demo::TENANT)?).await,
        Command::Token {
            role,
            tenant,
            hours,
            sub,
            customer,
        } => {
            let role: Role = serde_json::from_value(serde_json::Value::String(role.clone()))
                .with_context(|| format!("unknown role {role:?}"))?;
            let token = authenticator()?.mint(&relais_platform::auth::Claims {
                sub,
                tenant: tenant.unwrap_or(demo::TENANT),
                role,
                customer_id: customer,
                residences: vec![],
                connection: None,
                exp: chrono::Utc::now().timestamp()
                    + i64::try_from(hours * 3600).unwrap_or(i64::MAX),
            })?;
            println!("{token}");
            Ok(())
        }
        Command::Catalogue {
            what,
            query,
            catalogue,
            tenant,
        } => list(what, &query, &catalogue, tenant.unwrap_or(demo::TENANT)).await,
        Command::Outbox { op } => outbox(op).await,
        Command::Order(args) => orders::place_order(args).await,
        Command::Book(args) => orders::book(args).await,
        Command::BuyPack(args) => orders::buy_pack(args).await,
        Command::OrderStatus(args) => orders::change_status(args).await,
        Command::Orders { op } => orders::report(op).await,
        Command::Billing {
            op,
            billing,
            tenant,
        } => billing::run(op, billing, tenant).await,
        Command::Planning {
            op,
            planning,
            tenant,
        } => planning::run(op, planning, tenant).await,
        Command::Connector {
            op,
            connector,
            connection,
            tenant,
        } => {
            connector::run(
                op,
                connector::Target {
                    addr: connector,
                    connection,
                    tenant,
                },
            )
            .await
        }
        Command::Erp { op, url, keys } => connector::erp(op, &erp_client(&url, &keys)?).await,
        Command::Events(args) => events::watch(args).await,
    }
}

fn erp_client(
    url: &str,
    keys: &str,
) -> anyhow::Result<relais_connector::reference_erp::ReferenceErpClient> {
    let (public, private) = keys
        .split_once(':')
        .context("the reference ERP's keys are public:private")?;
    relais_connector::reference_erp::ReferenceErpClient::new(
        url,
        public,
        private,
        Duration::from_secs(10),
    )
}

fn authenticator() -> anyhow::Result<Authenticator> {
    Ok(Authenticator::new(
        &relais_platform::config::token_settings()?,
    ))
}

fn admin_token(tenant: Uuid) -> anyhow::Result<String> {
    authenticator()?.mint_for(tenant, Role::Admin, "relais-cli", Duration::from_secs(3600))
}

pub fn authed<T>(token: &str, msg: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(req)
}

/// Where `relais dev` serves a service: at the address the commands reach
/// it by (`CATALOGUE_ADDR`, `ORDERS_ADDR`...) when that is set, its admin
/// port then picked by the system (printed at start); the service's own
/// defaults otherwise. So one set of variables moves a whole demo.
fn dev_bind(var: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(url) = std::env::var(var).ok().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    host_port(&url)
        .with_context(|| format!("{var}={url}: expected http://HOST:PORT"))
        .map(Some)
}

fn bind(cfg: &mut PlatformConfig, addr: Option<std::net::SocketAddr>) {
    if let Some(addr) = addr {
        cfg.grpc_addr = addr;
        cfg.admin_addr = std::net::SocketAddr::new(addr.ip(), 0);
    }
}

fn host_port(url: &str) -> Option<std::net::SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next()?;
    std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .ok()?
        .next()
}

async fn dev(seed: bool) -> anyhow::Result<()> {
    let _telemetry = telemetry::init("relais-dev")?;
    let shutdown = shutdown::on_signal();
    let catalogue_bind = dev_bind("CATALOGUE_ADDR")?;
    let planning_bind = dev_bind("PLANNING_ADDR")?;
    let orders_bind = dev_bind("ORDERS_ADDR")?;
    let billing_bind = dev_bind("BILLING_ADDR")?;
    let connector_bind = dev_bind("CONNECTOR_ADDR")?;
    // The demo tenant's ERP: the reference ERP, with the demo keys, where
    // the commands reach it unless told where to listen.
    let erp_bind = if std::env::var_os("REFERENCE_ERP_ADDR").is_none() {
        std::env::var("REFERENCE_ERP_URL")
            .ok()
            .and_then(|u| host_port(&u))
    } else {
        None
    };
    // CSV exchange folders of the demo: .local/exchange/<tenant>/...
    let exchange_root = std::env::var_os("RELAIS_CONNECTOR_EXCHANGE_ROOT")
        .is_none()
        .then(|| std::env::current_dir().map(|d| d.join(".local").join("exchange")))
        .transpose()?;
    // The demo connection's credentials are the reference ERP's demo keys
    // unless RELAIS_ERP_DEMO says otherwise.
    let demo_keys = match std::env::var(connector::DEMO_SECRET_REF) {
        Ok(keys) if !keys.is_empty() => keys,
        _ => relais_platform::config::var(
            "REFERENCE_ERP_KEYS",
            "demo-public:demo-private".to_owned(),
        )?
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned(),
    };
    let stack = relais_testkit::Stack::builder()
        .source(relais_testkit::Source::Env)
        .shutdown(shutdown.clone())
        .all()
        .with_catalogue(move |c| bind(c, catalogue_bind))
        .with_planning(move |c| bind(&mut c.platform, planning_bind))
        .with_orders(move |c| bind(&mut c.platform, orders_bind))
        .with_billing(move |c| bind(&mut c.platform, billing_bind))
        .with_erp(move |c| {
            if let Some(addr) = erp_bind {
                c.addr = addr;
            }
        })
        .with_connector(move |c| {
            bind(&mut c.platform, connector_bind);
            if let Some(root) = exchange_root {
                c.exchange_root = root;
            }
        })
        .spawn()
        .await?;
    let at = |p: &relais_testkit::Part| (p.grpc_addr, p.admin_addr);
    let (catalogue_grpc, catalogue_admin) = at(stack.catalogue_part());
    let (orders_grpc, orders_admin) = at(stack.orders_part());
    let (planning_grpc, planning_admin) = at(stack.planning_part());
    let (billing_grpc, billing_admin) = at(stack.billing_part());
    let (connector_grpc, connector_admin) = at(stack.connector_part());
    let erp_base = stack.erp_base();
    let erp_addr = erp_base.trim_start_matches("http://").to_owned();
    let endpoint = format!("http://{catalogue_grpc}");
    let mut demo_ids = None;
    if seed {
        let token = admin_token(demo::TENANT)?;
        demo::seed(&endpoint, &token).await?;
        demo_ids = Some(demo::seed_orders(&format!("http://{orders_grpc}"), &token).await?);
        demo::seed_planning(&format!("http://{planning_grpc}"), &endpoint, &token).await?;
        if let Some(d) = &demo_ids {
            demo::seed_billing(&format!("http://{billing_grpc}"), &d.customer).await?;
        }
        connector::seed(
            &format!("http://{connector_grpc}"),
            &endpoint,
            &erp_client(&erp_base, &demo_keys)?,
            &erp_base,
            &demo_keys,
            &token,
        )
        .await
        .context("demo ERP connection")?;
    }
    let ns = relais_platform::config::var("RELAIS_NAMESPACE", "relais".to_owned())?;
    if let Some(demo) = &demo_ids {
        println!(
            "\nDemo residence {residence}, resident Jeanne Martin {resident}, staff member `{staff}`;\
             \nonline customer Paul Durand {customer}.\
             \nPlace a product order for Jeanne as that staff member, book a cleaning for Paul\
             \n(then watch order.placed with `relais events`):\
             \n  cargo run -q -p relais-cli -- order --customer {resident} --line ENT-001=2 --line HYG-001=1 --email accueil@tilleuls.example\
             \n  cargo run -q -p relais-cli -- book --customer {customer} --service MENAGE --date next-monday --start 09:00 --minutes 120\
             \nPaul's saved card is the payment simulator's pm_card_visa; invoices are PDFs, and mails land in\
             \n{mail_dir}. Buy him a pack, pay it, validate its invoice:\
             \n  cargo run -q -p relais-cli -- buy-pack --customer {customer} --pack \"Pack 10 h entretien\"   (then order-status <id> confirmed)\
             \n  cargo run -q -p relais-cli -- billing invoices --customer {customer}   (then billing validate <id>, billing pdf <id>)\
             \n  cargo run -q -p relais-cli -- billing certificate --customer {customer} --year {last_year} --out certificate.pdf\
             \nThe demo ERP (the reference ERP) is connected: a confirmed booking reaches it as a read-only\
             \ncustomer, an accepted quote and its interventions; a worker added there reaches the shop on a sync:\
             \n  cargo run -q -p relais-cli -- erp list quote   (and customer, service, employee, tariff)\
             \n  cargo run -q -p relais-cli -- erp add-employee --first-name Léa --last-name Moreau --tariff <id from erp list tariff>\
             \n  cargo run -q -p relais-cli -- connector sync workers   (then planning workers; connector runs, bindings, dead-letters)",
            residence = demo.residence,
            resident = demo.resident,
            customer = demo.customer,
            staff = demo::STAFF,
            mail_dir = std::env::current_dir()
                .unwrap_or_default()
                .join(relais_platform::config::var(
                    "RELAIS_MAIL_DIR",
                    std::path::PathBuf::from(".local/mail"),
                )?)
                .display(),
            last_year = chrono::Datelike::year(&chrono::Utc::now()) - 1,
        );
    }
    println!(
        "\nRelais is up.\n\
         \n  catalogue  gRPC {catalogue_grpc}   admin http://{catalogue_admin} (/livez /readyz /metrics)\
         \n  orders     gRPC {orders_grpc}   admin http://{orders_admin}\
         \n  planning   gRPC {planning_grpc}   admin http://{planning_admin}\
         \n  billing    gRPC {billing_grpc}   admin http://{billing_admin}\
         \n  connector  gRPC {connector_grpc}   admin http://{connector_admin}\
         \n  reference ERP  http://{erp_addr}/api/v2/apiogust.php (key demo-public; /_faults only with REFERENCE_ERP_FAULTS=1)\
         \n\nDemo tenant {tenant}. Try:\
         \n  cargo run -q -p relais-cli -- catalogue products\
         \n  cargo run -q -p relais-cli -- catalogue categories\
         \n  (with grpcurl, which Debian does not package: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest,\
         \n   then grpcurl -plaintext -H \"authorization: Bearer $(cargo run -q -p relais-cli -- token)\" {catalogue_grpc} list)\
         \n  cargo run -q -p relais-cli -- events --subject '{ns}.>'   (every event; or read the stream {stream})\
         \n\nCtrl-C stops everything.\n",
        tenant = demo::TENANT,
        stream = format!("{ns}_CATALOGUE").to_uppercase(),
    );
    stack.wait().await
}

async fn list(what: Listing, query: &str, addr: &str, tenant: Uuid) -> anyhow::Result<()> {
    let mut client = CatalogueServiceClient::new(connect(addr).await?);
    let token = admin_token(tenant)?;
    let mut lines = Vec::new();
    match what {
        Listing::Categories => {
            for c in client
                .list_categories(authed(&token, ListCategoriesRequest::default())?)
                .await?
                .into_inner()
                .categories
            {
                lines.push(format!(
                    "{:<14} {:<36} parent={}",
                    c.code,
                    c.name,
                    if c.parent_id.is_empty() {
                        "-"
                    } else {
                        &c.parent_id
                    }
                ));
            }
        }
        Listing::Services => {
            let req = ListServicesRequest {
                query: query.into(),
                ..Default::default()
            };
            for s in client
                .list_services(authed(&token, req)?)
                .await?
                .into_inner()
                .services
            {
                let price = s.hourly_price.map(|m| m.amount_cents).unwrap_or_default();
                lines.push(format!(
                    "{:<12} {:<40} {:>8.2} €/h  VAT {:>5.2} %  tax credit: {}",
                    s.code,
                    s.name,
                    price as f64 / 100.0,
                    f64::from(s.vat_rate_bp) / 100.0,
                    s.tax_credit_eligible
                ));
            }
        }
        Listing::Products => {
            let req = ListProductsRequest {
                query: query.into(),
                ..Default::default()
            };
            for p in client
                .list_products(authed(&token, req)?)
                .await?
                .into_inner()
                .products
            {
                let price = p.price.map(|m| m.amount_cents).unwrap_or_default();
                lines.push(format!(
                    "{:<12} {:<44} {:>8.2} €  VAT {:>5.2} %  stock {:>3}/{:<3}  {}",
                    p.sku,
                    p.designation,
                    price as f64 / 100.0,
                    f64::from(p.vat_rate_bp) / 100.0,
                    p.stock_available,
                    p.stock_real,
                    p.id
                ));
            }
        }
        Listing::Packs => {
            for p in client
                .list_hour_packs(authed(&token, ListHourPacksRequest::default())?)
                .await?
                .into_inner()
                .hour_packs
            {
                let price = p.price.map(|m| m.amount_cents).unwrap_or_default();
                let services = if p.eligible_service_ids.is_empty() {
                    "all services".to_owned()
                } else {
                    format!("{} services", p.eligible_service_ids.len())
                };
                lines.push(format!(
                    "{:<32} {:>5.1} h  {:>8.2} €  {}",
                    p.name,
                    f64::from(p.duration_minutes) / 60.0,
                    price as f64 / 100.0,
                    services
                ));
            }
        }
    }
    args::print_all(lines);
    Ok(())
}

pub async fn connect(addr: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(addr.to_owned())?
        .connect()
        .await
        .with_context(|| format!("cannot reach {addr}: is `make run` running?"))
}

async fn outbox(op: OutboxOp) -> anyhow::Result<()> {
    let service = match &op {
        OutboxOp::Republish { service, .. } | OutboxOp::Backlog { service } => service.clone(),
    };
    let mut cfg = PlatformConfig::from_env(0, 0)?;
    cfg.db_migrate = false;
    let pool = relais_platform::db::connect(&cfg, &service, &relais_catalogue::MIGRATIONS).await?;
    match op {
        OutboxOp::Republish { since, .. } => {
            let n = relais_platform::outbox::republish_since(&pool, since).await?;
            println!("{n} events of {service} since {since} will be published again");
        }
        OutboxOp::Backlog { .. } => {
            let (count, age) = relais_platform::outbox::backlog(&pool).await?;
            println!("{service}: {count} unpublished, oldest {age:.1} s");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the user reads when an id is not one.
    fn error(args: &[&str]) -> String {
        match Cli::try_parse_from(args) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_bad_id_names_its_argument_and_what_was_expected() {
        for (args, argument) in [
            (
                &["relais", "billing", "invoices", "--customer", "paul"][..],
                "--customer <CUSTOMER>",
            ),
            (
                &["relais", "billing", "validate", "F2026-1"][..],
                "<INVOICE>",
            ),
            (
                &["relais", "planning", "done", "42", "--minutes", "150"][..],
                "<INTERVENTION>",
            ),
            (
                &["relais", "order-status", "<pack order id>", "confirmed"][..],
                "<ID>",
            ),
            (
                &["relais", "book", "--customer", "x", "--service", "MENAGE"][..],
                "--customer <CUSTOMER>",
            ),
        ] {
            let e = error(args);
            assert!(e.contains(argument), "{args:?}: {e}");
            assert!(e.contains("expected a UUID like 0190"), "{args:?}: {e}");
        }
    }

    #[test]
    fn dates_are_relative_to_the_day_it_is_run() {
        let e = error(&["relais", "planning", "interventions", "--from", "someday"]);
        assert!(e.contains("--from") && e.contains("next-<weekday>"), "{e}");
        assert!(
            Cli::try_parse_from([
                "relais",
                "planning",
                "interventions",
                "--from",
                "next-monday",
                "--to",
                "+14",
            ])
            .is_ok()
        );
    }

    #[test]
    fn a_dev_address_is_the_one_the_commands_reach() {
        assert_eq!(
            host_port("http://127.0.0.1:41051"),
            Some(std::net::SocketAddr::from(([127, 0, 0, 1], 41051)))
        );
        assert_eq!(
            host_port("http://127.0.0.1:8800/api"),
            Some(std::net::SocketAddr::from(([127, 0, 0, 1], 8800)))
        );
    }
}
