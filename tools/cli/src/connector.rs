//! Connector commands: the connections, a sync run now (with its progress),
//! runs, bindings, dead letters and their replay, conflicts, tariff
//! mappings; and `relais erp`, acting in the reference ERP as its users
//! would (adding an employee, listing records).

use anyhow::Context;
use clap::Subcommand;
use relais_connector::{
    adapter::{ErpAdapter, ErpRecord},
    reference_erp::ReferenceErpClient,
};
use relais_proto::{
    catalogue::{ListServicesRequest, catalogue_service_client::CatalogueServiceClient},
    connector::{
        AdapterKind, ConflictPolicy, ConflictSide, ConnectionFields, CreateConnectionRequest,
        Direction, FamilySettings, ListBindingsRequest, ListConflictsRequest,
        ListConnectionsRequest, ListDeadLettersRequest, ListRunsRequest, OrderStatusRule,
        ReplayDeadLetterRequest, ResolveConflictRequest, Run, RunStatus, RunSyncRequest, SendAs,
        SetTariffMappingRequest, UpdateConnectionRequest,
        connector_service_client::ConnectorServiceClient,
    },
    types::PageRequest,
};
use serde_json::{Map, Value, json};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::{admin_token, authed, connect, demo};

pub const CONNECTOR_ADDR: &str = "http://127.0.0.1:50055";
/// The demo tenant's connection, to the reference ERP `make run` starts.
pub const DEMO_CONNECTION: &str = "demo-erp";
/// The variable holding its credentials.
/// The variable of `relais dev`'s environment with the demo ERP's keys
/// (default: the reference ERP's demo keys); the demo connection stores
/// them, sealed.
pub const DEMO_SECRET_REF: &str = "RELAIS_ERP_DEMO";

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

fn refused(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("refused ({:?}): {}", s.code(), s.message())
}

pub fn run_status(r: &Run) -> String {
    RunStatus::try_from(r.status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("RUN_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

pub fn show_run(r: &Run) -> String {
    format!(
        "{} {:<10} {:<9} {:<9} {}/{} done, {} applied, {} skipped, {} failed, {} ms{}",
        r.id,
        r.family,
        r.trigger,
        run_status(r),
        r.done,
        r.total,
        r.applied,
        r.skipped,
        r.failed,
        r.duration_ms,
        if r.errors.is_empty() {
            String::new()
        } else {
            format!("\n    {}", r.errors.join("\n    "))
        }
    )
}

/// The connection `relais connector create` asks for; a malformed flag is
/// an error here, what the connector refuses comes back with its field.
fn connection_fields(
    name: String,
    adapter: &str,
    endpoint: String,
    (secret, secret_ref): (String, String),
    families: &[String],
    sends: &[String],
    conflicts: &str,
) -> anyhow::Result<ConnectionFields> {
    let adapter = match adapter {
        "tryton" => AdapterKind::Tryton,
        "csv" => AdapterKind::Csv,
        _ => AdapterKind::ReferenceErp,
    };
    let families = families
        .iter()
        .map(|f| {
            let (family, rest) = f
                .split_once('=')
                .with_context(|| format!("--family {f}: family=pull|push|both[@cron]"))?;
            let (direction, schedule) = rest.split_once('@').unwrap_or((rest, ""));
            let direction = match direction {
                "pull" => Direction::Pull,
                "push" => Direction::Push,
                "both" => Direction::Both,
                "off" => Direction::Off,
                other => anyhow::bail!("--family {f}: {other:?} is not pull, push, both or off"),
            };
            Ok(FamilySettings {
                family: family.into(),
                direction: direction as i32,
                schedule: schedule.into(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let order_statuses = sends
        .iter()
        .map(|r| {
            let (status, send_as) = r
                .split_once('=')
                .with_context(|| format!("--send {r}: status=quote|order|not-sent"))?;
            let send_as = match send_as {
                "quote" => SendAs::Quote,
                "order" => SendAs::Order,
                "not-sent" => SendAs::NotSent,
                other => anyhow::bail!("--send {r}: {other:?} is not quote, order or not-sent"),
            };
            Ok(OrderStatusRule {
                status: status.into(),
                send_as: send_as as i32,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let conflict_policy = match conflicts {
        "shop-wins" => ConflictPolicy::ShopWins,
        "manual" => ConflictPolicy::Manual,
        _ => ConflictPolicy::ErpWins,
    };
    Ok(ConnectionFields {
        name,
        adapter: adapter as i32,
        endpoint,
        secret_ref,
        secret,
        families,
        order_statuses,
        conflict_policy: conflict_policy as i32,
        enabled: true,
    })
}

async fn connection_id(
    client: &mut ConnectorServiceClient<Channel>,
    token: &str,
    name: &str,
) -> anyhow::Result<String> {
    client
        .list_connections(authed(token, ListConnectionsRequest {})?)
        .await
        .map_err(refused)?
        .into_inner()
        .connections
        .into_iter()
        .find(|c| c.fields.as_ref().is_some_and(|f| f.name == name))
        .map(|c| c.id)
        .with_context(|| format!("no connection named {name:?}"))
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
            let list = client
                .list_bindings(authed(
                    &token,
                    ListBindingsRequest {
                        connection_id: id,
                        entity,
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .bindings;
            crate::args::print_all(list.iter().map(|b| {
                format!(
                    "{:<13} {} <-> {:<8} shop v{} erp v{}",
                    b.entity, b.internal_id, b.external_id, b.shop_version, b.erp_version
                )
            }));
            Ok(())
        }
        ConnectorOp::DeadLetters => {
            let list = client
                .list_dead_letters(authed(
                    &token,
                    ListDeadLettersRequest { connection_id: id },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .dead_letters;
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
            let list = client
                .list_conflicts(authed(
                    &token,
                    ListConflictsRequest {
                        connection_id: id,
                        open_only: open,
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .conflicts;
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

async fn services(catalogue: &str, token: &str) -> anyhow::Result<Vec<(String, String)>> {
    Ok(CatalogueServiceClient::new(connect(catalogue).await?)
        .list_services(authed(
            token,
            ListServicesRequest {
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                ..Default::default()
            },
        )?)
        .await
        .map_err(refused)?
        .into_inner()
        .services
        .into_iter()
        .map(|s| (s.code, s.id))
        .collect())
}

async fn service_id(catalogue: &str, token: &str, code: &str) -> anyhow::Result<String> {
    services(catalogue, token)
        .await?
        .into_iter()
        .find(|(c, id)| c == code || id == code)
        .map(|(_, id)| id)
        .with_context(|| format!("no service {code:?}"))
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The demo tenant's connection to the reference ERP (idempotent): online
/// customers, bookings, paid product orders and shop workers pushed; ERP
/// workers and the ERP's catalogue pulled hourly (and on `relais connector
/// sync workers|catalogue`); the demo services mapped to ERP tariffs; then
/// every existing customer and worker transferred once.
pub async fn seed(
    connector: &str,
    catalogue: &str,
    erp: &ReferenceErpClient,
    erp_base: &str,
    erp_keys: &str,
    token: &str,
) -> anyhow::Result<()> {
    let mut client = ConnectorServiceClient::new(connect(connector).await?);
    let family = |f: &str, d: Direction, schedule: &str| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: schedule.into(),
    };
    let demo = ConnectionFields {
        name: DEMO_CONNECTION.into(),
        adapter: AdapterKind::ReferenceErp as i32,
        endpoint: erp_base.into(),
        secret: erp_keys.into(),
        secret_ref: String::new(),
        families: vec![
            family("customers", Direction::Push, ""),
            family("workers", Direction::Both, "0 * * * *"),
            family("bookings", Direction::Push, ""),
            family("orders", Direction::Push, ""),
            family("catalogue", Direction::Pull, "0 * * * *"),
        ],
        // Product orders go to the ERP once paid, as orders (their
        // cancellation follows them).
        order_statuses: vec![OrderStatusRule {
            status: "paid".into(),
            send_as: SendAs::Order as i32,
        }],
        conflict_policy: ConflictPolicy::ErpWins as i32,
        enabled: true,
    };
    let created = client
        .create_connection(authed(
            token,
            CreateConnectionRequest {
                idempotency_key: String::new(),
                fields: Some(demo.clone()),
            },
        )?)
        .await;
    let id = match created {
        Ok(r) => r.into_inner().connection.context("no connection")?.id,
        // Made by an earlier `make run` (perhaps of an older version, or
        // against another ERP address): brought to these settings.
        Err(s) if s.code() == tonic::Code::AlreadyExists => {
            let id = connection_id(&mut client, token, DEMO_CONNECTION).await?;
            client
                .update_connection(authed(
                    token,
                    UpdateConnectionRequest {
                        id: id.clone(),
                        expected_version: 0,
                        fields: Some(demo),
                    },
                )?)
                .await
                .map_err(refused)?;
            id
        }
        Err(s) => return Err(refused(s)),
    };
    for (code, id_service) in services(catalogue, token).await? {
        let tariff = erp
            .upsert(
                "tariff",
                None,
                &format!("demo-tariff-{code}"),
                &fields(json!({ "code": code, "label": code })),
            )
            .await
            .with_context(|| format!("demo tariff {code}"))?;
        client
            .set_tariff_mapping(authed(
                token,
                SetTariffMappingRequest {
                    connection_id: id.clone(),
                    service_id: id_service,
                    tariff_id: tariff.id,
                },
            )?)
            .await
            .map_err(refused)?;
    }
    // The ERP's own sales catalogue, for `relais connector sync catalogue`.
    let demo_catalogue = [
        (
            "family",
            "demo-family-erp",
            json!({ "code": "ERP-HYGIENE", "parent_code": "", "name": "Hygiène (ERP)", "active": true }),
        ),
        (
            "article",
            "demo-article-1",
            json!({
                "sku": "ERP-SAVON-500", "designation": "Savon liquide 500 ml",
                "family_code": "ERP-HYGIENE", "price_cents": 450, "vat_rate_bp": 2000,
                "sales_unit": "flacon", "weight_grams": 540, "active": true,
                "stock_real": 120, "stock_available": 110,
                "prices": [{ "price_group": "RESIDENCE", "price_cents": 390 }],
            }),
        ),
        (
            "article",
            "demo-article-2",
            json!({
                "sku": "ERP-LINGETTES", "designation": "Lingettes (paquet de 80)",
                "family_code": "ERP-HYGIENE", "price_cents": 320, "vat_rate_bp": 2000,
                "sales_unit": "paquet", "weight_grams": 400, "active": true,
                "stock_real": 60, "stock_available": 60,
            }),
        ),
    ];
    for (object, reference, record) in demo_catalogue {
        erp.upsert(object, None, reference, &fields(record))
            .await
            .with_context(|| format!("demo ERP {object} {reference}"))?;
    }
    for f in ["customers", "workers"] {
        let mut stream = client
            .run_sync(authed(
                token,
                RunSyncRequest {
                    connection_id: id.clone(),
                    family: f.into(),
                    full: true,
                },
            )?)
            .await
            .map_err(refused)?
            .into_inner();
        while let Some(m) = stream.message().await.map_err(refused)? {
            if let (true, Some(r)) = (m.finished, m.run) {
                println!("demo ERP sync: {}", show_run(&r));
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ErpOp {
    /// Add an employee in the ERP, as its staff would (then `relais
    /// connector sync workers` brings it to the shop).
    AddEmployee {
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        photo_url: String,
        /// ERP tariffs, by id or code (`relais erp list tariff`), e.g.
        /// MENAGE; repeatable.
        #[arg(long)]
        tariff: Vec<String>,
    },
    /// Records of an object: customer, employee, tariff, service, quote,
    /// invoice, taxcertificate.
    List { object: String },
}

pub async fn erp(op: ErpOp, client: &ReferenceErpClient) -> anyhow::Result<()> {
    match op {
        ErpOp::AddEmployee {
            first_name,
            last_name,
            email,
            phone,
            photo_url,
            tariff,
        } => {
            let tariff = tariff_ids(client, &tariff).await?;
            let rec = client
                .upsert(
                    "employee",
                    None,
                    &format!("cli-{}", Uuid::now_v7()),
                    &fields(json!({
                        "first_name": first_name, "last_name": last_name, "email": email,
                        "phone": phone, "photo_url": photo_url, "tariffs": tariff, "active": true,
                    })),
                )
                .await?;
            println!("employee {} added in the ERP", rec.id);
            Ok(())
        }
        ErpOp::List { object } => {
            crate::args::print_all(all_records(client, &object).await?.iter().map(show_record));
            Ok(())
        }
    }
}

fn show_record(r: &ErpRecord) -> String {
    format!(
        "{}  v{}  {}",
        r.id,
        r.version,
        Value::Object(r.fields.clone())
    )
}

async fn all_records(client: &ReferenceErpClient, object: &str) -> anyhow::Result<Vec<ErpRecord>> {
    let mut page = 1;
    let mut all = Vec::new();
    loop {
        let changes = client.changed_since(object, None, page, 200).await?;
        all.extend(changes.records);
        match changes.next {
            Some(n) => page = n,
            None => return Ok(all),
        }
    }
}

/// ERP tariff ids, each given by its id or its code.
async fn tariff_ids(client: &ReferenceErpClient, given: &[String]) -> anyhow::Result<Vec<String>> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    let tariffs = all_records(client, "tariff").await?;
    given
        .iter()
        .map(|t| {
            tariffs
                .iter()
                .find(|r| &r.id == t || r.fields.get("code").and_then(Value::as_str) == Some(t))
                .map(|r| r.id.clone())
                .with_context(|| format!("--tariff {t}: no ERP tariff with this id or code (see `relais erp list tariff`)"))
        })
        .collect()
}
