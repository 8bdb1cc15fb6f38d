//! ERP → shop customers and order states (seeds 000, 004): a customer kept
//! in the ERP (a "traditional" one) appears in the shop with its billing and
//! delivery addresses and its price group (the catalogue's customer family),
//! read-only there; its changes follow. A customer created online belongs
//! to the shop and is read-only in the ERP: an ERP edit of it is not applied.
//! An order the shop sent moves on as the ERP processes it (picking list,
//! delivery note, delivered, cancelled).

use relais_proto::orders::{Address, ChangeOrderStatusRequest, CustomerFields, OrderStatus};
use serde_json::Value;

use crate::{
    adapter::{ErpRecord, text},
    bindings,
    connections::Connection,
    runs,
    shared::Shared,
};

pub(crate) fn address(v: Option<&Value>) -> Option<Address> {
    let v = v.filter(|v| v.is_object())?;
    Some(Address {
        line1: text(v, "line1"),
        line2: text(v, "line2"),
        postal_code: text(v, "postal_code"),
        city: text(v, "city"),
        country: Some(text(v, "country"))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "FR".into()),
    })
}

fn fields(rec: &ErpRecord, base: Option<CustomerFields>) -> CustomerFields {
    let f = Value::Object(rec.fields.clone());
    let mut out = base.unwrap_or_default();
    out.first_name = text(&f, "first_name");
    out.last_name = text(&f, "last_name");
    out.email = text(&f, "email");
    out.phone = text(&f, "phone");
    out.billing_address = address(rec.fields.get("address"));
    out.delivery_address = address(rec.fields.get("delivery_address"));
    out.customer_family = text(&f, "price_group");
    out.external_ref = rec.id.clone();
    out
}

/// True when the shop changed.
pub async fn apply(shared: &Shared, c: &Connection, rec: &ErpRecord) -> anyhow::Result<bool> {
    let pool = &shared.pool;
    let shop_owned = rec
        .fields
        .get("shop_id")
        .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()));
    let Some(b) = bindings::by_external(pool, c.id, "customer", &rec.id).await? else {
        if shop_owned {
            // An online customer whose write to the ERP is finishing.
            return Ok(false);
        }
        let key = format!("erp:{}:customer:{}", c.id, rec.id);
        let created = shared
            .peers
            .create_customer(c.tenant, &c.name, key, fields(rec, None))
            .await?;
        bindings::record(
            pool,
            c.id,
            "customer",
            &created.id,
            &rec.id,
            created.version,
            rec.version,
        )
        .await?;
        // What both sides hold now: the base of the next merge.
        crate::reconcile::on_pull(shared, c, "customer", &created.id).await?;
        return Ok(true);
    };
    if b.erp_version >= rec.version {
        return Ok(false);
    }
    if let Some(changed) = crate::reconcile::on_pull(shared, c, "customer", &b.internal_id).await? {
        return Ok(changed);
    }
    let current = shared.peers.customer(c.tenant, &b.internal_id).await?;
    if !current.read_only {
        // The shop's own customer: read-only in the ERP, so the ERP's edit
        // is not taken (the shop's next change overwrites it there).
        bindings::record(
            pool,
            c.id,
            "customer",
            &current.id,
            &rec.id,
            b.shop_version,
            rec.version,
        )
        .await?;
        return Ok(false);
    }
    if current.version != b.shop_version {
        let winner = c.pull_winner("customers");
        runs::conflict(
            pool,
            c,
            "customer",
            &current.id,
            &rec.id,
            current.version,
            rec.version,
            winner,
        )
        .await?;
        if winner != Some("erp") {
            bindings::record(
                pool,
                c.id,
                "customer",
                &current.id,
                &rec.id,
                b.shop_version,
                rec.version,
            )
            .await?;
            return Ok(false);
        }
    }
    let updated = shared
        .peers
        .update_customer(
            c.tenant,
            &c.name,
            &current.id,
            current.version,
            fields(rec, current.fields.clone()),
        )
        .await?;
    bindings::record(
        pool,
        c.id,
        "customer",
        &updated.id,
        &rec.id,
        updated.version,
        rec.version,
    )
    .await?;
    Ok(true)
}

/// Moves a sent order to the status the ERP gave it; true when it moved.
pub async fn order_state(shared: &Shared, c: &Connection, rec: &ErpRecord) -> anyhow::Result<bool> {
    let pool = &shared.pool;
    // Where a quote and its order are one ERP record (a Tryton sale), an
    // order sent as a quote moves on as that record does.
    let mut entity = "order";
    let mut bound = bindings::by_external(pool, c.id, entity, &rec.id).await?;
    if bound.is_none() && c.adapter.quote_is_order() {
        entity = "quote";
        bound = bindings::by_external(pool, c.id, entity, &rec.id).await?;
    }
    let Some(b) = bound else {
        return Ok(false);
    };
    if b.erp_version >= rec.version {
        return Ok(false);
    }
    if let Some(changed) = crate::reconcile::on_pull(shared, c, entity, &b.internal_id).await? {
        return Ok(changed);
    }
    let f = Value::Object(rec.fields.clone());
    let to = match text(&f, "status").as_str() {
        "preparing" => OrderStatus::Preparing,
        "shipped" => OrderStatus::Shipped,
        "delivered" => OrderStatus::Delivered,
        "cancelled" => OrderStatus::Cancelled,
        // paid, validated: what the shop sent.
        _ => {
            bindings::record(
                pool,
                c.id,
                entity,
                &b.internal_id,
                &rec.id,
                b.shop_version,
                rec.version,
            )
            .await?;
            return Ok(false);
        }
    };
    let current = shared.peers.order(c.tenant, &b.internal_id).await?;
    if current.status() == to {
        bindings::record(
            pool,
            c.id,
            entity,
            &current.id,
            &rec.id,
            current.version,
            rec.version,
        )
        .await?;
        return Ok(false);
    }
    let (moved, changed) = move_order(shared, c, current, to, &rec.id, &f).await?;
    bindings::record(
        pool,
        c.id,
        entity,
        &moved.id,
        &rec.id,
        moved.version,
        rec.version,
    )
    .await?;
    Ok(changed)
}

/// Moves the shop's order to `to`, through the steps before it (an ERP
/// that reports only where the order is now has passed them); never back.
/// `f`: the ERP's record (its references and reason); the order as it is
/// then, and whether it moved.
pub(crate) async fn move_order(
    shared: &Shared,
    c: &Connection,
    current: relais_proto::orders::Order,
    to: OrderStatus,
    erp_id: &str,
    f: &Value,
) -> anyhow::Result<(relais_proto::orders::Order, bool)> {
    let reason = Some(text(f, "status_reason"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "cancelled in the ERP".into());
    // An ERP that reports only where the order is now (shipped, say) has
    // passed the steps before: the shop goes through them too, each one
    // a status of its own, as its rules want.
    const FORWARD: [OrderStatus; 3] = [
        OrderStatus::Preparing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ];
    // Completed is past delivery; a cancelled order stays cancelled.
    let now_at = match current.status() {
        OrderStatus::Completed | OrderStatus::Cancelled => Some(FORWARD.len()),
        s => FORWARD.iter().position(|f| *f == s),
    };
    let steps: Vec<OrderStatus> = match FORWARD.iter().position(|s| *s == to) {
        // The shop is there or further already (a late export): the ERP's
        // news is taken as seen, never as a step back.
        Some(target) if now_at.is_some_and(|n| n >= target) => Vec::new(),
        Some(target) => FORWARD[now_at.map_or(0, |p| p + 1)..=target].to_vec(),
        None => vec![to],
    };
    if steps.is_empty() {
        return Ok((current, false));
    }
    let mut moved = current;
    for step in steps {
        moved = shared
            .peers
            .change_order_status(
                c.tenant,
                &c.name,
                ChangeOrderStatusRequest {
                    id: moved.id.clone(),
                    expected_version: 0,
                    status: step as i32,
                    reason: if step == OrderStatus::Cancelled {
                        reason.clone()
                    } else {
                        String::new()
                    },
                    picking_list_ref: text(f, "picking_list"),
                    delivery_note_ref: text(f, "delivery_note"),
                    external_ref: Some(text(f, "erp_number"))
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| erp_id.to_owned()),
                },
            )
            .await?;
    }
    Ok((moved, true))
}
