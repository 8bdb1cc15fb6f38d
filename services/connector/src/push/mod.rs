//! Shop → ERP writes: each queued shop record written to its connection's
//! ERP (the worker in `worker.rs`, the fields in `fields.rs`).
//!
//! Each write names its record by an idempotency reference
//! (`relais:<connection>:<entity>:<id>`), so a retry after a lost answer
//! finds the record the first call made. An update first reads the ERP's
//! record: already holding what would be written, it is left alone (the
//! retry of a write whose answer was lost); changed there since the last
//! sync, the change is a conflict, settled by the connection's policy. What
//! the record needs in the ERP first (a quote's customer, an intervention's
//! quote and worker) is written first, from its service's current state.

mod fields;
mod worker;

use relais_proto::{
    orders::{Customer, Order},
    planning::{Intervention, Worker},
};
use serde_json::{Map, Value};

pub use worker::PushWorker;

use crate::{
    adapter::{ErpAdapter, ErpRecord},
    bindings,
    reconcile::Trigger,
    writer::{CreationClaim, Push, PushError},
};

/// The data family an entity syncs in.
fn family_of(entity: &str) -> &'static str {
    match entity {
        "customer" => "customers",
        "worker" => "workers",
        "intervention" => "planning",
        "order" => "orders",
        _ => "bookings",
    }
}

impl Push<'_> {
    /// Writes `fields` as the ERP's record of (`entity`, `id`) at
    /// `shop_version`; returns the ERP's id.
    async fn write(
        &self,
        entity: &str,
        object: &str,
        id: &str,
        shop_version: i64,
        fields: Map<String, Value>,
    ) -> Result<String, PushError> {
        let pool = &self.shared.pool;
        let c = self.c;
        let reference = format!("relais:{}:{entity}:{id}", c.id);
        let Some(b) = bindings::by_internal(pool, c.id, entity, id).await? else {
            if self.erp.keeps_references() {
                return self
                    .create(entity, object, id, shop_version, &reference, &fields)
                    .await;
            }
            let Some(claim) =
                CreationClaim::take(pool, c.id, &reference, self.shared.push.erp_timeout * 5)
                    .await?
            else {
                return Err(PushError::Busy(format!(
                    "another write is creating {reference}; its binding comes with it"
                )));
            };
            // A writer that finished just before this claim bound it: the
            // next attempt writes this version over it, as an update.
            let created = if bindings::by_internal(pool, c.id, entity, id)
                .await?
                .is_some()
            {
                Err(PushError::Retry(format!(
                    "{reference} was created meanwhile; written again as an update"
                )))
            } else {
                self.create(entity, object, id, shop_version, &reference, &fields)
                    .await
            };
            claim.release().await;
            return created;
        };
        if b.shop_version >= shop_version && shop_version > 0 {
            // This version, or a newer one, is there already.
            return Ok(b.external_id);
        }
        if self.erp.reads_back() && self.erp.merges_fields() {
            // Both sides read now and merged by field (reconcile/).
            // Boxed: reconciling an intervention may write its customer first.
            Box::pin(self.reconcile(entity, id, Trigger::Push, None)).await?;
            return Ok(b.external_id);
        }
        if !self.erp.reads_back() {
            // Nothing to compare with: the file carries the shop's version,
            // and the ERP's own edits are seen when its export comes in.
            let rec = self
                .erp
                .upsert(object, Some(&b.external_id), &reference, &fields)
                .await?;
            bindings::record(pool, c.id, entity, id, &rec.id, shop_version, b.erp_version).await?;
            return Ok(rec.id);
        }
        let current = self.erp.get(object, &b.external_id).await?;
        if self.erp.holds(object, &fields, &current) {
            // Already there: a write whose answer was lost, or nothing of
            // ours changed.
            bindings::record(
                pool,
                c.id,
                entity,
                id,
                &b.external_id,
                shop_version,
                current.version,
            )
            .await?;
            return Ok(b.external_id);
        }
        // Only a family the ERP also sends back can change on both sides;
        // what the shop alone owns (online customers, quotes, orders sent
        // only one way) is read-only in the ERP and written whatever it holds.
        let two_way = self.c.pulls(family_of(entity));
        if two_way && current.version != b.erp_version {
            // Changed in the ERP too since the last sync.
            let winner = c.policy().winner();
            crate::runs::conflict(
                pool,
                c,
                entity,
                id,
                &b.external_id,
                shop_version,
                current.version,
                winner,
            )
            .await?;
            if winner != Some("shop") {
                // The shop's version stays unsent; a pull applies the ERP's
                // (erp wins), or staff settle it (manual).
                bindings::record(
                    pool,
                    c.id,
                    entity,
                    id,
                    &b.external_id,
                    shop_version,
                    b.erp_version,
                )
                .await?;
                return Ok(b.external_id);
            }
        }
        let rec = self
            .erp
            .upsert(object, Some(&b.external_id), &reference, &fields)
            .await?;
        bindings::record(pool, c.id, entity, id, &rec.id, shop_version, rec.version).await?;
        Ok(rec.id)
    }

    /// Creates the record (nothing of it is bound yet) and binds it.
    async fn create(
        &self,
        entity: &str,
        object: &str,
        id: &str,
        shop_version: i64,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<String, PushError> {
        let pool = &self.shared.pool;
        let c = self.c;
        let created = self.erp.upsert(object, None, reference, fields).await?;
        // A reference used before answers with the record it made then
        // (a retry after a lost answer, or two writes racing), as it was:
        // brought up to these fields if it is behind. An ERP that cannot
        // be read (files) took the write whole, under the same id.
        let rec = if !self.erp.reads_back() {
            // The ERP's own version of it comes with its exports (a
            // file's time, by another clock): none is known yet.
            ErpRecord {
                version: 0,
                ..created
            }
        } else {
            let current = self.erp.get(object, &created.id).await?;
            if self.erp.holds(object, fields, &current) {
                current
            } else {
                self.erp
                    .upsert(object, Some(&created.id), reference, fields)
                    .await?
            }
        };
        bindings::record(pool, c.id, entity, id, &rec.id, shop_version, rec.version).await?;
        if self.erp.reads_back() && self.erp.merges_fields() {
            // What both sides hold now: the base of the next merge.
            bindings::agree(pool, c.id, entity, id, shop_version, rec.version, fields).await?;
        }
        Ok(rec.id)
    }

    async fn bound(&self, entity: &str, id: &str) -> Result<Option<String>, PushError> {
        Ok(
            bindings::by_internal(&self.shared.pool, self.c.id, entity, id)
                .await?
                .map(|b| b.external_id),
        )
    }

    /// An online customer, read-only in the ERP (the shop owns it).
    pub async fn customer(&self, customer: &Customer) -> Result<String, PushError> {
        let fields = Self::customer_fields(customer);
        self.write(
            "customer",
            "customer",
            &customer.id,
            customer.version,
            fields,
        )
        .await
    }

    async fn customer_id(&self, id: &str) -> Result<String, PushError> {
        if let Some(ext) = self.bound("customer", id).await? {
            return Ok(ext);
        }
        let customer = self.shared.peers.customer(self.c.tenant, id).await?;
        self.customer(&customer).await
    }

    /// A worker created in the shop, as an ERP employee.
    pub async fn worker(&self, worker: &Worker) -> Result<String, PushError> {
        let fields = self.worker_fields(worker).await?;
        self.write("worker", "employee", &worker.id, worker.version, fields)
            .await
    }

    async fn worker_id(&self, id: &str) -> Result<String, PushError> {
        if let Some(ext) = self.bound("worker", id).await? {
            return Ok(ext);
        }
        let worker = self.shared.peers.worker(self.c.tenant, id).await?;
        self.worker(&worker).await
    }

    /// A booking as the ERP's quote: pending, accepted once confirmed,
    /// cancelled when it is.
    pub async fn quote(&self, order: &Order) -> Result<String, PushError> {
        let fields = self.quote_fields(order).await?;
        self.write("quote", "quote", &order.id, order.version, fields)
            .await
    }

    async fn quote_id(&self, order_id: &str) -> Result<String, PushError> {
        if let Some(ext) = self.bound("quote", order_id).await? {
            return Ok(ext);
        }
        let order = self.shared.peers.order(self.c.tenant, order_id).await?;
        self.quote(&order).await
    }

    /// A product order, sent as the connection's rule for its status says
    /// (paid: confirmed; validated: placed; cancelled), as a quote or an
    /// order, with its lines and line discounts. Once sent, later statuses
    /// follow it to the ERP whatever their rule, so the ERP never keeps a
    /// live order the shop cancelled. Ok(None) when it is not sent.
    pub async fn product_order(&self, order: &Order) -> Result<Option<String>, PushError> {
        let Some((object, fields)) = self.product_order_fields(order).await? else {
            return Ok(None);
        };
        self.write(object, object, &order.id, order.version, fields)
            .await
            .map(Some)
    }

    /// An intervention of a booking, assigned to its worker's employee.
    pub async fn intervention(&self, i: &Intervention) -> Result<String, PushError> {
        let fields = self.intervention_fields(i).await?;
        self.write("intervention", "service", &i.id, i.version, fields)
            .await
    }
}
