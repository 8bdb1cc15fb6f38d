//! The push worker: writes queued shop records to their connection's ERP.
//!
//! Each write names its record by an idempotency reference
//! (`relais:<connection>:<entity>:<id>`), so a retry after a lost answer
//! finds the record the first call made. An update first reads the ERP's
//! record: already holding what would be written, it is left alone (the
//! retry of a write whose answer was lost); changed there since the last
//! sync, the change is a conflict, settled by the connection's policy. What
//! the record needs in the ERP first (a quote's customer, an intervention's
//! quote and worker) is written first, from its service's current state.

use std::{collections::HashMap, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::FutureExt;
use prost::Message;
use relais_platform::outbox::backoff_delay;
use relais_proto::{
    orders::{Address, Customer, Order, OrderStatus},
    planning::{Intervention, InterventionStatus, Worker},
};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    adapter::{ErpAdapter, ErpError, ErpRecord},
    adapters::Erp,
    bindings,
    connections::{self, Connection},
    peers::PeerError,
    queue::{self, Item},
    shared::Shared,
};

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// May succeed later (the ERP or a service is down): retried.
    #[error("{0}")]
    Retry(String),
    /// Will fail the same way until someone acts: a dead letter at once.
    #[error("{0}")]
    Fatal(String),
    /// Another writer is making the record: tried again soon, the attempt
    /// not counted.
    #[error("{0}")]
    Busy(String),
    /// The bound record is gone from one side (deleted in the ERP, say):
    /// nothing to bring in step until someone acts.
    #[error("{1}")]
    Gone(crate::merge::Side, String),
}

impl From<ErpError> for PushError {
    fn from(e: ErpError) -> Self {
        if e.retryable() {
            PushError::Retry(e.to_string())
        } else {
            PushError::Fatal(e.to_string())
        }
    }
}

impl From<PeerError> for PushError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::Unavailable(m) => PushError::Retry(m),
            other => PushError::Fatal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for PushError {
    fn from(e: sqlx::Error) -> Self {
        PushError::Retry(format!("database: {e}"))
    }
}

impl From<relais_platform::error::Error> for PushError {
    fn from(e: relais_platform::error::Error) -> Self {
        PushError::Retry(format!("{e:#}"))
    }
}

pub struct PushWorker {
    shared: Shared,
}

/// How many writes are in flight at once, across connections.
const IN_FLIGHT: usize = 32;

impl PushWorker {
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }

    /// Keeps up to `IN_FLIGHT` writes going, each connection's limited to
    /// `per_connection`: a slot freed is filled at once, so a write stuck
    /// on one ERP holds up only that connection's. Per-record order is the
    /// queue's: one pending item per record, never two writes of it at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let worker = Arc::new(self);
        let cfg = &worker.shared.push;
        // Long enough for the write and what it needs first.
        let lease = cfg.erp_timeout * 6 + Duration::from_secs(1);
        let mut running: JoinSet<(Uuid, Uuid)> = JoinSet::new();
        // Item id → connection, of the writes running.
        let mut in_flight: HashMap<Uuid, Uuid> = HashMap::new();
        let mut backlog_read: Option<tokio::time::Instant> = None;
        loop {
            let free = IN_FLIGHT - running.len();
            if free > 0 && !shutdown.is_cancelled() {
                // Only what runs now is leased, so no lease runs out waiting.
                let items = queue::lease(
                    &worker.shared.pool,
                    free as i64,
                    cfg.per_connection as i64,
                    &in_flight,
                    lease,
                )
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "push queue unreadable");
                    Vec::new()
                });
                for item in items {
                    in_flight.insert(item.id, item.connection);
                    set_in_flight(&in_flight, item.connection);
                    let (worker, id, connection) = (worker.clone(), item.id, item.connection);
                    running.spawn(async move {
                        // A write that panicked still frees its slot (its
                        // lease runs out and it is tried again).
                        if AssertUnwindSafe(worker.process(item))
                            .catch_unwind()
                            .await
                            .is_err()
                        {
                            tracing::error!(item = %id, "push write panicked");
                        }
                        (id, connection)
                    });
                }
            }
            // Not on every finished write: it counts the whole queue.
            if backlog_read.is_none_or(|at| at.elapsed() >= cfg.poll) {
                backlog_read = Some(tokio::time::Instant::now());
                if let Ok(n) = queue::backlog(&worker.shared.pool).await {
                    metrics::gauge!("relais_connector_push_backlog").set(n as f64);
                }
            }
            if shutdown.is_cancelled() && running.is_empty() {
                return;
            }
            tokio::select! {
                // Stopping: no new work, but what runs finishes.
                () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let mut finished = vec![done];
                    while let Some(done) = running.try_join_next() {
                        finished.push(done);
                    }
                    // Tasks are never aborted and catch their panics.
                    for (id, connection) in finished.into_iter().flatten() {
                        in_flight.remove(&id);
                        set_in_flight(&in_flight, connection);
                    }
                }
                () = worker.shared.wake.notified(), if !shutdown.is_cancelled() => {
                    // The event's transaction commits just after it wakes us.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                () = tokio::time::sleep(cfg.poll), if !shutdown.is_cancelled() => {}
            }
        }
    }

    async fn process(&self, item: Item) {
        let span = tracing::info_span!(
            "push",
            otel.name = %format!("push {}", item.entity),
            connection = %item.connection,
            entity = %item.entity,
            id = %item.internal_id,
            attempt = item.attempts + 1,
        );
        if let Some(tp) = &item.traceparent {
            let mut h = HashMap::new();
            h.insert("traceparent".to_owned(), tp.clone());
            relais_platform::telemetry::set_parent_from(&span, &h);
        }
        async {
            // Within the lease, or given up (and retried) before another
            // worker may take it over.
            let budget = self.shared.push.erp_timeout * 5;
            let outcome = match tokio::time::timeout(budget, self.write(&item)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(PushError::Retry(format!(
                    "the write took longer than {} ms",
                    budget.as_millis()
                ))),
            };
            let pool = &self.shared.pool;
            let cfg = &self.shared.push;
            let recorded = match outcome {
                Ok(()) => {
                    metrics::counter!("relais_connector_pushes_total", "outcome" => "done")
                        .increment(1);
                    queue::done(pool, &item).await
                }
                Err(PushError::Retry(e)) if item.attempts + 1 < cfg.max_attempts => {
                    let delay =
                        backoff_delay(item.attempts.max(0) as u32, cfg.retry_base, cfg.retry_max);
                    tracing::warn!(error = %e, ?delay, "ERP write failed, will retry");
                    metrics::counter!("relais_connector_pushes_total", "outcome" => "retry")
                        .increment(1);
                    queue::retry_later(pool, &item, delay, &e, true).await
                }
                Err(PushError::Busy(e)) => {
                    tracing::info!(error = %e, "waiting for another writer");
                    queue::retry_later(pool, &item, cfg.retry_base, &e, false).await
                }
                Err(e) => {
                    tracing::error!(error = %e, "ERP write dead-lettered");
                    metrics::counter!("relais_connector_pushes_total", "outcome" => "dead")
                        .increment(1);
                    queue::dead(
                        pool,
                        &self.shared.outbox,
                        &self.shared.ns,
                        &item,
                        &e.to_string(),
                    )
                    .await
                }
            };
            if let Err(e) = recorded {
                // The lease runs out and the write is tried again.
                tracing::warn!(error = %e, "push outcome not recorded");
            }
        }
        .instrument(span)
        .await
    }

    async fn write(&self, item: &Item) -> Result<(), PushError> {
        let c = connections::by_id(&self.shared.pool, item.connection).await?;
        if c.tenant != item.tenant {
            return Err(PushError::Fatal(
                "queued for another tenant's connection".into(),
            ));
        }
        if !c.enabled {
            return Err(PushError::Retry(format!(
                "connection {} is disabled",
                c.name
            )));
        }
        let erp = self
            .shared
            .erps
            .get(&c, self.shared.push.erp_timeout)
            .await?;
        let push = Push {
            shared: &self.shared,
            c: &c,
            erp: &erp,
        };
        let bad = |e: prost::DecodeError| PushError::Fatal(format!("unreadable snapshot: {e}"));
        match item.entity.as_str() {
            "customer" => {
                let customer = Customer::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.customer(&customer).await.map(drop)
            }
            "worker" => {
                let worker = Worker::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.worker(&worker).await.map(drop)
            }
            "quote" => {
                let order = Order::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.quote(&order).await.map(drop)
            }
            "product_order" => {
                let order = Order::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.product_order(&order).await.map(drop)
            }
            "intervention" => {
                let i = Intervention::decode(item.snapshot.as_slice()).map_err(bad)?;
                push.intervention(&i).await.map(drop)
            }
            other => Err(PushError::Fatal(format!("no ERP object for {other}"))),
        }
    }
}

/// The writes in flight to `connection`, for the metrics.
fn set_in_flight(in_flight: &HashMap<Uuid, Uuid>, connection: Uuid) {
    let n = in_flight.values().filter(|c| **c == connection).count();
    metrics::gauge!("relais_connector_push_in_flight", "connection" => connection.to_string())
        .set(n as f64);
}

/// One connection's writes.
pub struct Push<'a> {
    pub shared: &'a Shared,
    pub c: &'a Connection,
    pub erp: &'a Erp,
}

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

/// The creation of one reference, claimed (migration create_claims) by one
/// writer, which releases it when done; dropped unreleased (the write cut
/// short by its time budget), it is released in the background.
pub(crate) struct CreationClaim {
    pool: sqlx::PgPool,
    connection: Uuid,
    reference: String,
    token: Uuid,
    released: bool,
}

impl CreationClaim {
    /// None while another writer holds it; a claim older than `stale` (its
    /// writer died) is taken over.
    pub(crate) async fn take(
        pool: &sqlx::PgPool,
        connection: Uuid,
        reference: &str,
        stale: Duration,
    ) -> Result<Option<Self>, PushError> {
        let token = Uuid::now_v7();
        let claimed: Option<i32> = sqlx::query_scalar(
            "insert into create_claims (connection_id, reference, token) values ($1, $2, $4)
             on conflict (connection_id, reference) do update
             set claimed_at = now(), token = excluded.token
             where create_claims.claimed_at < now() - $3 * interval '1 millisecond'
             returning 1",
        )
        .bind(connection)
        .bind(reference)
        .bind(stale.as_millis() as i64)
        .bind(token)
        .fetch_optional(pool)
        .await
        .map_err(|e| PushError::Retry(format!("claiming {reference}: {e}")))?;
        Ok(claimed.map(|_| Self {
            pool: pool.clone(),
            connection,
            reference: reference.to_owned(),
            token,
            released: false,
        }))
    }

    pub(crate) async fn release(mut self) {
        self.released = true;
        release_claim(&self.pool, self.connection, &self.reference, self.token).await;
    }
}

impl Drop for CreationClaim {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (pool, connection, reference, token) = (
            self.pool.clone(),
            self.connection,
            std::mem::take(&mut self.reference),
            self.token,
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { release_claim(&pool, connection, &reference, token).await });
        }
    }
}

/// Only this writer's claim; left behind, it delays a later writer until
/// it is stale.
async fn release_claim(pool: &sqlx::PgPool, connection: Uuid, reference: &str, token: Uuid) {
    if let Err(e) = sqlx::query(
        "delete from create_claims where connection_id = $1 and reference = $2 and token = $3",
    )
    .bind(connection)
    .bind(reference)
    .bind(token)
    .execute(pool)
    .await
    {
        tracing::warn!(error = %e, reference, "creation claim not released");
    }
}

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
            Box::pin(self.reconcile(entity, id, crate::reconcile::Trigger::Push, None)).await?;
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

    /// An intervention of a booking, assigned to its worker's employee.
    pub async fn intervention(&self, i: &Intervention) -> Result<String, PushError> {
        let fields = self.intervention_fields(i).await?;
        self.write("intervention", "service", &i.id, i.version, fields)
            .await
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
