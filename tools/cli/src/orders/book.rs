//! `relais book`: a one-time or recurring booking of a service.

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use relais_proto::{
    catalogue::{ListServicesRequest, catalogue_service_client::CatalogueServiceClient},
    orders::{PaymentMode, PlaceBookingRequest, Recurrence, Schedule},
    types::PageRequest,
};
use tonic::transport::Channel;
use uuid::Uuid;

use super::{
    calls::{CATALOGUE_ADDR, ORDERS_ADDR, catalogue_client, orders_client, refused},
    show::show_order,
};
use crate::{
    auth::{Actor, admin_token, token},
    client::authed,
    demo,
};

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
