//! The order life cycle: only legal transitions, each recorded with who
//! made it and from where, and each an event. The ERP's status changes come
//! through the connector with the same call; their origin rides on the
//! event so the connector never sends them back.

use relais_platform::{
    auth::{Caller, Role},
    context::Ctx,
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::{
    events::OrderStatusChanged,
    orders::{ChangeOrderStatusRequest, Order, OrderStatus},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    access::Scope,
    stored_orders::{self, status_from_name, status_name},
};

use OrderStatus::*;

/// Where an order of `kind` may go from `from`.
pub fn next(kind: &str, from: OrderStatus) -> &'static [OrderStatus] {
    match (kind, from) {
        ("product", Quote) => &[Placed, Cancelled],
        (_, Placed) => &[Confirmed, Cancelled],
        ("product", Confirmed) => &[Preparing, Cancelled],
        ("product", Preparing) => &[Shipped],
        ("product", Shipped) => &[Delivered],
        ("booking", Confirmed) => &[InProgress, Cancelled],
        ("booking", InProgress) => &[Completed],
        ("hour_pack", Confirmed) => &[Completed, Cancelled],
        _ => &[],
    }
}

/// What a customer may do to their own order: accept a quote, or cancel
/// before it is confirmed. Everything else is the shop's or the ERP's.
fn customer_may(from: OrderStatus, to: OrderStatus) -> bool {
    matches!((from, to), (Quote, Placed) | (Quote | Placed, Cancelled))
}

pub struct Change {
    id: Uuid,
    expected_version: i64,
    to: OrderStatus,
    reason: String,
    picking_list_ref: String,
    delivery_note_ref: String,
    external_ref: String,
}

impl Change {
    pub fn parse(r: &ChangeOrderStatusRequest) -> Result<Self> {
        let mut v = Violations::new();
        v.check(r.id.trim().is_empty(), "id", "is required");
        let id = validate::optional_id(&mut v, "id", &r.id);
        let to = OrderStatus::try_from(r.status).unwrap_or(Unspecified);
        v.check(to == Unspecified, "status", "is required");
        v.check(
            r.expected_version < 0,
            "expected_version",
            "must not be negative",
        );
        let reason = validate::description(&mut v, "reason", &r.reason);
        let picking_list_ref =
            validate::optional_reference(&mut v, "picking_list_ref", &r.picking_list_ref);
        let delivery_note_ref =
            validate::optional_reference(&mut v, "delivery_note_ref", &r.delivery_note_ref);
        let external_ref = validate::optional_reference(&mut v, "external_ref", &r.external_ref);
        v.into_result()?;
        Ok(Self {
            id: id.unwrap_or_default(),
            expected_version: r.expected_version,
            to,
            reason,
            picking_list_ref,
            delivery_note_ref,
            external_ref,
        })
    }
}

pub async fn change(
    conn: &mut PgConnection,
    ctx: &Ctx,
    caller: &Caller,
    scope: &Scope,
    c: Change,
) -> Result<Order> {
    // The row lock orders concurrent changes of one order: each sees the
    // status the previous one left.
    let row: Option<(String, String, i64, Uuid, Option<Uuid>)> = sqlx::query_as(
        "select kind, status, version, customer_id, residence_id from orders
         where tenant_id = $1 and id = $2 for update",
    )
    .bind(ctx.tenant)
    .bind(c.id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((kind, status, version, customer, _)) = row.filter(|r| scope.sees_customer(r.3, r.4))
    else {
        return Err(Error::not_found(format!("order {}", c.id)));
    };
    let from = status_from_name(&status);
    if from == c.to {
        // Already there: a redelivered change is harmless.
        return stored_orders::get(conn, ctx.tenant, scope, c.id).await;
    }
    validate::expected_version(c.expected_version, version)?;
    let allowed = next(&kind, from);
    if !allowed.contains(&c.to) {
        let names: Vec<&str> = allowed.iter().map(|s| status_name(*s)).collect();
        return Err(Error::FailedPrecondition(format!(
            "a {} order that is {} cannot become {}; it may become: {}",
            kind.replace('_', "-"),
            status_name(from),
            status_name(c.to),
            if names.is_empty() {
                "nothing, it is final".to_owned()
            } else {
                names.join(", ")
            }
        )));
    }
    if caller.role == Role::Customer
        && !(customer_may(from, c.to) && Some(customer) == scope_customer(scope))
    {
        return Err(Error::PermissionDenied(
            "customers may accept their quote or cancel an order before it is confirmed".into(),
        ));
    }
    let mut v = Violations::new();
    v.check(
        c.to == Cancelled && c.reason.is_empty(),
        "reason",
        "say why the order is cancelled",
    );
    v.check(
        c.to == Preparing && c.picking_list_ref.is_empty(),
        "picking_list_ref",
        "is required to start preparing",
    );
    v.check(
        c.to == Shipped && c.delivery_note_ref.is_empty(),
        "delivery_note_ref",
        "is required to ship",
    );
    v.into_result()?;

    let new_version: i64 = sqlx::query_scalar(
        "update orders set status = $3, version = version + 1, updated_at = now(), origin = $4,
             status_reason = case when $3 = 'cancelled' then $5 else status_reason end,
             picking_list_ref = coalesce(nullif($6, ''), picking_list_ref),
             delivery_note_ref = coalesce(nullif($7, ''), delivery_note_ref),
             external_ref = coalesce(nullif($8, ''), external_ref)
         where tenant_id = $1 and id = $2 returning version",
    )
    .bind(ctx.tenant)
    .bind(c.id)
    .bind(status_name(c.to))
    .bind(&ctx.origin)
    .bind(&c.reason)
    .bind(&c.picking_list_ref)
    .bind(&c.delivery_note_ref)
    .bind(&c.external_ref)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "insert into order_status_changes
             (tenant_id, order_id, version, from_status, to_status, reason, origin, actor)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ctx.tenant)
    .bind(c.id)
    .bind(new_version)
    .bind(status_name(from))
    .bind(status_name(c.to))
    .bind(&c.reason)
    .bind(&ctx.origin)
    .bind(&ctx.actor)
    .execute(&mut *conn)
    .await?;
    let order = stored_orders::load(conn, ctx.tenant, c.id)
        .await?
        .ok_or_else(|| Error::not_found(format!("order {}", c.id)))?;
    let meta = ctx.meta(c.id, new_version);
    let event = OrderStatusChanged {
        meta: Some(meta.clone()),
        from: from as i32,
        to: c.to as i32,
        order: Some(order.clone()),
    };
    let name = match (from, c.to) {
        (Placed, Confirmed) => "confirmed",
        (_, Cancelled) => "cancelled",
        _ => "status_changed",
    };
    ctx.emit(conn, "order", name, &meta, &event).await?;
    Ok(order)
}

fn scope_customer(scope: &Scope) -> Option<Uuid> {
    match scope {
        Scope::Customer(id) => Some(*id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_products_ship_and_only_bookings_run() {
        assert!(next("product", Confirmed).contains(&Preparing));
        assert!(!next("booking", Confirmed).contains(&Preparing));
        assert!(next("booking", Confirmed).contains(&InProgress));
        assert!(!next("product", Confirmed).contains(&InProgress));
        assert!(next("booking", Quote).is_empty());
        for kind in ["product", "booking", "hour_pack"] {
            assert!(next(kind, Cancelled).is_empty());
            assert!(next(kind, Placed).contains(&Cancelled));
        }
        // Once it is on its way a product order can no longer be cancelled.
        assert!(!next("product", Shipped).contains(&Cancelled));
    }
}
