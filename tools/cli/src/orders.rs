//! Order commands: place a product order, book a service, buy an hour pack,
//! move an order along its life cycle, and read orders back (list, CSV
//! export, statistics). Each call carries a token minted here for whoever
//! the command acts as: an admin by default, or a staff member, the
//! customer, or the ERP connector when asked.

use std::{io::Write, time::SystemTime};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::{Args, Subcommand, ValueEnum};
use relais_platform::auth::{Claims, Role};
use relais_proto::{
    catalogue::{
        ListHourPacksRequest, ListProductsRequest, ListServicesRequest,
        catalogue_service_client::CatalogueServiceClient,
    },
    orders::{
        ChangeOrderStatusRequest, ExportOrdersRequest, GetOrderStatisticsRequest,
        ListOrdersRequest, Order, OrderFilter, OrderLineRequest, OrderStatus, PaymentMode,
        PlaceBookingRequest, PlaceHourPackOrderRequest, PlaceProductOrderRequest, Recurrence,
        Schedule, StatisticsDimension, orders_service_client::OrdersServiceClient,
    },
    types::{Money, PageRequest},
};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::{admin_token, authed, authenticator, connect, demo};

const CATALOGUE_ADDR: &str = "http://127.0.0.1:50051";
const ORDERS_ADDR: &str = "http://127.0.0.1:50052";

#[derive(Args)]
pub struct OrderArgs {
    /// The customer's id (`relais dev` prints the demo resident's).
    #[arg(long, value_parser = crate::args::uuid)]
    customer: Uuid,
    /// SKU=QUANTITY, repeatable, e.g. --line ENT-001=2.
    #[arg(long = "line", required = true)]
    lines: Vec<String>,
    /// The staff member placing it (token subject).
    #[arg(long, default_value = demo::STAFF)]
    staff: String,
    #[arg(long, value_enum, default_value = "residence-monthly")]
    payment: Payment,
    /// Confirmation e-mail when the customer has none.
    #[arg(long, default_value = "", hide_default_value = true)]
    email: String,
    /// Print only the new order's id on stdout (its summary goes to
    /// stderr), for scripts: ORDER=$(relais ... --id-only).
    #[arg(long)]
    id_only: bool,
    #[arg(long, env = "CATALOGUE_ADDR", default_value = CATALOGUE_ADDR)]
    catalogue: String,
    #[arg(long, env = "ORDERS_ADDR", default_value = ORDERS_ADDR)]
    orders: String,
    /// Defaults to the demo tenant.
    #[arg(long, value_parser = crate::args::uuid)]
    tenant: Option<Uuid>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Payment {
    Card,
    Invoice,
    ResidenceMonthly,
}

#[derive(Args)]
pub struct BookArgs {
    /// The customer's id (`relais dev` prints the demo ones).
    #[arg(long, value_parser = crate::args::uuid)]
    customer: Uuid,
    /// The service's code, e.g. MENAGE (`relais catalogue services`).
    #[arg(long)]
    service: String,
    /// The date of a one-time booking, or the first date a recurring one
    /// may start: YYYY-MM-DD, or tomorrow, next-monday, +3 (days on)...
    #[arg(long, value_parser = crate::args::day)]
    date: NaiveDate,
    /// Local start time, HH:MM.
    #[arg(long)]
    start: String,
    /// Length of each occurrence, 30 to 720 minutes.
    #[arg(long)]
    minutes: i32,
    /// Recurring: ISO weekdays, 1 = Monday ... 7 = Sunday, e.g. 1,4.
    #[arg(long, value_delimiter = ',')]
    weekdays: Vec<i32>,
    /// Recurring: every N weeks [default when recurring: 1].
    #[arg(long)]
    every_weeks: Option<i32>,
    /// Recurring monthly by date instead: every N months on --date's day
    /// (the month's last day when it has fewer).
    #[arg(long, conflicts_with_all = ["weekdays", "every_weeks"])]
    every_months: Option<i32>,
    /// Recurring: this many occurrences.
    #[arg(long, conflicts_with = "until")]
    count: Option<i32>,
    /// Recurring: up to this date, inclusive (same forms as --date).
    #[arg(long, value_parser = crate::args::day)]
    until: Option<NaiveDate>,
    /// IANA time zone of the date and start time.
    #[arg(long, default_value = "Europe/Paris")]
    time_zone: String,
    /// The worker the customer chose; default: any qualified worker.
    #[arg(long, value_parser = crate::args::uuid)]
    worker: Option<Uuid>,
    /// How it is paid [default: hour-pack with --pack-order, card otherwise].
    #[arg(long, value_enum)]
    payment: Option<BookingPayment>,
    /// The customer's paid (confirmed) hour-pack order whose hours pay for it.
    #[arg(long, value_parser = crate::args::uuid)]
    pack_order: Option<Uuid>,
    /// Instructions for the worker (door code, pets...).
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
    /// Confirmation e-mail when the customer has none.
    #[arg(long, default_value = "", hide_default_value = true)]
    email: String,
    /// Book as the customer themselves (a customer token) instead of an admin.
    #[arg(long)]
    as_customer: bool,
    /// Place it even when no qualified worker is free for an occurrence
    /// (staff only): those are planned unassigned, for the office to see
    /// with `relais planning interventions --unassigned`.
    #[arg(long)]
    allow_unassigned: bool,
    /// Print only the new order's id on stdout (its summary goes to
    /// stderr), for scripts: ORDER=$(relais ... --id-only).
    #[arg(long)]
    id_only: bool,
    #[arg(long, env = "CATALOGUE_ADDR", default_value = CATALOGUE_ADDR)]
    catalogue: String,
    #[arg(long, env = "ORDERS_ADDR", default_value = ORDERS_ADDR)]
    orders: String,
    /// Defaults to the demo tenant.
    #[arg(long, value_parser = crate::args::uuid)]
    tenant: Option<Uuid>,
}

#[derive(Clone, Copy, ValueEnum)]
enum BookingPayment {
    Card,
    Invoice,
    ResidenceMonthly,
    HourPack,
}

#[derive(Args)]
pub struct BuyPackArgs {
    /// The customer's id.
    #[arg(long, value_parser = crate::args::uuid)]
    customer: Uuid,
    /// The pack's id or exact name, e.g. "Pack 10 h entretien"
    /// (`relais catalogue packs`).
    #[arg(long)]
    pack: String,
    /// Confirmation e-mail when the customer has none.
    #[arg(long, default_value = "", hide_default_value = true)]
    email: String,
    /// Buy as the customer themselves (a customer token) instead of an admin.
    #[arg(long)]
    as_customer: bool,
    /// Print only the new order's id on stdout (its summary goes to
    /// stderr), for scripts: ORDER=$(relais ... --id-only).
    #[arg(long)]
    id_only: bool,
    #[arg(long, env = "CATALOGUE_ADDR", default_value = CATALOGUE_ADDR)]
    catalogue: String,
    #[arg(long, env = "ORDERS_ADDR", default_value = ORDERS_ADDR)]
    orders: String,
    /// Defaults to the demo tenant.
    #[arg(long, value_parser = crate::args::uuid)]
    tenant: Option<Uuid>,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The order's id.
    #[arg(value_parser = crate::args::uuid)]
    id: Uuid,
    /// The status to move it to.
    #[arg(value_enum)]
    status: Status,
    /// Why it is cancelled (required to cancel).
    #[arg(long, default_value = "", hide_default_value = true)]
    reason: String,
    /// Picking-list reference (required for preparing).
    #[arg(long, default_value = "", hide_default_value = true)]
    picking_list: String,
    /// Delivery-note reference (required for shipped).
    #[arg(long, default_value = "", hide_default_value = true)]
    delivery_note: String,
    /// The ERP's number for the order.
    #[arg(long, default_value = "", hide_default_value = true)]
    external_ref: String,
    /// Refuse unless the order is at this version.
    #[arg(long)]
    expected_version: Option<i64>,
    /// Act as the ERP connector: the change's origin is erp:<connection>.
    #[arg(long)]
    as_connector: bool,
    /// The ERP connection, with --as-connector.
    #[arg(long, default_value = "demo-erp", requires = "as_connector")]
    connection: String,
    #[arg(long, env = "ORDERS_ADDR", default_value = ORDERS_ADDR)]
    orders: String,
    /// Defaults to the demo tenant.
    #[arg(long, value_parser = crate::args::uuid)]
    tenant: Option<Uuid>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Status {
    Placed,
    Quote,
    Confirmed,
    Preparing,
    Shipped,
    Delivered,
    #[value(alias = "in_progress")]
    InProgress,
    Completed,
    Cancelled,
}

impl From<Status> for OrderStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Placed => OrderStatus::Placed,
            Status::Quote => OrderStatus::Quote,
            Status::Confirmed => OrderStatus::Confirmed,
            Status::Preparing => OrderStatus::Preparing,
            Status::Shipped => OrderStatus::Shipped,
            Status::Delivered => OrderStatus::Delivered,
            Status::InProgress => OrderStatus::InProgress,
            Status::Completed => OrderStatus::Completed,
            Status::Cancelled => OrderStatus::Cancelled,
        }
    }
}

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

/// Who a command acts as.
pub(crate) enum Actor {
    Admin,
    Staff(String),
    /// The customer themselves; the token's subject is their id.
    Customer(Uuid),
    /// The ERP connector for one connection: changes carry erp:<connection>.
    Connector(String),
}

pub(crate) fn token(tenant: Uuid, actor: &Actor) -> anyhow::Result<String> {
    let (sub, role, customer_id, connection) = match actor {
        Actor::Admin => return admin_token(tenant),
        Actor::Staff(sub) => (sub.clone(), Role::Staff, None, None),
        Actor::Customer(id) => (id.to_string(), Role::Customer, Some(*id), None),
        Actor::Connector(c) => (
            "connector".to_owned(),
            Role::Connector,
            None,
            Some(c.clone()),
        ),
    };
    authenticator()?.mint(&Claims {
        sub,
        tenant,
        role,
        customer_id,
        residences: vec![],
        connection,
        exp: Utc::now().timestamp() + 3600,
    })
}

/// A refused call, printed as its code and the service's message.
fn refused(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("refused ({:?}): {}", status.code(), status.message())
}

async fn orders_client(addr: &str) -> anyhow::Result<OrdersServiceClient<Channel>> {
    Ok(OrdersServiceClient::new(connect(addr).await?))
}

async fn catalogue_client(addr: &str) -> anyhow::Result<CatalogueServiceClient<Channel>> {
    Ok(CatalogueServiceClient::new(connect(addr).await?))
}

pub async fn place_order(args: OrderArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.unwrap_or(demo::TENANT);
    let mut products = catalogue_client(&args.catalogue).await?;
    let admin = admin_token(tenant)?;
    let mut lines = Vec::new();
    for line in &args.lines {
        let (sku, quantity) = line
            .split_once('=')
            .with_context(|| format!("{line:?}: use SKU=QUANTITY"))?;
        let found = products
            .list_products(authed(
                &admin,
                ListProductsRequest {
                    query: sku.into(),
                    ..Default::default()
                },
            )?)
            .await
            .map_err(refused)?
            .into_inner()
            .products
            .into_iter()
            .find(|p| p.sku == sku)
            .with_context(|| format!("no product with SKU {sku}"))?;
        lines.push(OrderLineRequest {
            item_id: found.id,
            quantity: quantity
                .parse()
                .with_context(|| format!("{line:?}: the quantity is not a number"))?,
            discount_bp: 0,
        });
    }
    let staff = token(tenant, &Actor::Staff(args.staff))?;
    let payment_mode = match args.payment {
        Payment::Card => PaymentMode::Card,
        Payment::Invoice => PaymentMode::Invoice,
        Payment::ResidenceMonthly => PaymentMode::ResidenceMonthly,
    };
    let req = PlaceProductOrderRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: args.customer.to_string(),
        lines,
        shipping_method: "delivery".into(),
        payment_mode: payment_mode as i32,
        terms_accepted: true,
        confirmation_email: args.email,
        ..Default::default()
    };
    let order = orders_client(&args.orders)
        .await?
        .place_product_order(authed(&staff, req)?)
        .await
        .map_err(refused)?
        .into_inner()
        .order
        .context("no order")?;
    show_order(&order, args.id_only);
    Ok(())
}

/// The service with exactly this code (inactive ones too, so that the
/// orders service says why it cannot be booked).
async fn service_id(
    client: &mut CatalogueServiceClient<Channel>,
    token: &str,
    code: &str,
) -> anyhow::Result<String> {
    let mut page_token = String::new();
    loop {
        let page = client
            .list_services(authed(
                token,
                ListServicesRequest {
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token,
                    }),
                    include_inactive: true,
                    query: code.into(),
                    ..Default::default()
                },
            )?)
            .await
            .map_err(refused)?
            .into_inner();
        if let Some(s) = page.services.into_iter().find(|s| s.code == code) {
            return Ok(s.id);
        }
        if page.next_page_token.is_empty() {
            anyhow::bail!("no service with code {code} (see `relais catalogue services`)");
        }
        page_token = page.next_page_token;
    }
}

pub async fn book(args: BookArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.unwrap_or(demo::TENANT);
    let admin = admin_token(tenant)?;
    let service_id = service_id(
        &mut catalogue_client(&args.catalogue).await?,
        &admin,
        &args.service,
    )
    .await?;
    let recurring = !args.weekdays.is_empty()
        || args.every_weeks.is_some()
        || args.every_months.is_some()
        || args.count.is_some()
        || args.until.is_some();
    let recurrence = recurring.then(|| Recurrence {
        interval_weeks: match args.every_months {
            Some(_) => 0,
            None => args.every_weeks.unwrap_or(1),
        },
        weekdays: args.weekdays.clone(),
        end_date: args.until.map(|d| d.to_string()).unwrap_or_default(),
        count: args.count.unwrap_or_default(),
        interval_months: args.every_months.unwrap_or_default(),
    });
    let payment_mode = match (args.payment, args.pack_order) {
        (Some(BookingPayment::Card), _) | (None, None) => PaymentMode::Card,
        (Some(BookingPayment::Invoice), _) => PaymentMode::Invoice,
        (Some(BookingPayment::ResidenceMonthly), _) => PaymentMode::ResidenceMonthly,
        (Some(BookingPayment::HourPack), _) | (None, Some(_)) => PaymentMode::HourPack,
    };
    let req = PlaceBookingRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: args.customer.to_string(),
        service_id,
        address: None,
        schedule: Some(Schedule {
            time_zone: args.time_zone,
            first_date: args.date.to_string(),
            start_time: args.start,
            duration_minutes: args.minutes,
            recurrence,
        }),
        worker_id: args.worker.map(|w| w.to_string()).unwrap_or_default(),
        payment_mode: payment_mode as i32,
        terms_accepted: true,
        hour_pack_order_id: args.pack_order.map(|p| p.to_string()).unwrap_or_default(),
        note: args.note,
        confirmation_email: args.email,
        expected_total_incl_vat: None,
        new_customer: None,
        allow_unassigned: args.allow_unassigned,
    };
    let actor = if args.as_customer {
        Actor::Customer(args.customer)
    } else {
        Actor::Admin
    };
    let order = orders_client(&args.orders)
        .await?
        .place_booking(authed(&token(tenant, &actor)?, req)?)
        .await
        .map_err(refused)?
        .into_inner()
        .order
        .context("no order")?;
    show_order(&order, args.id_only);
    Ok(())
}

pub async fn buy_pack(args: BuyPackArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.unwrap_or(demo::TENANT);
    let admin = admin_token(tenant)?;
    let packs = catalogue_client(&args.catalogue)
        .await?
        .list_hour_packs(authed(&admin, ListHourPacksRequest::default())?)
        .await
        .map_err(refused)?
        .into_inner()
        .hour_packs;
    let Some(pack) = packs
        .iter()
        .find(|p| p.id == args.pack || p.name == args.pack)
    else {
        let names: Vec<String> = packs.iter().map(|p| format!("{:?}", p.name)).collect();
        anyhow::bail!(
            "no pack on sale with id or name {:?}; on sale: {}",
            args.pack,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
    };
    let req = PlaceHourPackOrderRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        customer_id: args.customer.to_string(),
        hour_pack_id: pack.id.clone(),
        terms_accepted: true,
        confirmation_email: args.email,
        expected_total_incl_vat: None,
        new_customer: None,
    };
    let actor = if args.as_customer {
        Actor::Customer(args.customer)
    } else {
        Actor::Admin
    };
    let order = orders_client(&args.orders)
        .await?
        .place_hour_pack_order(authed(&token(tenant, &actor)?, req)?)
        .await
        .map_err(refused)?
        .into_inner()
        .order
        .context("no order")?;
    show_order(&order, args.id_only);
    if order.status == OrderStatus::Placed as i32 {
        let hint = format!(
            "  its hours pay for bookings once it is paid; record the payment with\n  \
             relais order-status {} confirmed",
            order.id
        );
        if args.id_only {
            eprintln!("{hint}");
        } else {
            println!("{hint}");
        }
    }
    Ok(())
}

pub async fn change_status(args: StatusArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.unwrap_or(demo::TENANT);
    let actor = if args.as_connector {
        Actor::Connector(args.connection)
    } else {
        Actor::Admin
    };
    let req = ChangeOrderStatusRequest {
        id: args.id.to_string(),
        expected_version: args.expected_version.unwrap_or_default(),
        status: OrderStatus::from(args.status) as i32,
        reason: args.reason,
        picking_list_ref: args.picking_list,
        delivery_note_ref: args.delivery_note,
        external_ref: args.external_ref,
    };
    let o = orders_client(&args.orders)
        .await?
        .change_order_status(authed(&token(tenant, &actor)?, req)?)
        .await
        .map_err(refused)?
        .into_inner()
        .order
        .context("no order")?;
    println!(
        "{} order {} is {}, version {} (last change from {}, {})",
        o.kind.replace('_', "-"),
        o.id,
        status_word(o.status),
        o.version,
        o.origin,
        rfc3339(o.updated_at.as_ref()),
    );
    for (what, value) in [
        ("reason", &o.status_reason),
        ("picking list", &o.picking_list_ref),
        ("delivery note", &o.delivery_note_ref),
        ("ERP number", &o.external_ref),
    ] {
        if !value.is_empty() {
            println!("  {what}: {value}");
        }
    }
    Ok(())
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

/// An order's summary on stdout; with `id_only`, its id on stdout and the
/// summary on stderr.
fn show_order(o: &Order, id_only: bool) {
    let text = order_summary(o);
    if id_only {
        eprint!("{text}");
        println!("{}", o.id);
    } else {
        print!("{text}");
    }
}

fn order_summary(o: &Order) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} order {} {} by {} ({}) for {}",
        o.kind.replace('_', "-"),
        o.id,
        status_word(o.status),
        o.placed_by,
        o.placed_by_role,
        o.customer_name
    );
    if let Some(b) = &o.booking {
        let s = b.schedule.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} at {} {} for {} min, {}",
            b.service_code,
            s.start_time,
            s.time_zone,
            s.duration_minutes,
            match &s.recurrence {
                None => format!("once on {}", s.first_date),
                Some(r) => format!(
                    "every {} week(s) on weekdays {:?} from {}{}",
                    r.interval_weeks,
                    r.weekdays,
                    s.first_date,
                    if r.count > 0 {
                        format!(", {} times", r.count)
                    } else {
                        format!(" until {}", r.end_date)
                    }
                ),
            }
        );
        let _ = writeln!(
            out,
            "  {} occurrence(s): first {}, last {}; worker {}",
            b.occurrences,
            rfc3339(b.first_start.as_ref()),
            rfc3339(b.last_start.as_ref()),
            if b.worker_id.is_empty() {
                "any qualified"
            } else {
                &b.worker_id
            }
        );
        if !b.hour_pack_order_id.is_empty() {
            let _ = writeln!(
                out,
                "  paid with the hours of pack order {}",
                b.hour_pack_order_id
            );
        }
    }
    if let Some(p) = &o.hour_pack {
        let _ = writeln!(
            out,
            "  pack \"{}\": {} min of {}",
            p.name,
            p.duration_minutes,
            if p.eligible_service_ids.is_empty() {
                "any service at its VAT rate".to_owned()
            } else {
                format!("{} services", p.eligible_service_ids.len())
            }
        );
    }
    for l in &o.lines {
        let _ = writeln!(
            out,
            "  {:<10} {:<48} x{:<3} {:>12} excl. VAT, VAT {}.{:02} %",
            l.reference,
            l.name,
            l.quantity,
            money(l.total_excl_vat.as_ref()),
            l.vat_rate_bp / 100,
            l.vat_rate_bp % 100
        );
    }
    let _ = writeln!(
        out,
        "  total {} excl. VAT + {} VAT = {}; {}; confirmation to {}",
        money(o.total_excl_vat.as_ref()),
        money(o.total_vat.as_ref()),
        money(o.total_incl_vat.as_ref()),
        payment_word(o.payment_mode),
        o.confirmation_email
    );
    out
}

/// `confirmed`, `in-progress`...: the words the commands take.
fn status_word(status: i32) -> String {
    OrderStatus::try_from(status).map_or_else(
        |_| format!("status {status}"),
        |s| {
            s.as_str_name()
                .trim_start_matches("ORDER_STATUS_")
                .to_lowercase()
                .replace('_', "-")
        },
    )
}

fn payment_word(mode: i32) -> String {
    PaymentMode::try_from(mode).map_or_else(
        |_| format!("payment mode {mode}"),
        |m| {
            m.as_str_name()
                .trim_start_matches("PAYMENT_MODE_")
                .to_lowercase()
                .replace('_', " ")
        },
    )
}

/// An amount with its two decimals, computed without floats.
fn money(m: Option<&Money>) -> String {
    let Some(m) = m else {
        return "-".to_owned();
    };
    let sign = if m.amount_cents < 0 { "-" } else { "" };
    let cents = m.amount_cents.unsigned_abs();
    let currency = match m.currency.as_str() {
        "EUR" | "" => "€",
        other => other,
    };
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

/// A protobuf timestamp (built through its `From<SystemTime>`).
fn timestamp<T: From<SystemTime>>(t: DateTime<Utc>) -> T {
    SystemTime::from(t).into()
}

/// A protobuf timestamp as RFC 3339 in UTC, or `-`.
fn rfc3339<T: Clone + TryInto<SystemTime>>(t: Option<&T>) -> String {
    t.cloned()
        .and_then(|t| t.try_into().ok())
        .map(|t| DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_exactly() {
        let eur = |c| Money {
            amount_cents: c,
            currency: "EUR".into(),
        };
        assert_eq!(money(Some(&eur(23_900))), "239.00 €");
        assert_eq!(money(Some(&eur(5))), "0.05 €");
        assert_eq!(money(Some(&eur(-120))), "-1.20 €");
        assert_eq!(money(None), "-");
    }

    #[test]
    fn statuses_read_as_the_words_the_commands_take() {
        assert_eq!(status_word(OrderStatus::InProgress as i32), "in-progress");
        assert_eq!(status_word(OrderStatus::Confirmed as i32), "confirmed");
        for s in Status::value_variants() {
            let word = s.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(
                word.as_deref(),
                Some(status_word(OrderStatus::from(*s) as i32).as_str())
            );
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let t: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap_or_default();
        let filter = OrderFilter {
            placed_from: Some(timestamp(t)),
            ..Default::default()
        };
        assert_eq!(rfc3339(filter.placed_from.as_ref()), "2026-11-23T10:00:00Z");
    }
}
