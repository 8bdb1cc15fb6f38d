//! Planning commands: the workers, and interventions by worker (a worker's
//! week), customer or order, shown in local time.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::Subcommand;
use relais_proto::planning::{
    AvailabilitySource, ChangeInterventionsRequest, ChangeScope, InterventionStatus,
    ListInterventionsRequest, ListPackBalancesRequest, ListWorkersRequest, MarkDone, PackStatus,
    Reschedule, change_interventions_request::Change,
    planning_service_client::PlanningServiceClient,
};
use relais_proto::types::PageRequest;
use uuid::Uuid;

use crate::{
    auth::admin_token,
    client::{authed, connect},
    demo,
};

const PLANNING_ADDR: &str = "http://127.0.0.1:50053";

#[derive(Subcommand)]
pub enum PlanningOp {
    /// A customer's hour packs: bought, planned, consumed, remaining.
    Packs {
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Uuid,
    },
    /// The workers, with their skills (service ids), provider and where
    /// their weekly hours come from (shop, ERP, or opening hours).
    Workers {
        /// Only the workers whose first or last name is this.
        #[arg(long)]
        name: Option<String>,
        /// Print only their ids, one a line (for scripts).
        #[arg(long)]
        ids: bool,
    },
    /// Mark an intervention done (once it has started), with the time
    /// actually worked; billing invoices it with the month's services.
    Done {
        #[arg(value_parser = crate::args::uuid)]
        intervention: Uuid,
        /// Minutes actually worked; default: as planned.
        #[arg(long, default_value_t = 0)]
        minutes: i32,
        /// When it actually started, when that was not as planned (the
        /// office recording what happened): it is moved there first, with
        /// the same checks as any change (the worker's hours, other
        /// bookings), then marked done. E.g. last-friday@09:00, or RFC 3339.
        #[arg(long, value_parser = crate::args::when)]
        started_at: Option<DateTime<Utc>>,
    },
    /// Interventions of a worker, a customer or an order, or those nobody
    /// is assigned to (--unassigned: the office's list), in start order.
    Interventions {
        #[arg(long, value_parser = crate::args::uuid)]
        worker: Option<Uuid>,
        #[arg(long, value_parser = crate::args::uuid)]
        customer: Option<Uuid>,
        #[arg(long, value_parser = crate::args::uuid)]
        order: Option<Uuid>,
        /// From this time: RFC 3339, or a date such as today, next-monday,
        /// 2026-11-30 (local midnight), with an optional @HH:MM.
        #[arg(long, value_parser = crate::args::when)]
        from: Option<DateTime<Utc>>,
        /// Up to this time (same forms as --from), e.g. +7 for a week on.
        #[arg(long, value_parser = crate::args::when)]
        to: Option<DateTime<Utc>>,
        /// Only planned interventions no worker is assigned to, each with
        /// why; no worker, customer or order needed.
        #[arg(long)]
        unassigned: bool,
        /// Print only their ids, one a line (for scripts).
        #[arg(long)]
        ids: bool,
        /// Times are shown in this zone.
        #[arg(long, default_value = "Europe/Paris")]
        time_zone: Tz,
    },
}

fn ts(t: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    t.map(|t| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

pub async fn run(op: PlanningOp, addr: Option<String>, tenant: Option<Uuid>) -> anyhow::Result<()> {
    let addr = addr.unwrap_or_else(|| PLANNING_ADDR.to_owned());
    let tenant = tenant.unwrap_or(demo::TENANT);
    let token = admin_token(tenant)?;
    let mut client = PlanningServiceClient::new(connect(&addr).await?);
    let refused = |s: tonic::Status| anyhow::anyhow!("refused ({:?}): {}", s.code(), s.message());
    match op {
        PlanningOp::Packs { customer } => {
            let balances = client
                .list_pack_balances(authed(
                    &token,
                    ListPackBalancesRequest {
                        customer_id: customer.to_string(),
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .balances;
            let h = |m: i32| format!("{}h{:02}", m / 60, m % 60);
            let mut lines = Vec::new();
            for b in balances {
                let status = PackStatus::try_from(b.status)
                    .map(|s| {
                        s.as_str_name()
                            .trim_start_matches("PACK_STATUS_")
                            .to_lowercase()
                    })
                    .unwrap_or_default();
                lines.push(format!(
                    "{}  {:<28} bought {}  planned {}  consumed {}  remaining {}  {}",
                    b.pack_order_id,
                    b.name,
                    h(b.bought),
                    h(b.planned),
                    h(b.consumed),
                    h(b.remaining),
                    status
                ));
            }
            crate::args::print_all(lines);
            Ok(())
        }
        PlanningOp::Workers { name, ids } => {
            let mut page_token = String::new();
            let mut lines = Vec::new();
            loop {
                let page = client
                    .list_workers(authed(
                        &token,
                        ListWorkersRequest {
                            page: Some(PageRequest {
                                page_size: 100,
                                page_token: page_token.clone(),
                            }),
                            ..Default::default()
                        },
                    )?)
                    .await
                    .map_err(refused)?
                    .into_inner();
                for w in page.workers {
                    let f = w.fields.unwrap_or_default();
                    if let Some(n) = &name
                        && !f.first_name.eq_ignore_ascii_case(n)
                        && !f.last_name.eq_ignore_ascii_case(n)
                    {
                        continue;
                    }
                    if ids {
                        println!("{}", w.id);
                        continue;
                    }
                    // Where the hours come from: an ERP worker on the
                    // default opening hours is worth a look by the office.
                    let source = match f.availability_source() {
                        AvailabilitySource::Erp => "from the ERP",
                        AvailabilitySource::OpeningHours => "opening hours",
                        AvailabilitySource::Shop | AvailabilitySource::Unspecified => {
                            "set in the shop"
                        }
                    };
                    lines.push(format!(
                        "{}  {} {:<12} {:<18} {} skill(s), {} weekly slot(s) ({source}){}",
                        w.id,
                        f.first_name,
                        f.last_name,
                        f.provider,
                        f.skill_service_ids.len(),
                        f.availability.len(),
                        if f.active { "" } else { ", inactive" }
                    ));
                }
                if page.next_page_token.is_empty() {
                    if !ids {
                        crate::args::print_all(lines);
                    }
                    return Ok(());
                }
                page_token = page.next_page_token;
            }
        }
        PlanningOp::Done {
            intervention,
            minutes,
            started_at,
        } => {
            if let Some(start) = started_at {
                anyhow::ensure!(
                    start <= Utc::now(),
                    "--started-at {start} is still to come: only work that has started is done"
                );
                client
                    .change_interventions(authed(
                        &token,
                        ChangeInterventionsRequest {
                            intervention_id: intervention.to_string(),
                            scope: ChangeScope::One as i32,
                            change: Some(Change::Reschedule(Reschedule {
                                start: ts(Some(start)),
                                ..Default::default()
                            })),
                            ..Default::default()
                        },
                    )?)
                    .await
                    .map_err(refused)?;
            }
            let changed = client
                .change_interventions(authed(
                    &token,
                    ChangeInterventionsRequest {
                        intervention_id: intervention.to_string(),
                        scope: ChangeScope::One as i32,
                        change: Some(Change::Done(MarkDone {
                            actual_minutes: minutes,
                        })),
                        ..Default::default()
                    },
                )?)
                .await
                .map_err(refused)?
                .into_inner()
                .interventions;
            for i in changed {
                let start = i
                    .start
                    .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                    .map(|t| {
                        t.with_timezone(&crate::args::ZONE)
                            .format("%a %Y-%m-%d %H:%M")
                            .to_string()
                    })
                    .unwrap_or_default();
                println!(
                    "intervention {} done: started {start}, {} min worked",
                    i.id, i.actual_minutes
                );
            }
            Ok(())
        }
        PlanningOp::Interventions {
            worker,
            customer,
            order,
            from,
            to,
            unassigned,
            ids,
            time_zone,
        } => {
            let mut page_token = String::new();
            let mut lines = Vec::new();
            loop {
                let req = ListInterventionsRequest {
                    page: Some(PageRequest {
                        page_size: 200,
                        page_token: page_token.clone(),
                    }),
                    worker_id: worker.map(|w| w.to_string()).unwrap_or_default(),
                    customer_id: customer.map(|c| c.to_string()).unwrap_or_default(),
                    order_id: order.map(|o| o.to_string()).unwrap_or_default(),
                    from: ts(from),
                    to: ts(to),
                    unassigned_only: unassigned,
                };
                let page = client
                    .list_interventions(authed(&token, req)?)
                    .await
                    .map_err(refused)?
                    .into_inner();
                for i in page.interventions {
                    if ids {
                        println!("{}", i.id);
                        continue;
                    }
                    let local = |t: Option<prost_types::Timestamp>| {
                        t.and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                            .map(|t| t.with_timezone(&time_zone))
                    };
                    let (start, end) = (local(i.start), local(i.end));
                    let status = InterventionStatus::try_from(i.status)
                        .map(|s| {
                            s.as_str_name()
                                .trim_start_matches("INTERVENTION_STATUS_")
                                .to_lowercase()
                        })
                        .unwrap_or_default();
                    lines.push(format!(
                        "{}-{}  {}  #{:<3} {:<9} order {}  worker {}",
                        start
                            .map(|s| s.format("%a %Y-%m-%d %H:%M").to_string())
                            .unwrap_or_default(),
                        end.map(|e| e.format("%H:%M").to_string())
                            .unwrap_or_default(),
                        i.id,
                        i.occurrence,
                        status,
                        i.order_id,
                        if i.worker_id.is_empty() {
                            format!("none ({})", i.unassigned_reason)
                        } else {
                            i.worker_id
                        },
                    ));
                }
                if page.next_page_token.is_empty() {
                    if !ids {
                        crate::args::print_all(lines);
                    }
                    return Ok(());
                }
                page_token = page.next_page_token;
            }
        }
    }
}
