//! Connector commands: the connections, a sync run now (with its progress),
//! runs, bindings, dead letters and their replay, conflicts, tariff
//! mappings.

pub mod connection;
pub mod service_ids;
pub mod show;

use anyhow::Context;
use clap::Subcommand;
use relais_proto::{
    connector::{
        ConflictSide, CreateConnectionRequest, Direction, ListBindingsRequest,
        ListConflictsRequest, ListConnectionsRequest, ListDeadLettersRequest, ListRunsRequest,
        ReplayDeadLetterRequest, ResolveConflictRequest, RunSyncRequest, SetTariffMappingRequest,
        connector_service_client::ConnectorServiceClient,
    },
    types::PageRequest,
};
use uuid::Uuid;

use crate::{
    auth::admin_token,
    client::{authed, connect},
    demo,
};

use connection::{connection_fields, connection_id};
use service_ids::service_id;
use show::{refused, show_run};

pub const CONNECTOR_ADDR: &str = "http://127.0.0.1:50055";

#[derive(Subcommand)]
pub enum ConnectorOp {
    /// The tenant's ERP connections and what flows which way.
    Connections,
    /// Run a family's flow now, printing its progress: a pull from the ERP
    /// (workers); with --full everything the family pulls is read again,
    /// plus the batch transfer of every shop record (customers, workers).
    Sync {
        family: String,
        #[arg(long)]
        full: bool,
    },
    /// Runs, newest first, with counts, errors and duration.
    Runs,
    /// Shop records and the ERP records they are bound to.
    Bindings {
        #[arg(long, default_value = "")]
        entity: String,
    },
    /// Writes to the ERP that failed on their last attempt.
    DeadLetters,
    /// Write a dead letter again (from the record's current state).
    Replay {
        #[arg(value_parser = crate::args::uuid)]
        id: Uuid,
    },
    /// Records changed on both sides, and who won; ERP edits of records
    /// the shop owns, written over (kind erp_overwritten).
    Conflicts {
        #[arg(long)]
        open: bool,
    },
    /// Compare both sides under the bindings, field by field, and report
    /// the drift; `--repair` settles each difference as a sync would.
    Verify {
        #[arg(long)]
        repair: bool,
    },
    /// Connect the tenant to an ERP (reference-erp, tryton or csv), e.g.
    /// `create --name ebp --adapter csv --endpoint file:///srv/exchange/<tenant>/ebp
    /// --family customers=push --family catalogue=pull@"0 2 * * *" --send paid=order`.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["reference-erp", "tryton", "csv"])]
        adapter: String,
        /// Base URL (Tryton: with its database), or file:/// folder (csv).
        #[arg(long)]
        endpoint: String,
        /// The environment variable of this shell holding the ERP's
        /// credentials (public:private, login:password; none for csv): sent
        /// once, stored sealed by the connector, never shown again.
        #[arg(long, default_value = "")]
        secret_env: String,
        /// Or the name of credentials the deployment keeps for the tenant
        /// (the connector's RELAIS_TENANT_<TENANT>_<NAME>).
        #[arg(long, default_value = "")]
        secret_ref: String,
        /// family=pull|push|both[@cron], once per family.
        #[arg(long = "family")]
        families: Vec<String>,
        /// status=quote|order|not-sent (paid, validated, cancelled).
        #[arg(long = "send")]
        sends: Vec<String>,
        #[arg(long, value_parser = ["erp-wins", "shop-wins", "manual"], default_value = "erp-wins")]
        conflicts: String,
    },
    /// Settle a conflict waiting for staff: `shop` writes the shop's
    /// version to the ERP, `erp` applies the ERP's to the shop.
    Resolve {
        #[arg(value_parser = crate::args::uuid)]
        id: Uuid,
        #[arg(value_parser = ["shop", "erp"])]
        winner: String,
    },
    /// Map a shop service (by code) to an ERP tariff; skills sync through it.
    MapTariff {
        #[arg(long)]
        service: String,
        #[arg(long)]
        tariff: String,
    },
}

pub struct Target {
    pub addr: Option<String>,
    pub connection: String,
    pub tenant: Option<Uuid>,
}

pub async fn run(op: ConnectorOp, target: Target) -> anyhow::Result<()> {
    let addr = target.addr.unwrap_or_else(|| CONNECTOR_ADDR.to_owned());
    let tenant = target.tenant.unwrap_or(demo::TENANT);
    let token = admin_token(tenant)?;
    let mut client = ConnectorServiceClient::new(connect(&addr).await?);
    if let ConnectorOp::Connections = op {
        let list = client
            .list_connections(authed(&token, ListConnectionsRequest {})?)
            .await
            .map_err(refused)?
            .into_inner()
            .connections;
        let mut lines = Vec::new();
        for c in list {
            let f = c.fields.unwrap_or_default();
            let flows: Vec<String> = f
                .families
                .iter()
                .map(|fam| {
                    let d = Direction::try_from(fam.direction)
                        .map(|d| {
                            d.as_str_name()
                                .trim_start_matches("DIRECTION_")
                                .to_lowercase()
                        })
                        .unwrap_or_default();
                    if fam.schedule.is_empty() {
                        format!("{} {d}", fam.family)
                    } else {
                        format!("{} {d} ({})", fam.family, fam.schedule)
                    }
                })
                .collect();
            lines.push(format!(
                "{}  {:<12} {} {}{}\n    {}",
                c.id,
                f.name,
                f.endpoint,
                if c.has_secret {
                    "(credentials stored)".to_owned()
                } else {
                    f.secret_ref.clone()
                },
                if f.enabled { "" } else { " (disabled)" },
                flows.join(", ")
            ));
        }
        crate::args::print_all(lines);
        return Ok(());
    }
    if let ConnectorOp::Create {
        name,
        adapter,
        endpoint,
        secret_env,
        secret_ref,
        families,
        sends,
        conflicts,
    } = op
    {
        let secret = if secret_env.is_empty() {
            String::new()
        } else {
            std::env::var(&secret_env)
                .with_context(|| format!("--secret-env: the variable {secret_env} is not set"))?
        };
        let fields = connection_fields(
            name,
            &adapter,
            endpoint,
            (secret, secret_ref),
            &families,
            &sends,
            &conflicts,
        )?;
        let created = client
            .create_connection(authed(
                &token,
                CreateConnectionRequest {
                    idempotency_key: String::new(),
                    fields: Some(fields),
                },
            )?)
            .await
            .map_err(refused)?
            .into_inner()
            .connection
            .unwrap_or_default();
        println!("connection {} created", created.id);
        return Ok(());
    }
    let id = connection_id(&mut client, &token, &target.connection).await?;
    match op {
        ConnectorOp::Connections | ConnectorOp::Create { .. } => Ok(()),
        ConnectorOp::Sync { family, full } => {
            let mut stream = client
                .run_sync(authed(
                    &token,
                    RunSyncRequest {
                        connection_id: id,
                        family,
                        full,
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner();
            while let Some(m) = stream.message().await.map_err(refused)? {
                let Some(r) = m.run else { continue };
                if m.finished {
                    println!("{}", show_run(&r));
                } else {
                    println!("{}/{} ...", r.done, r.total);
                }
            }
            Ok(())
        }
        ConnectorOp::Runs => {
            let runs = client
                .list_runs(authed(
                    &token,
                    ListRunsRequest {
                        connection_id: id,
                        page: Some(PageRequest {
                            page_size: 50,
                            page_token: String::new(),
                        }),
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .runs;
            crate::args::print_all(runs.iter().map(show_run));
            Ok(())
        }
        ConnectorOp::Bindings { entity } => {
            let list = crate::args::every_page(|page| {
                let (mut client, request) = (
                    client.clone(),
                    authed(
                        &token,
                        ListBindingsRequest {
                            connection_id: id.clone(),
                            entity: entity.clone(),
                            page: Some(page),
                        },
                    ),
                );
                async move {
                    let r = client.list_bindings(request?).await.map_err(refused)?;
                    let r = r.into_inner();
                    Ok((r.bindings, r.next_page_token))
                }
            })
            .await?;
            crate::args::print_all(list.iter().map(|b| {
                format!(
                    "{:<13} {} <-> {:<8} shop v{} erp v{}",
                    b.entity, b.internal_id, b.external_id, b.shop_version, b.erp_version
                )
            }));
            Ok(())
        }
        ConnectorOp::DeadLetters => {
            let list = crate::args::every_page(|page| {
                let (mut client, request) = (
                    client.clone(),
                    authed(
                        &token,
                        ListDeadLettersRequest {
                            connection_id: id.clone(),
                            page: Some(page),
                        },
                    ),
                );
                async move {
                    let r = client.list_dead_letters(request?).await.map_err(refused)?;
                    let r = r.into_inner();
                    Ok((r.dead_letters, r.next_page_token))
                }
            })
            .await?;
            crate::args::print_all(list.iter().map(|d| {
                format!(
                    "{}  {} {}  after {} attempt(s): {}",
                    d.id, d.entity, d.internal_id, d.attempts, d.error
                )
            }));
            Ok(())
        }
        ConnectorOp::Replay { id: letter } => {
            client
                .replay_dead_letter(authed(
                    &token,
                    ReplayDeadLetterRequest {
                        id: letter.to_string(),
                    },
                )?)
                .await
                .map_err(refused)?;
            println!("dead letter {letter} queued again");
            Ok(())
        }
        ConnectorOp::Conflicts { open } => {
            let list = crate::args::every_page(|page| {
                let (mut client, request) = (
                    client.clone(),
                    authed(
                        &token,
                        ListConflictsRequest {
                            connection_id: id.clone(),
                            open_only: open,
                            page: Some(page),
                        },
                    ),
                );
                async move {
                    let r = client.list_conflicts(request?).await.map_err(refused)?;
                    let r = r.into_inner();
                    Ok((r.conflicts, r.next_page_token))
                }
            })
            .await?;
            crate::args::print_all(list.iter().map(|c| {
                let fields: Vec<String> = c
                    .values
                    .iter()
                    .map(|v| format!("{}: shop {} / erp {}", v.field, v.shop, v.erp))
                    .collect();
                format!(
                    "{}  {} {} {} <-> {}  shop v{} erp v{}  winner: {}{}{}",
                    c.id,
                    if c.kind.is_empty() {
                        "conflict"
                    } else {
                        &c.kind
                    },
                    c.entity,
                    c.internal_id,
                    c.external_id,
                    c.shop_version,
                    c.erp_version,
                    if c.winner.is_empty() {
                        "waiting for staff"
                    } else {
                        &c.winner
                    },
                    if c.rule.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.rule)
                    },
                    if fields.is_empty() {
                        String::new()
                    } else {
                        format!("\n    {}", fields.join("\n    "))
                    }
                )
            }));
            Ok(())
        }
        ConnectorOp::Verify { repair } => {
            let report = client
                .verify(authed(
                    &token,
                    relais_proto::connector::VerifyRequest {
                        connection_id: id,
                        repair,
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .report
                .unwrap_or_default();
            println!(
                "compared {}: {} differing, {} missing in the ERP, {} missing in the shop, {} duplicated in the ERP, {} held for staff{}",
                report.compared,
                report.differing,
                report.missing_in_erp,
                report.missing_in_shop,
                report.duplicates,
                report.held,
                if repair {
                    format!(", {} repaired", report.repaired)
                } else {
                    String::new()
                }
            );
            crate::args::print_all(report.drifts.iter().map(|d| {
                format!(
                    "{} {} {} <-> {}{}{}",
                    d.kind,
                    d.entity,
                    d.internal_id,
                    d.external_id,
                    if d.fields.is_empty() {
                        String::new()
                    } else {
                        format!("  [{}]", d.fields.join(", "))
                    },
                    if d.repaired { "  repaired" } else { "" }
                )
            }));
            Ok(())
        }
        ConnectorOp::Resolve {
            id: conflict,
            winner,
        } => {
            let side = if winner == "shop" {
                ConflictSide::Shop
            } else {
                ConflictSide::Erp
            };
            let settled = client
                .resolve_conflict(authed(
                    &token,
                    ResolveConflictRequest {
                        id: conflict.to_string(),
                        winner: side as i32,
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .conflict
                .unwrap_or_default();
            println!(
                "conflict {} settled: the {} version of {} {} is kept on both sides (read back from both)",
                settled.id, settled.winner, settled.entity, settled.internal_id
            );
            Ok(())
        }
        ConnectorOp::MapTariff { service, tariff } => {
            let catalogue = std::env::var("CATALOGUE_ADDR")
                .unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
            let service_id = service_id(&catalogue, &token, &service).await?;
            client
                .set_tariff_mapping(authed(
                    &token,
                    SetTariffMappingRequest {
                        connection_id: id,
                        service_id: service_id.clone(),
                        tariff_id: tariff.clone(),
                    },
                )?)
                .await
                .map_err(refused)?;
            println!("service {service} ({service_id}) <-> tariff {tariff}");
            Ok(())
        }
    }
}
