//! Tryton over its JSON-RPC API (`POST /<database>/rpc/`): a session from
//! `common.db.login`, then `model.<name>.<method>` calls with the user's
//! context. Parties are the shop's customers (both ways), product
//! categories and products its catalogue (ERP → shop), sales its product
//! orders (shop → ERP, quote or confirmed order; their progress back).
//!
//! Tryton keeps no idempotency key of its own: a create carries the
//! connector's reference where Tryton has a free field for it (a party
//! identifier, a sale's reference) and looks it up first, so a retry after
//! a lost answer finds the first record. Changes are listed by id after
//! the change time (`create_date` / `write_date`, which Tryton leaves empty
//! until a record is first written), so a page never shifts while a run
//! reads it.
//!
//! `client.rs` holds the session and the calls, `values.rs` Tryton's JSON
//! for values, and `parties.rs`, `products.rs` and `sales.rs` each
//! family's mapping both ways; this file answers the adapter's trait.

mod client;
mod parties;
mod products;
mod sales;
mod values;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

pub use client::TrytonClient;
use parties::PartyView;
use sales::{rank, sale_fields, target_state};
use values::{changed_at, changed_domain, id_of, ids, parse_id, record};

use crate::adapter::{Changes, ErpAdapter, ErpError, ErpRecord, text};

/// What the connector calls each object, and Tryton's model for it.
fn model_of(object: &str) -> Result<&'static str, ErpError> {
    match object {
        "customer" => Ok("party.party"),
        "family" => Ok("product.category"),
        "article" => Ok("product.product"),
        "order" | "quote" => Ok("sale.sale"),
        other => Err(ErpError::Refused(format!(
            "the Tryton adapter does not carry {other} records (it carries customers, families, articles, quotes and orders)"
        ))),
    }
}

const PARTY_FIELDS: &[&str] = &[
    "name",
    "create_date",
    "write_date",
    "identifiers",
    "contact_mechanisms",
    "addresses",
];
const CATEGORY_FIELDS: &[&str] = &["name", "parent", "accounting", "create_date", "write_date"];
const PRODUCT_FIELDS: &[&str] = &[
    "code",
    "description",
    "active",
    "account_category.customer_taxes_used",
    "create_date",
    "write_date",
    "template.name",
    "template.list_price",
    "template.salable",
    "template.categories",
    "template.create_date",
    "template.write_date",
    "template.default_uom.symbol",
    "template.type",
];
const SALE_FIELDS: &[&str] = &[
    "party",
    "number",
    "shipments",
    "state",
    "shipment_state",
    "reference",
    "create_date",
    "write_date",
];

impl TrytonClient {
    async fn records(
        &self,
        object: &str,
        rows: Vec<Map<String, Value>>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ErpRecord>, ErpError> {
        match object {
            "customer" => self.parties(rows).await,
            "family" => Ok(Self::families(rows)),
            "article" => self.articles(rows, since).await,
            _ => {
                // The shipment's number is the picking list's and, once it
                // is done, the delivery note's (Tryton prints both from it).
                let shipment_ids: Vec<i64> =
                    rows.iter().flat_map(|r| ids(&r["shipments"])).collect();
                let shipments: HashMap<i64, (String, String)> = self
                    .read("stock.shipment.out", &shipment_ids, &["number", "state"])
                    .await?
                    .into_iter()
                    .filter_map(|s| {
                        let v = Value::Object(s);
                        Some((v["id"].as_i64()?, (text(&v, "number"), text(&v, "state"))))
                    })
                    .collect();
                Ok(rows
                    .into_iter()
                    .filter_map(|r| {
                        let id = r.get("id").and_then(id_of)?;
                        let at = changed_at(&r, "").unwrap_or_else(Utc::now);
                        let v = Value::Object(r);
                        let mut f = sale_fields(&v);
                        let mine: Vec<&(String, String)> = ids(&v["shipments"])
                            .iter()
                            .filter_map(|s| shipments.get(s))
                            .collect();
                        if let Some((number, _)) = mine.first() {
                            f.insert("picking_list".into(), number.clone().into());
                        }
                        if let Some((number, _)) = mine.iter().find(|(_, state)| state == "done") {
                            f.insert("delivery_note".into(), number.clone().into());
                        }
                        f.insert("erp_number".into(), text(&v, "number").into());
                        Some(record(id, at, f))
                    })
                    .collect())
            }
        }
    }

    fn listing(object: &str) -> (&'static [&'static str], Value, &'static [&'static str]) {
        match object {
            // An edited address or email is a change of the customer.
            "customer" => (
                PARTY_FIELDS,
                json!([]),
                &["", "contact_mechanisms.", "addresses."],
            ),
            // Accounting categories are Tryton's, not the shop's families.
            "family" => (CATEGORY_FIELDS, json!([["accounting", "=", false]]), &[""]),
            "article" => (PRODUCT_FIELDS, json!([]), &["", "template."]),
            // Only the sales the shop sent.
            _ => (
                SALE_FIELDS,
                json!([["reference", "like", "relais:%"]]),
                &[""],
            ),
        }
    }
}

impl ErpAdapter for TrytonClient {
    async fn upsert(
        &self,
        object: &str,
        id: Option<&str>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<ErpRecord, ErpError> {
        let model = model_of(object)?;
        let id = id.map(parse_id).transpose()?;
        let _one_at_a_time = self.writes.lock().await;
        let id = match (object, id) {
            ("customer", id) => {
                let found = match id {
                    Some(id) => Some(id),
                    None => {
                        self.find_reference(model, "identifiers.code", reference)
                            .await?
                    }
                };
                self.write_party(found, reference, fields).await?
            }
            ("order" | "quote", id) => {
                let found = match id {
                    Some(id) => Some(id),
                    None => self.find_reference(model, "reference", reference).await?,
                };
                self.write_sale(object, found, reference, fields).await?
            }
            _ => {
                return Err(ErpError::Refused(format!(
                    "the shop does not write {object} records to Tryton"
                )));
            }
        };
        self.get(object, &id.to_string()).await
    }

    async fn get(&self, object: &str, id: &str) -> Result<ErpRecord, ErpError> {
        let model = model_of(object)?;
        let (fields, _, _) = Self::listing(object);
        let rows = self.read(model, &[parse_id(id)?], fields).await?;
        if rows.is_empty() {
            return Err(ErpError::NotFound(format!("{model} {id}")));
        }
        self.records(object, rows, None)
            .await?
            .pop()
            .ok_or_else(|| ErpError::NotFound(format!("{model} {id}")))
    }

    /// `page` is the smallest id to list (1 to start); `next` continues
    /// after the last one listed.
    async fn changed_since(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError> {
        let model = model_of(object)?;
        let (fields, mut filter, prefixes) = Self::listing(object);
        if object == "customer" {
            let own = self.session_value(|s| s.company_parties.clone()).await?;
            filter = json!([["id", "not in", own]]);
        }
        let mut changed = changed_domain(since, prefixes);
        if let (Some(since), "article", Value::Array(or)) = (since, object, &mut changed) {
            // Stock moves change a product's stock, not the product.
            let moved: Vec<i64> = self
                .search_read(
                    "stock.move",
                    changed_domain(Some(since), &[""]),
                    None,
                    json!([]),
                    &["product"],
                )
                .await?
                .iter()
                .filter_map(|m| m.get("product").and_then(id_of))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !moved.is_empty() {
                or.push(json!(["id", "in", moved]));
            }
        }
        let mut domain = vec![filter, changed];
        domain.retain(|d| d.as_array().is_some_and(|a| !a.is_empty()));
        let counted = Value::Array(domain.clone());
        domain.push(json!(["id", ">=", page.max(1)]));
        let rows = self
            .search_read(
                model,
                Value::Array(domain),
                Some(per_page),
                json!([["id", "ASC"]]),
                fields,
            )
            .await?;
        let last = rows.last().and_then(|r| r.get("id")).and_then(id_of);
        let full = rows.len() as i64 >= per_page;
        // The total is counted once, on the first page.
        let total = if page <= 1 {
            self.call_with(model, "search_count", vec![counted], {
                let mut m = Map::new();
                m.insert("active_test".into(), false.into());
                m
            })
            .await?
            .as_i64()
            .unwrap_or(0)
        } else {
            0
        };
        let high_water = if page <= 1 {
            let moves = if object == "article" {
                self.high_water("stock.move", &[""]).await?
            } else {
                None
            };
            self.high_water(model, prefixes).await?.max(moves)
        } else {
            None
        };
        let records = self.records(object, rows, since).await?;
        Ok(Changes {
            records,
            total,
            next: last.filter(|_| full).map(|l| l + 1),
            high_water,
            ..Changes::default()
        })
    }

    async fn remove(&self, object: &str, id: &str) -> Result<(), ErpError> {
        let model = model_of(object)?;
        self.call(model, "delete", vec![json!([parse_id(id)?])])
            .await
            .map(|_| ())
    }

    /// Tryton keeps what the connector wrote in its own shape (one name,
    /// one address, no price group): a write is there when what Tryton
    /// shows of it is.
    fn holds(&self, object: &str, wanted: &Map<String, Value>, current: &ErpRecord) -> bool {
        let shown = match object {
            "customer" => PartyView::from_shop(wanted).fields(),
            "order" | "quote" => {
                let v = Value::Object(wanted.clone());
                let mut m = Map::new();
                m.insert("customer".into(), text(&v, "customer").into());
                let target = target_state(object, &text(&v, "status"));
                let state = text(&Value::Object(current.fields.clone()), "state");
                // Tryton moving a sale on (processing → done) keeps it ours.
                let there =
                    state == target || (target == "processing" && rank(&state) >= rank(target));
                if !there {
                    return false;
                }
                m
            }
            _ => wanted.clone(),
        };
        shown.iter().all(|(k, v)| current.fields.get(k) == Some(v))
    }

    fn pages_by_id(&self) -> bool {
        true
    }

    /// Parties and sales show their own shapes (a party's one name).
    fn merges_fields(&self) -> bool {
        false
    }
}
