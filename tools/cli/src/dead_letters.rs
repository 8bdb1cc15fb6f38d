//! `relais dead-letters`: a service's consumers' dead letters and backlog
//! through its MessagingService (every service serves one; the connector's
//! ERP writes have their own, under `relais connector dead-letters`).

use clap::{Subcommand, ValueEnum};
use relais_proto::{
    messaging::{
        GetBacklogRequest, ListDeadLettersRequest, ReplayDeadLetterRequest,
        messaging_service_client::MessagingServiceClient,
    },
    types::PageRequest,
};
use uuid::Uuid;

use crate::{
    auth::admin_token,
    client::{authed, connect, refused},
    demo,
};

#[derive(Clone, Copy, ValueEnum)]
pub enum Service {
    Catalogue,
    Orders,
    Planning,
    Billing,
    Connector,
}

impl Service {
    /// Where the service is reached: the variable every `relais` command
    /// reads, or its default port.
    fn addr(self) -> anyhow::Result<String> {
        let (var, port) = match self {
            Self::Catalogue => ("CATALOGUE_ADDR", 50051),
            Self::Orders => ("ORDERS_ADDR", 50052),
            Self::Planning => ("PLANNING_ADDR", 50053),
            Self::Billing => ("BILLING_ADDR", 50054),
            Self::Connector => ("CONNECTOR_ADDR", 50055),
        };
        relais_platform::config::var(var, format!("http://127.0.0.1:{port}"))
    }
}

#[derive(Subcommand)]
pub enum DeadLetterOp {
    /// The dead letters waiting to be replayed (all with --all), oldest first.
    List {
        /// Only this consumer's, e.g. planning-bookings.
        #[arg(long)]
        consumer: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Runs a dead letter through its consumer again, once the cause is fixed.
    Replay { id: Uuid },
    /// Unpublished events and, per consumer, the dead letters waiting.
    Backlog,
}

pub async fn run(op: DeadLetterOp, service: Service, tenant: Option<Uuid>) -> anyhow::Result<()> {
    let token = admin_token(tenant.unwrap_or(demo::TENANT))?;
    let mut client = MessagingServiceClient::new(connect(&service.addr()?).await?);
    match op {
        DeadLetterOp::List { consumer, all } => {
            let mut page_token = String::new();
            let mut lines = Vec::new();
            loop {
                let page = client
                    .list_dead_letters(authed(
                        &token,
                        ListDeadLettersRequest {
                            consumer: consumer.clone().unwrap_or_default(),
                            include_replayed: all,
                            page: Some(PageRequest {
                                page_size: 500,
                                page_token,
                            }),
                        },
                    )?)
                    .await
                    .map_err(refused)?
                    .into_inner();
                lines.extend(page.dead_letters.iter().map(|d| {
                    format!(
                        "{}  {}  {}  after {} attempt(s){}: {}",
                        d.id,
                        d.consumer,
                        d.subject,
                        d.attempts,
                        if d.replayed_at.is_some() {
                            ", replayed"
                        } else {
                            ""
                        },
                        d.error
                    )
                }));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            crate::args::print_all(lines);
        }
        DeadLetterOp::Replay { id } => {
            client
                .replay_dead_letter(authed(
                    &token,
                    ReplayDeadLetterRequest { id: id.to_string() },
                )?)
                .await
                .map_err(refused)?;
            println!("dead letter {id} replayed");
        }
        DeadLetterOp::Backlog => {
            let b = client
                .get_backlog(authed(&token, GetBacklogRequest {})?)
                .await
                .map_err(refused)?
                .into_inner();
            println!(
                "{}: {} unpublished, oldest {:.1} s",
                b.service, b.outbox_unpublished, b.outbox_oldest_seconds
            );
            for c in b.consumers {
                println!(
                    "  {:<28} reads {:<10} {} dead letter(s) waiting",
                    c.consumer, c.source_service, c.dead_letters
                );
            }
        }
    }
    Ok(())
}
