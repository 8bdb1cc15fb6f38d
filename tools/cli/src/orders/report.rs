//! `relais orders`: reading orders back as a list, a CSV export or
//! statistics.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use relais_proto::{
    orders::{
        ExportOrdersRequest, GetOrderStatisticsRequest, ListOrdersRequest, OrderFilter,
        OrderStatus, StatisticsDimension,
    },
    types::PageRequest,
};
use uuid::Uuid;

use super::status::Status;
use super::{
    calls::{ORDERS_ADDR, orders_client, refused},
    show::{money, rfc3339, status_word, timestamp},
};
use crate::{
    auth::{Actor, token},
    client::authed,
    demo,
};

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Product,
    Booking,
    #[value(alias = "hour_pack")]
    HourPack,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Product => "product",
            Kind::Booking => "booking",
            Kind::HourPack => "hour_pack",
        }
    }
}

#[derive(Subcommand)]
pub enum OrdersOp {
    /// One line per order, newest first: placed at, id, kind, status,
    /// customer, total incl. VAT, placed by.
    List(FilterArgs),
    /// The traceability export as CSV on stdout, one row per order line.
    Export(FilterArgs),
    /// Totals per item, residence, kind or period. Cancelled orders and
    /// open quotes are left out unless --status asks for them.
    Stats(StatsArgs),
}

#[derive(Args)]
pub struct StatsArgs {
    #[arg(long, value_enum)]
    by: Dimension,
    /// IANA time zone of the days, weeks and months.
    #[arg(long, default_value = "Europe/Paris")]
    time_zone: String,
    #[command(flatten)]
    filter: FilterArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Dimension {
    Item,
    Residence,
    Kind,
    Day,
    Week,
    Month,
}

/// Which orders, and who asks (the answer holds what they may see).
#[derive(Args)]
pub struct FilterArgs {
    /// Only this customer's orders.
    #[arg(long, value_parser = crate::args::uuid)]
    customer: Option<Uuid>,
    /// Only the orders of this residence's residents.
    #[arg(long, value_parser = crate::args::uuid)]
    residence: Option<Uuid>,
    /// Only orders of this kind.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Only orders in this status.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Placed by this token subject, e.g. demo-staff.
    #[arg(long)]
    placed_by: Option<String>,
    /// Placed at or after, RFC 3339 (2026-11-01T00:00:00Z).
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// Placed strictly before, RFC 3339.
    #[arg(long)]
    to: Option<DateTime<Utc>>,
    /// Act as this staff member (token subject): their residences' orders
    /// only. Default: an admin, the whole tenant.
    #[arg(long)]
    staff: Option<String>,
    #[arg(long, env = "ORDERS_ADDR", default_value = ORDERS_ADDR)]
    orders: String,
    /// Defaults to the demo tenant.
    #[arg(long, value_parser = crate::args::uuid)]
    tenant: Option<Uuid>,
}

impl FilterArgs {
    fn filter(&self) -> OrderFilter {
        OrderFilter {
            customer_id: self.customer.map(|c| c.to_string()).unwrap_or_default(),
            residence_id: self.residence.map(|r| r.to_string()).unwrap_or_default(),
            kind: self.kind.map(|k| k.name().to_owned()).unwrap_or_default(),
            status: self
                .status
                .map_or(OrderStatus::Unspecified, OrderStatus::from) as i32,
            placed_by: self.placed_by.clone().unwrap_or_default(),
            placed_from: self.from.map(timestamp),
            placed_to: self.to.map(timestamp),
        }
    }

    fn actor(&self) -> Actor {
        match &self.staff {
            Some(sub) => Actor::Staff(sub.clone()),
            None => Actor::Admin,
        }
    }

    fn tenant(&self) -> Uuid {
        self.tenant.unwrap_or(demo::TENANT)
    }
}

pub async fn report(op: OrdersOp) -> anyhow::Result<()> {
    match op {
        OrdersOp::List(f) => list(&f).await,
        OrdersOp::Export(f) => export(&f).await,
        OrdersOp::Stats(s) => stats(s.by, s.time_zone, &s.filter).await,
    }
}

async fn list(f: &FilterArgs) -> anyhow::Result<()> {
    let token = token(f.tenant(), &f.actor())?;
    let mut client = orders_client(&f.orders).await?;
    let mut page_token = String::new();
    let mut count = 0;
    loop {
        let page = client
            .list_orders(authed(
                &token,
                ListOrdersRequest {
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token,
                    }),
                    filter: Some(f.filter()),
                },
            )?)
            .await
            .map_err(refused)?
            .into_inner();
        for o in &page.orders {
            println!(
                "{}  {}  {:<9}  {:<11}  {:<28}  {:>12}  {}",
                rfc3339(o.placed_at.as_ref()),
                o.id,
                o.kind,
                status_word(o.status),
                o.customer_name,
                money(o.total_incl_vat.as_ref()),
                o.placed_by
            );
        }
        count += page.orders.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if count == 0 {
        println!("none");
    } else {
        eprintln!("{count} orders");
    }
    Ok(())
}

async fn export(f: &FilterArgs) -> anyhow::Result<()> {
    let token = token(f.tenant(), &f.actor())?;
    let mut chunks = orders_client(&f.orders)
        .await?
        .export_orders(authed(
            &token,
            ExportOrdersRequest {
                filter: Some(f.filter()),
            },
        )?)
        .await
        .map_err(refused)?
        .into_inner();
    let mut out = std::io::stdout();
    while let Some(chunk) = chunks.message().await.map_err(refused)? {
        match out.write_all(&chunk.data) {
            // Piped into `head`: stop quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

async fn stats(by: Dimension, time_zone: String, f: &FilterArgs) -> anyhow::Result<()> {
    let dimension = match by {
        Dimension::Item => StatisticsDimension::Item,
        Dimension::Residence => StatisticsDimension::Residence,
        Dimension::Kind => StatisticsDimension::Kind,
        Dimension::Day => StatisticsDimension::Day,
        Dimension::Week => StatisticsDimension::Week,
        Dimension::Month => StatisticsDimension::Month,
    };
    let token = token(f.tenant(), &f.actor())?;
    let rows = orders_client(&f.orders)
        .await?
        .get_order_statistics(authed(
            &token,
            GetOrderStatisticsRequest {
                dimension: dimension as i32,
                filter: Some(f.filter()),
                time_zone,
            },
        )?)
        .await
        .map_err(refused)?
        .into_inner()
        .rows;
    if rows.is_empty() {
        println!("none");
        return Ok(());
    }
    println!(
        "{:<52} {:>7} {:>9} {:>15} {:>15}",
        "", "orders", "quantity", "excl. VAT", "incl. VAT"
    );
    for r in &rows {
        println!(
            "{:<52} {:>7} {:>9} {:>15} {:>15}",
            r.label,
            r.orders,
            r.quantity,
            money(r.total_excl_vat.as_ref()),
            money(r.total_incl_vat.as_ref())
        );
    }
    Ok(())
}
