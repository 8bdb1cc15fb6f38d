//! Sales: the shop's product orders (shop → ERP, as a quote or a
//! confirmed order), and their progress back.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{
    client::TrytonClient,
    parties::shop_id_of,
    values::{decimal, ids, parse_id},
};
use crate::adapter::{ErpError, text};

/// Where a sale of the shop's should be in Tryton: sent as a quote, it
/// stays a quotation until the shop's order is paid; sent as an order, or
/// paid since, it is confirmed (Tryton then processes it). In Tryton a
/// quote and its order are one sale.
pub(super) fn target_state(object: &str, status: &str) -> &'static str {
    match (object, status) {
        (_, "cancelled") => "cancelled",
        ("quote", "validated" | "pending") => "quotation",
        _ => "processing",
    }
}

/// Tryton's states in the order a sale goes through them.
pub(super) fn rank(state: &str) -> i32 {
    match state {
        "draft" => 0,
        "quotation" => 1,
        "confirmed" => 2,
        "processing" => 3,
        "done" => 4,
        _ => -1,
    }
}

/// The shop's status for a sale's progress in Tryton (seed 004: picking
/// list, delivery note, delivered).
fn shop_status(state: &str, shipment_state: &str) -> &'static str {
    match (state, shipment_state) {
        ("cancelled", _) => "cancelled",
        ("done", _) => "delivered",
        ("processing", "sent") => "shipped",
        ("processing" | "confirmed", _) => "preparing",
        _ => "validated",
    }
}

pub(super) fn sale_fields(v: &Value) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert(
        "customer".into(),
        v["party"]
            .as_i64()
            .map_or(String::new(), |p| p.to_string())
            .into(),
    );
    f.insert("state".into(), text(v, "state").into());
    f.insert(
        "status".into(),
        shop_status(&text(v, "state"), &text(v, "shipment_state")).into(),
    );
    if let Some(shop) = v["reference"].as_str().and_then(shop_id_of) {
        f.insert("shop_id".into(), shop.into());
    }
    f
}

impl TrytonClient {
    pub(super) async fn write_sale(
        &self,
        object: &str,
        id: Option<i64>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<i64, ErpError> {
        let v = Value::Object(fields.clone());
        let target = target_state(object, &text(&v, "status"));
        let id = match id {
            Some(id) => id,
            None => {
                let party = parse_id(&text(&v, "customer"))?;
                let lines = self.sale_lines(&v["lines"]).await?;
                let address = self.invoice_address(party).await?;
                self.create(
                    "sale.sale",
                    json!({
                        "party": party,
                        "invoice_address": address,
                        "shipment_address": address,
                        "reference": reference,
                        "description": format!("Relais {}", text(&v, "shop_id")),
                        "lines": [["create", lines]],
                    }),
                )
                .await?
            }
        };
        let state = self
            .read("sale.sale", &[id], &["state"])
            .await?
            .first()
            .map(|s| text(&Value::Object(s.clone()), "state"))
            .ok_or_else(|| ErpError::NotFound(format!("sale {id}")))?;
        match target {
            "cancelled" if state == "cancelled" => {}
            "cancelled" if rank(&state) <= 1 => {
                self.call("sale.sale", "cancel", vec![json!([id])]).await?;
            }
            "cancelled" => {
                return Err(ErpError::Refused(format!(
                    "sale {id} is {state} in Tryton: cancel its shipments and invoices there, then the sale"
                )));
            }
            _ if state == "cancelled" => {
                return Err(ErpError::Refused(format!(
                    "sale {id} was cancelled in Tryton; the shop still has it live"
                )));
            }
            _ => {
                if rank(&state) < 1 {
                    self.call("sale.sale", "quote", vec![json!([id])]).await?;
                }
                if rank(target) >= 2 && rank(&state) < 2 {
                    self.call("sale.sale", "confirm", vec![json!([id])]).await?;
                }
            }
        }
        Ok(id)
    }

    /// The party's first address, or a new one (Tryton quotes need it).
    async fn invoice_address(&self, party: i64) -> Result<i64, ErpError> {
        let rows = self.read("party.party", &[party], &["addresses"]).await?;
        let Some(row) = rows.first() else {
            return Err(ErpError::NotFound(format!("party {party}")));
        };
        if let Some(first) = ids(&row["addresses"]).first() {
            return Ok(*first);
        }
        self.create("party.address", json!({"party": party})).await
    }

    /// Lines with their product when Tryton has its code, else a line of
    /// text; the shop's discount as Tryton's discount rate.
    async fn sale_lines(&self, lines: &Value) -> Result<Vec<Value>, ErpError> {
        let lines = lines.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let codes: Vec<String> = lines.iter().map(|l| text(l, "reference")).collect();
        let products: HashMap<String, (i64, Option<i64>, Vec<i64>)> = self
            .search_read(
                "product.product",
                json!([["code", "in", codes]]),
                None,
                json!([]),
                &["code", "sale_uom", "account_category.customer_taxes_used"],
            )
            .await?
            .into_iter()
            .filter_map(|p| {
                let v = Value::Object(p);
                Some((
                    text(&v, "code"),
                    (
                        v["id"].as_i64()?,
                        v["sale_uom"].as_i64(),
                        ids(&v["account_category."]["customer_taxes_used"]),
                    ),
                ))
            })
            .collect();
        let mut out = Vec::new();
        for l in lines {
            let base = l["unit_price_cents"].as_i64().unwrap_or(0);
            let discount_bp = l["discount_bp"].as_i64().unwrap_or(0).clamp(0, 10_000);
            // Tryton rounds unit prices to 4 decimals: in 1/10,000 of a unit.
            let net = (base as i128 * 100 * (10_000 - discount_bp as i128) / 10_000) as i64;
            let mut line = json!({
                "type": "line",
                "description": text(l, "label"),
                "quantity": l["quantity"].as_f64().unwrap_or(0.0),
                "base_price": decimal(base, 2),
                "discount_rate": decimal(discount_bp, 4),
                "unit_price": decimal(net, 4),
            });
            if let Some((product, unit, taxes)) = products.get(&text(l, "reference")) {
                line["product"] = (*product).into();
                line["unit"] = unit.map_or(Value::Null, Value::from);
                line["taxes"] = json!([["add", taxes]]);
            }
            out.push(line);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sale_states_follow_the_shop() {
        assert_eq!(target_state("quote", "validated"), "quotation");
        assert_eq!(
            target_state("quote", "paid"),
            "processing",
            "a paid quote is confirmed"
        );
        assert_eq!(target_state("order", "paid"), "processing");
        assert_eq!(target_state("order", "cancelled"), "cancelled");
        assert_eq!(shop_status("processing", "sent"), "shipped");
        assert_eq!(shop_status("processing", "waiting"), "preparing");
        assert_eq!(shop_status("done", "sent"), "delivered");
        assert_eq!(shop_status("quotation", "none"), "validated");
    }
}
