//! `relais order-status`: an order moved along its life cycle.

use anyhow::Context;
use clap::{Args, ValueEnum};
use relais_proto::orders::{ChangeOrderStatusRequest, OrderStatus};
use uuid::Uuid;

use super::{
    calls::{ORDERS_ADDR, orders_client, refused},
    show::{rfc3339, status_word},
};
use crate::{
    auth::{Actor, token},
    client::authed,
    demo,
};

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
pub(super) enum Status {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
