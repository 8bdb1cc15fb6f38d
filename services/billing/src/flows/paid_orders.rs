//! Paid orders, from the orders stream: an order paid at order is
//! invoiced, one of monthly billing held for its month, a booking held for
//! its interventions; a cancelled order's draft is voided and its invoice
//! credited.

use chrono::{DateTime, Utc};
use prost::Message;
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    context::Ctx,
    error::{Error, Result},
    nats::Namespace,
};
use relais_proto::{
    events::OrderStatusChanged,
    orders::{Order, OrderStatus, PaymentMode},
};
use sqlx::PgConnection;

use super::issue::{credit, credit_with};
use crate::{
    SERVICE,
    invoices::{self, Refund, ToCredit},
    pdfs::Seller,
    services,
};

const ORDERS: &str = "orders";

/// `max_attempts`: `RELAIS_CONSUMER_MAX_DELIVER`.
pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "billing-paid-orders".into(),
        source_service: ORDERS.into(),
        filter_subjects: vec![
            ns.event_filter(ORDERS, "order", "confirmed"),
            ns.event_filter(ORDERS, "order", "cancelled"),
        ],
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

pub struct PaidOrders {
    pub ns: Namespace,
    pub seller: Seller,
}

impl Handler for PaidOrders {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let e = OrderStatusChanged::decode(event.payload.as_ref()).map_err(HandlerError::poison)?;
        let (Some(meta), Some(order)) = (e.meta, e.order) else {
            return Err(HandlerError::poison("event without meta or order"));
        };
        if e.to == OrderStatus::Cancelled as i32 {
            let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
                .map_err(HandlerError::poison)?;
            return cancelled(tx, &ctx, &self.seller, &order)
                .await
                .map_err(handler_error);
        }
        if order.kind == "booking" && e.to == OrderStatus::Confirmed as i32 {
            let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
                .map_err(HandlerError::poison)?;
            return services::hold_booking(tx, &ctx, &order)
                .await
                .map_err(handler_error);
        }
        // Paid at order: products by card or on invoice, and hour packs.
        // Monthly residence billing and bookings are invoiced by period.
        let monthly =
            order.kind == "product" && order.payment_mode == PaymentMode::ResidenceMonthly as i32;
        let billed_now = order.kind == "hour_pack" || (order.kind == "product" && !monthly);
        if e.to != OrderStatus::Confirmed as i32 || !(billed_now || monthly) {
            return Ok(());
        }
        let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
            .map_err(HandlerError::poison)?;
        if monthly {
            let at = meta
                .occurred_at
                .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                .unwrap_or_else(Utc::now);
            return invoices::hold_monthly(tx, &ctx, &order, at)
                .await
                .map_err(handler_error);
        }
        invoices::draft(tx, &ctx, &order)
            .await
            .map_err(handler_error)
    }
}

/// Bad data in an event never gets better; anything else may (a database
/// hiccup), and keeps its cause for the logs and the dead letter.
fn handler_error(e: Error) -> HandlerError {
    match e {
        Error::InvalidArgument(_) => HandlerError::poison(e),
        Error::Db(db) => HandlerError::Retry(db.into()),
        other => HandlerError::Retry(anyhow::anyhow!("{other}")),
    }
}

/// A cancelled order: its draft is voided (invoices::cancel), its
/// validated invoice credited for whatever is left.
async fn cancelled(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    order: &Order,
) -> Result<()> {
    match invoices::cancel(conn, ctx, order).await? {
        ToCredit::Nothing => Ok(()),
        ToCredit::Rest(invoice) => {
            match credit(conn, ctx, seller, invoice, None, "order cancelled").await {
                // Already credited in full (a refund came first): nothing to do.
                Err(Error::FailedPrecondition(_)) => Ok(()),
                other => other.map(|_| ()),
            }
        }
        ToCredit::Lines {
            invoice,
            lines,
            reason,
        } => credit_with(conn, ctx, seller, invoice, Refund::Lines(lines), &reason)
            .await
            .map(|_| ()),
    }
}
