//! ERP → shop customers and order states (seeds 000, 004): a customer kept
//! in the ERP (a "traditional" one) appears in the shop with its billing and
//! delivery addresses and its price group (the catalogue's customer family),
//! read-only there; its changes follow. A customer created online belongs
//! to the shop and is read-only in the ERP: an ERP edit of it is not applied.
//! An order the shop sent moves on as the ERP processes it (picking list,
//! delivery note, delivered, cancelled).

use relais_proto::orders::{CustomerFields, OrderStatus};
use serde_json::Value;

use crate::{
    adapter::{ErpRecord, text},
    bindings,
    connections::Connection,
    runs,
    shared::Shared,
    shop_writes::{address, move_order},
};

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
