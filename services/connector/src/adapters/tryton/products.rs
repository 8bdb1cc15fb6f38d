//! Product categories and products: the shop's families and articles
//! (ERP → shop), with their stock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    client::TrytonClient,
    values::{changed_at, changed_domain, id_of, ids, objects, record, scaled},
};
use crate::adapter::{ErpError, ErpRecord, text};

/// Tryton's categories have no code: the shop's is made of the id.
fn category_code(id: i64) -> String {
    format!("CAT-{id}")
}

/// A product's stock in the company's warehouses, and its last move.
pub(super) struct Held {
    real: i64,
    available: i64,
    moved: Option<DateTime<Utc>>,
}

impl TrytonClient {
    /// The stock of the goods among `rows` (services have none): on hand in
    /// every warehouse, available what is left after planned moves out.
    /// `since`: moves after it date the stock's change (a move alone makes
    /// the product change); without it (a full pull, a read), none is read:
    /// a product's whole history of moves may be long.
    pub(super) async fn stock(
        &self,
        rows: &[Map<String, Value>],
        since: Option<DateTime<Utc>>,
    ) -> Result<HashMap<i64, Held>, ErpError> {
        let goods: Vec<i64> = rows
            .iter()
            .filter(|r| r["template."]["type"] == "goods")
            .filter_map(|r| r.get("id").and_then(id_of))
            .collect();
        if goods.is_empty() {
            return Ok(HashMap::new());
        }
        let warehouses: Vec<i64> = self
            .search_read(
                "stock.location",
                json!([["type", "=", "warehouse"]]),
                None,
                json!([]),
                &["id"],
            )
            .await?
            .iter()
            .filter_map(|l| l.get("id").and_then(id_of))
            .collect();
        let mut in_warehouses = Map::new();
        in_warehouses.insert("locations".into(), json!(warehouses));
        let quantities = objects(
            self.call_with(
                "product.product",
                "read",
                vec![json!(goods), json!(["quantity", "forecast_quantity"])],
                in_warehouses,
            )
            .await?,
        );
        let mut moved: HashMap<i64, DateTime<Utc>> = HashMap::new();
        let recent = match since {
            Some(since) => {
                self.search_read(
                    "stock.move",
                    json!([["product", "in", goods], changed_domain(Some(since), &[""])]),
                    None,
                    json!([]),
                    &["product", "create_date", "write_date"],
                )
                .await?
            }
            None => Vec::new(),
        };
        for m in recent {
            if let (Some(p), Some(at)) = (m.get("product").and_then(id_of), changed_at(&m, "")) {
                let e = moved.entry(p).or_insert(at);
                *e = (*e).max(at);
            }
        }
        Ok(quantities
            .iter()
            .filter_map(|q| {
                let id = q.get("id").and_then(id_of)?;
                // Tryton may let stock go below zero; the shop sells none then.
                let real = (q["quantity"].as_f64().unwrap_or(0.0).round() as i64).max(0);
                let forecast = q["forecast_quantity"].as_f64().unwrap_or(0.0).round() as i64;
                Some((
                    id,
                    Held {
                        real,
                        available: real.min(forecast).max(0),
                        moved: moved.get(&id).copied(),
                    },
                ))
            })
            .collect())
    }

    pub(super) fn families(rows: Vec<Map<String, Value>>) -> Vec<ErpRecord> {
        rows.into_iter()
            .filter_map(|r| {
                let id = r.get("id").and_then(id_of)?;
                let at = changed_at(&r, "").unwrap_or_else(Utc::now);
                let v = Value::Object(r);
                let mut f = Map::new();
                f.insert("code".into(), category_code(id).into());
                f.insert(
                    "parent_code".into(),
                    v["parent"]
                        .as_i64()
                        .map_or(String::new(), category_code)
                        .into(),
                );
                f.insert("name".into(), text(&v, "name").into());
                Some(record(id, at, f))
            })
            .collect()
    }

    pub(super) async fn articles(
        &self,
        rows: Vec<Map<String, Value>>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ErpRecord>, ErpError> {
        let currency = self.currency().await?;
        let tax_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| ids(&r["account_category."]["customer_taxes_used"]))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let rates: HashMap<i64, i64> = self
            .read("account.tax", &tax_ids, &["type", "rate"])
            .await?
            .iter()
            .filter(|t| t["type"] == "percentage")
            .filter_map(|t| Some((t.get("id").and_then(id_of)?, scaled(&t["rate"], 4)?)))
            .collect();
        // The shop's category is the first that is not an accounting one.
        let category_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| ids(&r["template."]["categories"]))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let categories: HashMap<i64, bool> = self
            .read("product.category", &category_ids, &["accounting"])
            .await?
            .iter()
            .filter_map(|c| Some((c.get("id").and_then(id_of)?, c["accounting"] == true)))
            .collect();
        let stock = self.stock(&rows, since).await?;
        let mut out = Vec::new();
        for r in rows {
            let Some(id) = r.get("id").and_then(id_of) else {
                continue;
            };
            let held = stock.get(&id);
            // Its last change: the product's, its template's, its stock's.
            let at = [
                changed_at(&r, ""),
                changed_at(r["template."].as_object().unwrap_or(&Map::new()), ""),
                held.and_then(|h| h.moved),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or_else(Utc::now);
            let v = Value::Object(r);
            let t = &v["template."];
            let vat: i64 = ids(&v["account_category."]["customer_taxes_used"])
                .iter()
                .filter_map(|t| rates.get(t))
                .sum();
            let family = ids(&t["categories"])
                .into_iter()
                .find(|c| categories.get(c) == Some(&false))
                .map_or(String::new(), category_code);
            let mut f = Map::new();
            f.insert("sku".into(), text(&v, "code").into());
            f.insert("designation".into(), text(t, "name").into());
            f.insert("description".into(), text(&v, "description").into());
            f.insert(
                "price_cents".into(),
                scaled(&t["list_price"], 2).unwrap_or(0).into(),
            );
            f.insert("currency".into(), currency.clone().into());
            f.insert("vat_rate_bp".into(), vat.into());
            f.insert(
                "sales_unit".into(),
                text(&t["default_uom."], "symbol").into(),
            );
            f.insert(
                "active".into(),
                (v["active"] != false && t["salable"] != false).into(),
            );
            f.insert("family_code".into(), family.into());
            if let Some(h) = held {
                f.insert("stock_real".into(), h.real.into());
                f.insert("stock_available".into(), h.available.into());
            }
            out.push(record(id, at, f));
        }
        Ok(out)
    }
}
