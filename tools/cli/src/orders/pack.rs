//! `relais buy-pack`: an hour pack bought for a customer.

use anyhow::Context;
use clap::Args;
use relais_proto::{
    catalogue::ListHourPacksRequest,
    orders::{OrderStatus, PlaceHourPackOrderRequest},
};
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
