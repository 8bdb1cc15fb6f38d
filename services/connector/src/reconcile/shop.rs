//! The shop's side of a bound record: read now, shown as the ERP's record
//! would hold it, the ERP's record shown the same way, and the merged
//! fields written back to it.

use relais_proto::{
    orders::{Customer, Order, OrderStatus},
    planning::{Intervention, Worker},
};
use serde_json::{Map, Value};

use crate::{
    adapter::{ErpRecord, text},
    bindings,
    writer::{Push, PushError},
};

use super::fields::status_of;

/// The shop's side of a bound record, as it is now (one at a time, on the
/// stack of one reconcile: the size of its largest record is no concern).
#[allow(clippy::large_enum_variant)]
pub(super) enum Shop {
    Customer(Customer),
    Worker(Worker),
    Intervention(Intervention),
    Order(Order),
}

impl Shop {
    pub(super) fn version(&self) -> i64 {
        match self {
            Shop::Customer(r) => r.version,
            Shop::Worker(r) => r.version,
            Shop::Intervention(r) => r.version,
            Shop::Order(r) => r.version,
        }
    }
}

impl Push<'_> {
    /// The shop's record, read now.
    pub(super) async fn read_shop(
        &self,
        entity: &str,
        internal_id: &str,
        erp: &ErpRecord,
        order_hint: Option<&str>,
    ) -> Result<Shop, PushError> {
        let (peers, tenant) = (&self.shared.peers, self.c.tenant);
        Ok(match entity {
            "customer" => Shop::Customer(peers.customer(tenant, internal_id).await?),
            "worker" => Shop::Worker(peers.worker(tenant, internal_id).await?),
            "quote" | "order" => Shop::Order(peers.order(tenant, internal_id).await?),
            "intervention" => {
                // Found through its booking: the hint, else the ERP's quote.
                let order = match order_hint {
                    Some(o) => o.to_owned(),
                    None => {
                        let quote = erp.text("quote");
                        bindings::by_external(&self.shared.pool, self.c.id, "quote", &quote)
                            .await?
                            .map(|q| q.internal_id)
                            .ok_or_else(|| {
                                PushError::Fatal(format!(
                                    "the ERP's quote {quote:?} is not bound to a shop booking"
                                ))
                            })?
                    }
                };
                Shop::Intervention(
                    peers
                        .interventions_of_order(tenant, &order)
                        .await?
                        .into_iter()
                        .find(|i| i.id == internal_id)
                        .ok_or_else(|| {
                            PushError::Fatal(format!("intervention {internal_id} is gone"))
                        })?,
                )
            }
            other => return Err(PushError::Fatal(format!("no ERP object for {other}"))),
        })
    }

    /// The shop's record as the ERP's would show it (the fields a write
    /// sends).
    pub(super) async fn shop_fields(&self, shop: &Shop) -> Result<Map<String, Value>, PushError> {
        Ok(match shop {
            Shop::Customer(r) => Push::customer_fields(r),
            Shop::Worker(r) => {
                let mut m = self.worker_fields(r).await?;
                m.insert(
                    "availability".into(),
                    erp_hours(&r.fields.clone().unwrap_or_default()),
                );
                m
            }
            Shop::Intervention(r) => self.intervention_fields(r).await?,
            Shop::Order(r) if r.kind == "product" => self
                .product_order_fields(r)
                .await?
                .map(|(_, f)| f)
                .unwrap_or_default(),
            Shop::Order(r) => self.quote_fields(r).await?,
        })
    }

    /// The ERP's record as the shop would hold it, shown the way
    /// `shop_fields` shows the shop's: the ERP's values of the mapped
    /// fields, through the same conversions a pull applies (an ERP record
    /// without an email shows the shop's empty one).
    pub(super) async fn erp_fields(
        &self,
        shop: &Shop,
        erp: &ErpRecord,
        shop_fields: &Map<String, Value>,
    ) -> Result<Map<String, Value>, PushError> {
        let keys: Vec<String> = shop_fields.keys().cloned().collect();
        Ok(match shop {
            Shop::Customer(r) => {
                let mut f = r.fields.clone().unwrap_or_default();
                customer_keys(&mut f, &erp.fields, &keys);
                Push::customer_fields(&Customer {
                    fields: Some(f),
                    ..r.clone()
                })
            }
            Shop::Worker(r) => {
                let mut f = r.fields.clone().unwrap_or_default();
                self.worker_keys(&mut f, &erp.fields, &keys).await?;
                let mut m = self
                    .worker_fields(&Worker {
                        fields: Some(f.clone()),
                        ..r.clone()
                    })
                    .await?;
                m.insert("availability".into(), erp_hours(&f));
                m
            }
            // Written by the connector whole: the same shape both ways.
            Shop::Intervention(_) | Shop::Order(_) => keys
                .iter()
                .map(|k| (k.clone(), erp.fields.get(k).cloned().unwrap_or(Value::Null)))
                .collect(),
        })
    }

    /// Worker fields `keys` set from `m` (an ERP employee's shape).
    pub(super) async fn worker_keys(
        &self,
        f: &mut relais_proto::planning::WorkerFields,
        m: &Map<String, Value>,
        keys: &[String],
    ) -> Result<(), PushError> {
        let v = Value::Object(m.clone());
        for k in keys {
            match k.as_str() {
                "first_name" => f.first_name = text(&v, k),
                "last_name" => f.last_name = text(&v, k),
                "email" => f.email = text(&v, k),
                "phone" => f.phone = text(&v, k),
                "photo_url" => f.photo_url = text(&v, k),
                "provider" => f.provider = text(&v, k),
                "active" => f.active = m.get(k).and_then(Value::as_bool).unwrap_or(true),
                "availability" => crate::availability::apply(
                    f,
                    crate::availability::from_erp(m.get(k)),
                    &self.shared.opening_hours,
                ),
                "tariffs" => {
                    // Skills the ERP cannot show (no tariff mapped) stay.
                    let mut skills = Vec::new();
                    for s in &f.skill_service_ids {
                        if crate::bindings::tariff_of(&self.shared.pool, self.c.id, s)
                            .await?
                            .is_none()
                        {
                            skills.push(s.clone());
                        }
                    }
                    for t in m.get(k).and_then(Value::as_array).into_iter().flatten() {
                        if let Some(t) = t.as_str()
                            && let Some(s) =
                                bindings::service_of(&self.shared.pool, self.c.id, t).await?
                        {
                            skills.push(s.to_string());
                        }
                    }
                    skills.sort();
                    skills.dedup();
                    f.skill_service_ids = skills;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes `target`'s `keys` to the shop's record; the record after.
    pub(super) async fn apply_to_shop(
        &self,
        shop: &Shop,
        erp: &ErpRecord,
        target: &Map<String, Value>,
        keys: &[String],
    ) -> Result<Shop, PushError> {
        let (shared, c) = (self.shared, self.c);
        // The ERP's record as it will be: what the shop's converters read.
        let mut rec = erp.clone();
        for (k, v) in target {
            rec.fields.insert(k.clone(), v.clone());
        }
        let failed = |e: anyhow::Error| PushError::Retry(format!("{e:#}"));
        Ok(match shop {
            Shop::Customer(r) => {
                let mut f = r.fields.clone().unwrap_or_default();
                customer_keys(&mut f, target, keys);
                Shop::Customer(
                    shared
                        .peers
                        .update_customer(c.tenant, &c.name, &r.id, r.version, f)
                        .await?,
                )
            }
            Shop::Worker(r) => {
                let mut f = r.fields.clone().unwrap_or_default();
                self.worker_keys(&mut f, target, keys).await?;
                Shop::Worker(
                    shared
                        .peers
                        .update_worker(c.tenant, &c.name, &r.id, r.version, f)
                        .await?,
                )
            }
            Shop::Intervention(r) => Shop::Intervention(
                crate::shop_writes::bring(shared, c, &rec, r.clone())
                    .await
                    .map_err(failed)?
                    .0,
            ),
            Shop::Order(r) => {
                let to = match status_of(target).as_str() {
                    "preparing" => OrderStatus::Preparing,
                    "shipped" => OrderStatus::Shipped,
                    "delivered" => OrderStatus::Delivered,
                    "cancelled" => OrderStatus::Cancelled,
                    _ => return Ok(Shop::Order(r.clone())),
                };
                let f = Value::Object(rec.fields.clone());
                Shop::Order(
                    crate::shop_writes::move_order(shared, c, r.clone(), to, &rec.id, &f)
                        .await
                        .map_err(failed)?
                        .0,
                )
            }
        })
    }
}

/// Customer fields `keys` set from `m` (an ERP customer's shape).
fn customer_keys(
    f: &mut relais_proto::orders::CustomerFields,
    m: &Map<String, Value>,
    keys: &[String],
) {
    let v = Value::Object(m.clone());
    for k in keys {
        match k.as_str() {
            "first_name" => f.first_name = text(&v, k),
            "last_name" => f.last_name = text(&v, k),
            "email" => f.email = text(&v, k),
            "phone" => f.phone = text(&v, k),
            "address" => f.billing_address = crate::shop_writes::address(m.get(k)),
            "price_group" => f.customer_family = text(&v, k),
            _ => {}
        }
    }
}

/// A worker's weekly hours as the ERP sends them, when they came from the
/// ERP (hours set in the shop or the opening hours are not the ERP's to
/// hold): the ERP alone changes them.
fn erp_hours(f: &relais_proto::planning::WorkerFields) -> Value {
    if f.availability_source() != relais_proto::planning::AvailabilitySource::Erp {
        return Value::Null;
    }
    Value::Array(
        f.availability
            .iter()
            .map(|s| serde_json::json!({"weekday": s.weekday, "start": s.start_time, "end": s.end_time}))
            .collect(),
    )
}
