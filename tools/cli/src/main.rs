//! The `relais` command: `relais dev` runs every service in one process
//! with the demo tenant seeded; the other commands call the services or
//! operate them (tokens, listings, outbox republish).

mod args;
mod auth;
mod billing;
mod catalogue;
mod client;
mod connector;
mod dead_letters;
mod demo;
mod dev;
mod erp;
mod events;
mod orders;
mod outbox;
mod planning;
mod seed;

use anyhow::Context;
use clap::{Parser, Subcommand};
use relais_platform::auth::Role;
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
    /// Make a new token signing key for an issuer (docs/keys.md): prints
    /// the RELAIS_SIGNING_KEY value for its Secret, and the public key to
    /// add to the trusted keys.
    Keys {
        /// Who will hold it: gateway, a service's name, relais-cli.
        #[arg(long)]
        issuer: String,
        /// Its key id; rotate by making a key with a new one.
        #[arg(long)]
        kid: String,
        /// The roles its tokens may carry (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
    },
    /// Print a bearer token signed with the CLI's key (for grpcurl).
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
        what: catalogue::Listing,
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
        #[arg(long, default_value = demo::DEMO_CONNECTION)]
        connection: String,
        #[arg(long, value_parser = crate::args::uuid)]
        tenant: Option<Uuid>,
    },
    /// Act in the reference ERP as its users would (the demo tenant's ERP).
    Erp {
        #[command(subcommand)]
        op: erp::ErpOp,
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
    /// A service's consumers' dead letters (list, replay) and its backlog.
    DeadLetters {
        #[command(subcommand)]
        op: dead_letters::DeadLetterOp,
        #[arg(long, value_enum)]
        service: dead_letters::Service,
        #[arg(long, value_parser = crate::args::uuid)]
        tenant: Option<Uuid>,
    },
    /// Outbox operations.
    Outbox {
        #[command(subcommand)]
        op: outbox::OutboxOp,
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
        Command::Dev { no_seed } => dev::dev(!no_seed).await,
        Command::DemoIds { orders } => {
            demo::print_ids(&orders, &auth::admin_token(demo::TENANT)?).await
        }
        Command::Seed { catalogue } => {
            seed::seed(&catalogue, &auth::admin_token(demo::TENANT)?).await
        }
        Command::Keys { issuer, kid, roles } => {
            let roles = roles
                .iter()
                .map(|r| {
                    serde_json::from_value::<Role>(serde_json::Value::String(r.trim().to_owned()))
                        .with_context(|| format!("unknown role {r:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (key, secret) = relais_platform::keys::SigningKey::generate(&issuer, &kid)?;
            println!("RELAIS_SIGNING_KEY={secret}");
            println!("{}", serde_json::to_string_pretty(&key.public(&roles).jwk)?);
            Ok(())
        }
        Command::Token {
            role,
            tenant,
            hours,
            sub,
            customer,
        } => {
            let role: Role = serde_json::from_value(serde_json::Value::String(role.clone()))
                .with_context(|| format!("unknown role {role:?}"))?;
            let token = auth::authenticator()?.mint(&relais_platform::auth::Claims {
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
        } => catalogue::list(what, &query, &catalogue, tenant.unwrap_or(demo::TENANT)).await,
        Command::Outbox { op } => outbox::outbox(op).await,
        Command::DeadLetters {
            op,
            service,
            tenant,
        } => dead_letters::run(op, service, tenant).await,
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
        Command::Erp { op, url, keys } => erp::erp(op, &erp::erp_client(&url, &keys)?).await,
        Command::Events(args) => events::watch(args).await,
    }
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
}
