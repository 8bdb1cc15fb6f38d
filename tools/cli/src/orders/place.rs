//! `relais order`: a product order placed by a staff member.

use anyhow::Context;
use clap::{Args, ValueEnum};
use relais_proto::{
    catalogue::ListProductsRequest,
    orders::{OrderLineRequest, PaymentMode, PlaceProductOrderRequest},
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
