//! Stock held for orders: the catalogue follows the orders stream and takes
//! the quantities of a placed product order off the available stock (a
//! quote holds nothing until it is accepted), and gives them back when the
//! order is cancelled. Real stock is the ERP's: it changes when the ERP
//! says so (SetStock, BulkUpsert), never here.
//!
//! Orders checks the available stock when it prices an order and this
//! consumer applies the order a moment later, so two orders placed in that
//! moment can ask for the same last units; available stock then stops at 0
//! (it never goes negative) and the shortfall is logged for the staff who
//! confirm the order.

use prost::Message;
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    context::Ctx,
    nats::Namespace,
};
use relais_proto::{
    events::{OrderPlaced, OrderStatusChanged, StockChanged},
    orders::{Order, OrderStatus},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::SERVICE;

const ORDERS: &str = "orders";

/// `max_attempts`: `RELAIS_CONSUMER_MAX_DELIVER`.
pub fn spec(ns: &Namespace, max_attempts: i64) -> ConsumerSpec {
    ConsumerSpec {
        service: SERVICE.into(),
        name: "catalogue-stock-reservations".into(),
        source_service: ORDERS.into(),
        filter_subjects: ["placed", "status_changed", "cancelled"]
            .iter()
            .map(|e| ns.event_filter(ORDERS, "order", e))
            .collect(),
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    }
}

pub struct Reservations {
    pub ns: Namespace,
}

impl Handler for Reservations {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let name = event.subject.rsplit('.').next().unwrap_or_default();
        let (meta, order, sign) = match name {
            "placed" => {
                let e =
                    OrderPlaced::decode(event.payload.as_ref()).map_err(HandlerError::poison)?;
                let holds = e
                    .order
                    .as_ref()
                    .is_some_and(|o| o.status == OrderStatus::Placed as i32);
                (e.meta, e.order, if holds { -1 } else { 0 })
            }
            "status_changed" | "cancelled" => {
                let e = OrderStatusChanged::decode(event.payload.as_ref())
                    .map_err(HandlerError::poison)?;
                let (from, to) = (e.from, e.to);
                let sign = if from == OrderStatus::Quote as i32 && to == OrderStatus::Placed as i32
                {
                    -1
                } else if to == OrderStatus::Cancelled as i32 && from != OrderStatus::Quote as i32 {
                    1
                } else {
                    0
                };
                (e.meta, e.order, sign)
            }
            _ => return Ok(()),
        };
        let (Some(meta), Some(order)) = (meta, order) else {
            return Err(HandlerError::poison("event without meta or order"));
        };
        if sign == 0 || order.kind != "product" {
            return Ok(());
        }
        let ctx = Ctx::for_event(SERVICE, &meta, &self.ns, format!("order:{}", order.id))
            .map_err(HandlerError::poison)?;
        apply(tx, &ctx, &order, sign).await
    }
}

/// Takes (`sign` -1) or gives back (+1) the order's quantities.
async fn apply(
    tx: &mut PgConnection,
    ctx: &Ctx,
    order: &Order,
    sign: i64,
) -> Result<(), HandlerError> {
    for line in &order.lines {
        let Ok(id) = Uuid::parse_str(&line.item_id) else {
            return Err(HandlerError::poison(format!(
                "line {}: bad item id",
                line.line_no
            )));
        };
        let quantity = i64::from(line.quantity);
        // Products only: an order line may name an item deleted since.
        let row: Option<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "update products p set
                 stock_available = greatest(0, least(p.stock_real, p.stock_available + $3)),
                 version = p.version + 1, updated_at = now()
             from (select stock_available from products
                   where tenant_id = $1 and id = $2 for update) before
             where p.tenant_id = $1 and p.id = $2
             returning p.sku, p.stock_real, p.stock_available, p.version, before.stock_available",
        )
        .bind(ctx.tenant)
        .bind(id)
        .bind(sign * quantity)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((sku, real, available, version, before)) = row else {
            tracing::warn!(order = %order.id, item = %id, "stock reservation: no such product");
            continue;
        };
        if sign < 0 && before < quantity {
            tracing::warn!(
                order = %order.id, sku, quantity, available = before,
                "stock reservation: not enough available stock; the order may be short"
            );
        }
        let meta = ctx.meta(id, version);
        let payload = StockChanged {
            meta: Some(meta.clone()),
            product_id: id.to_string(),
            sku,
            real,
            available,
        };
        ctx.emit(tx, "product", "stock_changed", &meta, &payload)
            .await?;
    }
    Ok(())
}
