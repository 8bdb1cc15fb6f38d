//! The shop's records as the ERP's records hold them: the fields each
//! write sends (what a record needs in the ERP first is written first, to
//! name it).

use relais_proto::{
    orders::{Address, Customer, Order, OrderStatus},
    planning::{Intervention, InterventionStatus, Worker},
};
use serde_json::{Map, Value, json};

use crate::{
    bindings,
    writer::{Push, PushError},
};

fn address(a: Option<&Address>) -> Value {
    a.map_or(Value::Null, |a| {
        json!({
            "line1": a.line1, "line2": a.line2, "postal_code": a.postal_code,
            "city": a.city, "country": a.country,
        })
    })
}

fn object_of(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn rfc3339(t: Option<&prost_types::Timestamp>) -> Value {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map_or(Value::Null, |t| t.to_rfc3339().into())
}

impl Push<'_> {
    /// A customer as the ERP's record holds it.
    pub fn customer_fields(customer: &Customer) -> Map<String, Value> {
        let f = customer.fields.clone().unwrap_or_default();
        object_of(json!({
            "first_name": f.first_name,
            "last_name": f.last_name,
            "email": f.email,
            "phone": f.phone,
            "address": address(f.billing_address.as_ref()),
            "price_group": f.customer_family,
            "read_only": customer.origin == relais_platform::auth::SHOP_ORIGIN,
            "shop_id": customer.id,
        }))
    }

    /// A worker as the ERP's employee holds it; its skills as the tariffs
    /// they map to.
    pub async fn worker_fields(&self, worker: &Worker) -> Result<Map<String, Value>, PushError> {
        let f = worker.fields.clone().unwrap_or_default();
        let mut tariffs = Vec::new();
        for s in &f.skill_service_ids {
            if let Some(t) = bindings::tariff_of(&self.shared.pool, self.c.id, s).await? {
                tariffs.push(t);
            }
        }
        tariffs.sort();
        Ok(object_of(json!({
            "first_name": f.first_name,
            "last_name": f.last_name,
            "email": f.email,
            "phone": f.phone,
            "photo_url": f.photo_url,
            "provider": f.provider,
            "active": f.active,
            "tariffs": tariffs,
            "shop_id": worker.id,
        })))
    }

    /// A booking as the ERP's quote holds it (its customer written first).
    pub async fn quote_fields(&self, order: &Order) -> Result<Map<String, Value>, PushError> {
        let customer = self.customer_id(&order.customer_id).await?;
        // Accepted once confirmed (paid, or on account): that is also when
        // planning plans its interventions.
        let status = match order.status() {
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Placed | OrderStatus::Quote | OrderStatus::Unspecified => "pending",
            _ => "accepted",
        };
        let cents =
            |m: &Option<relais_proto::types::Money>| m.as_ref().map_or(0, |m| m.amount_cents);
        let lines: Vec<Value> = order
            .lines
            .iter()
            .map(|l| {
                json!({
                    "reference": l.reference,
                    "label": l.name,
                    "quantity": l.quantity,
                    "unit_price_cents": cents(&l.unit_price),
                    "vat_rate_bp": l.vat_rate_bp,
                    "discount_bp": l.discount_bp,
                    "total_excl_vat_cents": cents(&l.total_excl_vat),
                })
            })
            .collect();
        Ok(object_of(json!({
            "customer": customer,
            "status": status,
            "lines": lines,
            "total_excl_vat_cents": cents(&order.total_excl_vat),
            "total_incl_vat_cents": cents(&order.total_incl_vat),
            "currency": order.total_incl_vat.as_ref().map(|m| m.currency.clone()).unwrap_or_default(),
            "placed_at": rfc3339(order.placed_at.as_ref()),
            "shop_id": order.id,
        })))
    }

    /// A product order as the ERP holds it, and whether as a quote or an
    /// order; None when its status is not sent (the connection's rules).
    pub async fn product_order_fields(
        &self,
        order: &Order,
    ) -> Result<Option<(&'static str, Map<String, Value>)>, PushError> {
        // The rule's status (paid: confirmed and after), and the status the
        // ERP's record shows, which never goes back behind the shop's.
        let (rule, status) = match order.status() {
            OrderStatus::Placed | OrderStatus::Quote => ("validated", "validated"),
            OrderStatus::Cancelled => ("cancelled", "cancelled"),
            OrderStatus::Preparing => ("paid", "preparing"),
            OrderStatus::Shipped => ("paid", "shipped"),
            OrderStatus::Delivered | OrderStatus::Completed => ("paid", "delivered"),
            _ => ("paid", "paid"),
        };
        let sent_as = if self.bound("order", &order.id).await?.is_some() {
            Some("order")
        } else if self.bound("quote", &order.id).await?.is_some() {
            Some("quote")
        } else {
            None
        };
        let object = match (sent_as, self.c.send_as(rule)) {
            (Some(o), _) => o,
            (None, Some(rule)) => rule,
            (None, None) => return Ok(None),
        };
        let customer = self.customer_id(&order.customer_id).await?;
        let cents =
            |m: &Option<relais_proto::types::Money>| m.as_ref().map_or(0, |m| m.amount_cents);
        let lines: Vec<Value> = order
            .lines
            .iter()
            .map(|l| {
                json!({
                    "line_no": l.line_no,
                    "reference": l.reference,
                    "label": l.name,
                    "quantity": l.quantity,
                    "unit_price_cents": cents(&l.unit_price),
                    "vat_rate_bp": l.vat_rate_bp,
                    "discount_bp": l.discount_bp,
                    "total_excl_vat_cents": cents(&l.total_excl_vat),
                    "vat_cents": cents(&l.vat),
                })
            })
            .collect();
        let fields = object_of(json!({
            "customer": customer,
            "status": status,
            "shop_status": order.status().as_str_name().trim_start_matches("ORDER_STATUS_").to_lowercase(),
            "lines": lines,
            "total_excl_vat_cents": cents(&order.total_excl_vat),
            "total_vat_cents": cents(&order.total_vat),
            "total_incl_vat_cents": cents(&order.total_incl_vat),
            "currency": order.total_incl_vat.as_ref().map(|m| m.currency.clone()).unwrap_or_default(),
            "payment_mode": order.payment_mode().as_str_name().trim_start_matches("PAYMENT_MODE_").to_lowercase(),
            "shipping_method": order.shipping_method,
            "ship_to": address(order.ship_to.as_ref()),
            "ordered_for": order.customer_name,
            "placed_by": order.placed_by,
            "residence": order.residence_id,
            "placed_at": rfc3339(order.placed_at.as_ref()),
            "shop_id": order.id,
        }));
        Ok(Some((object, fields)))
    }

    /// An intervention as the ERP's service holds it (its customer, booking
    /// and worker written first).
    pub async fn intervention_fields(
        &self,
        i: &Intervention,
    ) -> Result<Map<String, Value>, PushError> {
        let customer = self.customer_id(&i.customer_id).await?;
        let quote = self.quote_id(&i.order_id).await?;
        let employee = if i.worker_id.is_empty() {
            String::new()
        } else {
            self.worker_id(&i.worker_id).await?
        };
        let tariff = bindings::tariff_of(&self.shared.pool, self.c.id, &i.service_id)
            .await?
            .unwrap_or_default();
        let status = match i.status() {
            InterventionStatus::Done => "done",
            InterventionStatus::Cancelled => "cancelled",
            _ => "planned",
        };
        Ok(object_of(json!({
            "customer": customer,
            "quote": quote,
            "employee": employee,
            "tariff": tariff,
            "start": rfc3339(i.start.as_ref()),
            "end": rfc3339(i.end.as_ref()),
            "status": status,
            "actual_minutes": i.actual_minutes,
            "address": address(i.address.as_ref()),
            "occurrence": i.occurrence,
            "shop_id": i.id,
        })))
    }
}
