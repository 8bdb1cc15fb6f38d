//! One bound record brought in step (docs/sync.md): both sides read now,
//! merged field by field against what they last agreed on (merge.rs), the
//! result written to whichever side is behind, read back from both, and
//! kept as the new agreed state. A push, a pull, `verify` and staff
//! settling a conflict all come here, so a record is reconciled the same
//! way whoever noticed the change, and the connector's own writes (their
//! answers lost or not) are recognised by content, never taken for an
//! edit.
//!
//! One record at a time: a claim per binding (`lock`) serialises a push
//! and a pull of the same record (and two replicas); a dead holder's claim
//! goes stale and is taken over.

use chrono::{DateTime, Utc};
use relais_proto::{
    orders::{Customer, Order, OrderStatus},
    planning::{Intervention, InterventionStatus, Worker},
};
use serde_json::{Map, Value};

use crate::{
    Shared,
    adapter::{ErpAdapter, ErpError, ErpRecord, text},
    bindings::{self, Binding},
    connections::Connection,
    merge::{self, Agreed, FieldConflict, Owner, Side},
    push::{CreationClaim, Push, PushError},
    runs,
};

/// Who asked for the record to be reconciled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A shop change queued for the ERP.
    Push,
    /// An ERP change read by a pull.
    Pull,
    /// `verify`: compare only (false) or settle what differs (true).
    Verify { repair: bool },
    /// Staff settled the record's open conflict for this side.
    Settle(Side),
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub shop_written: bool,
    pub erp_written: bool,
    /// Held for staff (an open manual conflict): nothing was written.
    pub held: bool,
    /// The fields where the sides differed when read.
    pub differing: Vec<String>,
}

/// The ERP object a bound entity is written as.
pub fn erp_object(entity: &str) -> Option<&'static str> {
    match entity {
        "customer" => Some("customer"),
        "worker" => Some("employee"),
        "intervention" => Some("service"),
        "quote" => Some("quote"),
        "order" => Some("order"),
        _ => None,
    }
}

/// Not merged: set once at creation (the shop's id, whether the ERP holds
/// the record read-only), or the shop's own words for what the merged
/// fields say (an order's status name in the shop).
const IDENTITY: [&str; 3] = ["shop_id", "read_only", "shop_status"];

/// Fields of an intervention both sides may change (planning is two-way);
/// the rest is the booking's, the shop's.
const PLANNED: [&str; 5] = ["start", "end", "employee", "status", "actual_minutes"];

/// A domain rule that decided fields before the policy.
struct Decided {
    rule: &'static str,
    fields: &'static [&'static str],
    /// Raised to staff: the record is held.
    raised: bool,
}

/// The shop's side of a bound record, as it is now (one at a time, on the
/// stack of one reconcile: the size of its largest record is no concern).
#[allow(clippy::large_enum_variant)]
enum Shop {
    Customer(Customer),
    Worker(Worker),
    Intervention(Intervention),
    Order(Order),
}

impl Shop {
    fn version(&self) -> i64 {
        match self {
            Shop::Customer(r) => r.version,
            Shop::Worker(r) => r.version,
            Shop::Intervention(r) => r.version,
            Shop::Order(r) => r.version,
        }
    }
}

/// A time field written as RFC 3339: compared as instants, whatever the
/// offset an ERP user typed.
fn canonical(field: &str, v: &Value) -> Value {
    if matches!(field, "start" | "end" | "placed_at")
        && let Some(t) = v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        return t.with_timezone(&Utc).to_rfc3339().into();
    }
    v.clone()
}

fn canonical_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !IDENTITY.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), canonical(k, v)))
        .collect()
}

fn order_rank(status: &str) -> Option<u8> {
    match status {
        "validated" => Some(0),
        "paid" => Some(1),
        "preparing" => Some(2),
        "shipped" => Some(3),
        "delivered" => Some(4),
        _ => None,
    }
}

fn status_of(m: &Map<String, Value>) -> String {
    m.get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl Push<'_> {
    /// Who may change `field` of `entity` on this connection;
    /// `shop_owned`: a customer created online (read-only in the ERP).
    fn owner(&self, entity: &str, field: &str, shop_owned: bool, settle: Option<Side>) -> Owner {
        let c = self.c;
        if shop_owned {
            return Owner::Shop;
        }
        let (sends, pulls) = match entity {
            "customer" => (c.sends("customers"), c.pulls("customers")),
            // Hours go one way: the ERP's, when it sends some.
            "worker" if field == "availability" => (false, true),
            "worker" => (c.sends("workers"), c.pulls("workers")),
            "intervention" if PLANNED.contains(&field) => (
                c.sends("bookings") || c.sends("planning"),
                c.pulls("planning"),
            ),
            // The status of an order the ERP moves on (its orders pull);
            // domain rules decide it before any policy (`order_rules`).
            "order" | "quote" if field == "status" => (true, c.pulls("orders")),
            _ => (true, false),
        };
        let winner = settle.or(match c.policy().winner() {
            Some("erp") => Some(Side::Erp),
            Some("shop") => Some(Side::Shop),
            _ => None,
        });
        match (sends, pulls) {
            (true, true) => Owner::Both { winner },
            (false, true) => Owner::Erp,
            _ => Owner::Shop,
        }
    }

    /// The shop's record, read now.
    async fn read_shop(
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
    async fn shop_fields(&self, shop: &Shop) -> Result<Map<String, Value>, PushError> {
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
    async fn erp_fields(
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
    async fn worker_keys(
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

    /// Domain rules over the merged status, before any policy: a
    /// cancellation is never left live on the other side, an order never
    /// moves back, and what the shop cannot do is raised to staff. The
    /// rule that decided, and the fields it decided.
    fn status_rules(
        &self,
        entity: &str,
        shop: &Shop,
        s: &Map<String, Value>,
        e: &Map<String, Value>,
        merged: &mut merge::Merged,
        settle: Option<Side>,
    ) -> Option<Decided> {
        let (ss, es) = (status_of(s), status_of(e));
        let final_in_shop =
            matches!(shop, Shop::Intervention(i) if i.status() != InterventionStatus::Planned);
        // An intervention closed in the shop cannot move there any more,
        // whatever the ERP's status says.
        if ss == es && !final_in_shop {
            return None;
        }
        let set = |m: &mut merge::Merged, v: &str| {
            m.target.insert("status".into(), v.into());
        };
        match (entity, shop) {
            ("intervention", Shop::Intervention(_)) => {
                if final_in_shop {
                    // Done or cancelled in the shop: final there, so its
                    // planning fields are the shop's.
                    for k in PLANNED {
                        if let Some(v) = s.get(k) {
                            merged.target.insert(k.into(), v.clone());
                        }
                    }
                    return Some(Decided {
                        rule: "the intervention is final in the shop (done or cancelled)",
                        fields: &PLANNED,
                        raised: false,
                    });
                }
                let target = status_of(&merged.target);
                if target != "planned" {
                    // Cancelled or done in the ERP: the time and worker a
                    // closed intervention had in the shop stay.
                    for k in ["start", "end", "employee"] {
                        if let Some(v) = s.get(k) {
                            merged.target.insert(k.into(), v.clone());
                        }
                    }
                    return Some(Decided {
                        rule: "closed in the ERP: the shop's time and worker stay",
                        fields: &["start", "end", "employee"],
                        raised: false,
                    });
                }
                None
            }
            // Only where the ERP moves orders on (its states are pulled);
            // elsewhere the status is the shop's alone.
            ("order" | "quote", Shop::Order(o))
                if o.kind == "product" && self.c.pulls("orders") =>
            {
                if let Some(side) = settle {
                    // Staff decided which status stands.
                    let chosen = if side == Side::Shop { &ss } else { &es };
                    set(merged, chosen);
                    return Some(Decided {
                        rule: "settled by staff",
                        fields: &["status"],
                        raised: false,
                    });
                }
                let shop_may_cancel = matches!(
                    o.status(),
                    OrderStatus::Quote | OrderStatus::Placed | OrderStatus::Confirmed
                );
                let raise = |m: &mut merge::Merged, why| {
                    set(m, &ss);
                    if !m.conflicts.iter().any(|c| c.field == "status") {
                        m.conflicts.push(FieldConflict {
                            field: "status".into(),
                            shop: ss.clone().into(),
                            erp: es.clone().into(),
                            agreed: None,
                        });
                    }
                    m.held = true;
                    Some(Decided {
                        rule: why,
                        fields: &["status"],
                        raised: true,
                    })
                };
                match (ss.as_str(), es.as_str()) {
                    ("cancelled", "shipped" | "delivered") => {
                        raise(merged, "cancelled in the shop after the ERP shipped it")
                    }
                    ("cancelled", _) => {
                        set(merged, "cancelled");
                        Some(Decided {
                            rule: "a cancellation in the shop is sent to the ERP",
                            fields: &["status"],
                            raised: false,
                        })
                    }
                    (_, "cancelled") if shop_may_cancel => {
                        set(merged, "cancelled");
                        Some(Decided {
                            rule: "a cancellation in the ERP is taken by the shop",
                            fields: &["status"],
                            raised: false,
                        })
                    }
                    (_, "cancelled") => raise(
                        merged,
                        "cancelled in the ERP after the shop moved the order on",
                    ),
                    _ => {
                        // Both moving forward: the furthest along, if the
                        // shop can take it from the ERP (payment is the
                        // shop's own step).
                        let erp_may_move =
                            matches!(es.as_str(), "preparing" | "shipped" | "delivered");
                        let furthest = if erp_may_move && order_rank(&es) > order_rank(&ss) {
                            &es
                        } else {
                            &ss
                        };
                        set(merged, furthest);
                        Some(Decided {
                            rule: "an order never moves back",
                            fields: &["status"],
                            raised: false,
                        })
                    }
                }
            }
            _ => None,
        }
    }

    /// Writes `target`'s `keys` to the shop's record; the record after.
    async fn apply_to_shop(
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
                crate::planning::bring(shared, c, &rec, r.clone())
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
                    crate::customers::move_order(shared, c, r.clone(), to, &rec.id, &f)
                        .await
                        .map_err(failed)?
                        .0,
                )
            }
        })
    }

    /// The record's lock (a claim row, so no database connection is held
    /// while the ERP answers): a push and a pull of one record, or two
    /// replicas, take turns. A holder that died is taken over once its
    /// claim is stale; waiting longer than a few ERP calls is Busy.
    async fn lock(&self, entity: &str, internal_id: &str) -> Result<CreationClaim, PushError> {
        let key = format!("reconcile:{entity}:{internal_id}");
        let timeout = self.shared.push.erp_timeout;
        let deadline = tokio::time::Instant::now() + timeout * 3;
        loop {
            if let Some(claim) =
                CreationClaim::take(&self.shared.pool, self.c.id, &key, timeout * 6).await?
            {
                return Ok(claim);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PushError::Busy(format!(
                    "{entity} {internal_id} is being brought in step by another writer"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Brings the bound record (`entity`, `internal_id`) in step; see the
    /// module's comment. `order_hint`: an intervention's booking, when the
    /// caller knows it.
    pub async fn reconcile(
        &self,
        entity: &str,
        internal_id: &str,
        trigger: Trigger,
        order_hint: Option<&str>,
    ) -> Result<Outcome, PushError> {
        // Within the time a claim stays fresh: past it another writer may
        // take the record over, so this one must have stopped.
        let budget = self.shared.push.erp_timeout * 5;
        tokio::time::timeout(
            budget,
            self.reconcile_now(entity, internal_id, trigger, order_hint),
        )
        .await
        .unwrap_or_else(|_| {
            Err(PushError::Retry(format!(
                "{entity} {internal_id}: not in step within {} ms",
                budget.as_millis()
            )))
        })
    }

    async fn reconcile_now(
        &self,
        entity: &str,
        internal_id: &str,
        trigger: Trigger,
        order_hint: Option<&str>,
    ) -> Result<Outcome, PushError> {
        let pool = &self.shared.pool;
        let c = self.c;
        let object = erp_object(entity)
            .ok_or_else(|| PushError::Fatal(format!("no ERP object for {entity}")))?;
        let lock = self.lock(entity, internal_id).await?;
        let b: Binding = bindings::by_internal(pool, c.id, entity, internal_id)
            .await?
            .ok_or_else(|| PushError::Fatal(format!("{entity} {internal_id} is not bound")))?;
        let settle = match trigger {
            Trigger::Settle(side) => Some(side),
            _ => None,
        };
        let writes = !matches!(trigger, Trigger::Verify { repair: false });
        if b.held_by.is_some() && settle.is_none() {
            // Held for staff: neither side is written until they settle.
            return Ok(Outcome {
                held: true,
                ..Outcome::default()
            });
        }
        let erp = match self.erp.get(object, &b.external_id).await {
            Ok(r) => r,
            Err(ErpError::NotFound(m)) => {
                return Err(PushError::Gone(
                    Side::Erp,
                    format!("the ERP no longer holds {object} {}: {m}", b.external_id),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let shop = match self.read_shop(entity, internal_id, &erp, order_hint).await {
            Err(PushError::Fatal(m)) if m.contains("gone") || m.contains("not found") => {
                return Err(PushError::Gone(Side::Shop, m));
            }
            other => other?,
        };
        let shop_all = self.shop_fields(&shop).await?;
        let erp_all = self.erp_fields(&shop, &erp, &shop_all).await?;
        let (s, e) = (canonical_map(&shop_all), canonical_map(&erp_all));
        let mut agreed = b.agreed.as_ref().map(canonical_map);
        if let Some(a) = agreed.as_mut() {
            // A side that holds what the last unfinished merge wrote to it
            // (its answer lost, say) took the connector's own write: both
            // held that value then, whatever the other side did since.
            for (sent, now) in [(&b.sent_erp, &e), (&b.sent_shop, &s)] {
                for (k, v) in sent.iter().flatten() {
                    let v = canonical(k, v);
                    if now.get(k) == Some(&v) {
                        a.insert(k.clone(), v);
                    }
                }
            }
        }
        let basis = match &agreed {
            Some(a) => Agreed::Known(a),
            None => Agreed::Unknown {
                shop_changed: shop.version() != b.shop_version,
                erp_changed: erp.version != b.erp_version,
            },
        };
        // A customer created online, a booking: the shop's (read-only in
        // the ERP).
        let shop_owned = match &shop {
            Shop::Customer(r) => !r.read_only,
            Shop::Order(o) => o.kind != "product",
            _ => false,
        };
        let mut merged = merge::merge(basis, &s, &e, |k| self.owner(entity, k, shop_owned, settle));
        let decided = self.status_rules(entity, &shop, &s, &e, &mut merged, settle);
        let rule = decided.as_ref().map(|d| d.rule);
        // Edits of one side a rule wrote over (recorded with the rule).
        let mut ruled: Vec<FieldConflict> = Vec::new();
        if decided.is_some()
            && let Some(a) = &agreed
        {
            // An edit a rule wrote over is recorded like any other: as a
            // conflict the rule decided, or, on a field the shop alone
            // owns, as an ERP edit written over.
            for (k, t) in &merged.target {
                let (sv, ev, av) = (
                    s.get(k).cloned().unwrap_or(Value::Null),
                    e.get(k).cloned().unwrap_or(Value::Null),
                    a.get(k).cloned().unwrap_or(Value::Null),
                );
                let listed = merged
                    .conflicts
                    .iter()
                    .chain(&merged.overwritten)
                    .any(|c| &c.field == k);
                if listed {
                    continue;
                }
                let seen = FieldConflict {
                    field: k.clone(),
                    shop: sv.clone(),
                    erp: ev.clone(),
                    agreed: Some(av.clone()),
                };
                let erp_lost = ev != av && *t != ev;
                if erp_lost && matches!(self.owner(entity, k, shop_owned, None), Owner::Shop) {
                    merged.overwritten.push(seen);
                } else if erp_lost || (sv != av && *t != sv) {
                    ruled.push(seen);
                }
            }
        }
        if let Some(d) = &decided
            && !d.raised
        {
            // Decided by a rule, not left to staff: only other fields both
            // sides changed can still hold the record.
            merged.held = merged.conflicts.iter().any(|c| {
                !d.fields.contains(&c.field.as_str())
                    && matches!(
                        self.owner(entity, &c.field, shop_owned, settle),
                        Owner::Both { winner: None }
                    )
            });
        }
        let differing = merge::differing(&s, &e);
        let outcome = Outcome {
            differing: differing.clone(),
            ..Outcome::default()
        };
        if !writes {
            return Ok(outcome);
        }
        if settle.is_some() {
            // Staff decided: what was held is written now.
            merged.held = false;
        }
        let (seen_shop, seen_erp) = (shop.version(), erp.version);
        let seen = |kind, winner, fields| runs::Seen {
            entity,
            internal_id,
            external_id: &b.external_id,
            shop_version: seen_shop,
            erp_version: seen_erp,
            winner,
            kind,
            fields,
            rule,
        };
        if merged.held {
            let id = runs::record_conflict(
                &mut *pool.acquire().await?,
                c,
                &seen("conflict", None, &merged.conflicts),
            )
            .await?;
            bindings::hold(pool, c.id, entity, internal_id, id).await?;
            lock.release().await;
            return Ok(Outcome {
                held: true,
                ..outcome
            });
        }
        // Recorded before anything is written: a write that fails half
        // way (its answer lost) is merged again next time, and by then the
        // ERP may no longer show what it had. The same record twice is one.
        if settle.is_none() {
            if !merged.conflicts.is_empty() {
                let winner = self.owner(entity, &merged.conflicts[0].field, shop_owned, None);
                let winner = match (rule, winner) {
                    (Some(_), _) => {
                        // The rule's side: whose value the field kept.
                        let first = &merged.conflicts[0];
                        if merged.target.get(&first.field) == Some(&first.shop) {
                            Some("shop")
                        } else {
                            Some("erp")
                        }
                    }
                    (None, Owner::Both { winner: Some(w) }) => Some(w.as_str()),
                    (None, Owner::Erp) => Some("erp"),
                    _ => Some("shop"),
                };
                runs::record_conflict(
                    &mut *pool.acquire().await?,
                    c,
                    &seen("conflict", winner, &merged.conflicts),
                )
                .await?;
            }
            if let Some(first) = ruled.first() {
                // The side whose value the rule kept.
                let kept = if merged.target.get(&first.field) == Some(&first.shop) {
                    "shop"
                } else {
                    "erp"
                };
                runs::record_conflict(
                    &mut *pool.acquire().await?,
                    c,
                    &seen("conflict", Some(kept), &ruled),
                )
                .await?;
            }
            if !merged.overwritten.is_empty() {
                runs::record_conflict(
                    &mut *pool.acquire().await?,
                    c,
                    &seen("erp_overwritten", Some("shop"), &merged.overwritten),
                )
                .await?;
            }
        }
        // What each side must take, noted before it is written.
        let to_shop = merge::differing(&merged.target, &s);
        let pick = |keys: &[String]| -> Map<String, Value> {
            keys.iter()
                .filter_map(|k| merged.target.get(k).map(|v| (k.clone(), v.clone())))
                .collect()
        };
        let (erp_keys, shop_keys) = (merge::differing(&merged.target, &e), to_shop.clone());
        if !erp_keys.is_empty() || !shop_keys.is_empty() {
            bindings::sending(
                pool,
                c.id,
                entity,
                internal_id,
                &pick(&erp_keys),
                &pick(&shop_keys),
            )
            .await?;
        }
        tracing::debug!(
            entity, internal_id, ?trigger, ?to_shop,
            to_erp = ?merge::differing(&merged.target, &e),
            conflicts = ?merged.conflicts.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
            agreed_known = agreed.is_some(),
            "reconciling"
        );
        let mut outcome = outcome;
        let shop = if to_shop.is_empty() {
            shop
        } else {
            outcome.shop_written = true;
            let changed = self
                .apply_to_shop(&shop, &erp, &merged.target, &to_shop)
                .await?;
            // What the shop derives from the change (fields it alone
            // owns) is the shop's to send.
            let derived = canonical_map(&self.shop_fields(&changed).await?);
            for (k, v) in derived {
                if matches!(self.owner(entity, &k, shop_owned, settle), Owner::Shop) {
                    merged.target.insert(k, v);
                }
            }
            changed
        };
        let to_erp = merge::differing(&merged.target, &e);
        let erp = if to_erp.is_empty() {
            erp
        } else {
            outcome.erp_written = true;
            let fields: Map<String, Value> = to_erp
                .iter()
                .filter_map(|k| merged.target.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            let reference = format!("relais:{}:{entity}:{internal_id}", c.id);
            let written = self
                .erp
                .upsert(object, Some(&b.external_id), &reference, &fields)
                .await?;
            let after = self.erp.get(object, &b.external_id).await?;
            // Someone else's write between our read and ours, not seen
            // in the fields we did not write: it may have been written over.
            let foreign = written
                .version
                .saturating_sub(erp.version)
                .saturating_sub(1);
            let seen_elsewhere = {
                let now = canonical_map(&self.erp_fields(&shop, &after, &shop_all).await?);
                now.iter()
                    .any(|(k, v)| !to_erp.contains(k) && e.get(k) != Some(v))
            };
            if foreign > 0 && !(foreign == 1 && seen_elsewhere) && settle.is_none() {
                // Someone wrote the ERP's record between our read and our
                // write (the ERP takes no condition on a write): an edit of
                // these fields there may have been written over. Said to
                // staff rather than lost unseen.
                let seen: Vec<FieldConflict> = to_erp
                    .iter()
                    .map(|k| FieldConflict {
                        field: k.clone(),
                        shop: merged.target.get(k).cloned().unwrap_or(Value::Null),
                        erp: e.get(k).cloned().unwrap_or(Value::Null),
                        agreed: agreed
                            .as_ref()
                            .map(|a| a.get(k).cloned().unwrap_or(Value::Null)),
                    })
                    .collect();
                runs::record_conflict(
                    &mut *pool.acquire().await?,
                    c,
                    &runs::Seen {
                        entity,
                        internal_id,
                        external_id: &b.external_id,
                        shop_version: seen_shop,
                        erp_version: written.version,
                        winner: Some("shop"),
                        kind: "erp_overwritten",
                        fields: &seen,
                        rule: Some("the ERP changed the record while the connector wrote it"),
                    },
                )
                .await?;
            }
            after
        };
        // Read back: both sides must now hold the target.
        let shop_now = canonical_map(&self.shop_fields(&shop).await?);
        let erp_now = canonical_map(&self.erp_fields(&shop, &erp, &shop_now).await?);
        let off: Vec<String> = merge::differing(&merged.target, &shop_now)
            .into_iter()
            .chain(merge::differing(&merged.target, &erp_now))
            .collect();
        if !off.is_empty() {
            return Err(PushError::Retry(format!(
                "{entity} {internal_id}: after the merge the sides still differ on {}",
                off.join(", ")
            )));
        }
        bindings::agree(
            pool,
            c.id,
            entity,
            internal_id,
            shop.version(),
            erp.version,
            &merged.target,
        )
        .await?;
        lock.release().await;
        Ok(outcome)
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
            "address" => f.billing_address = crate::customers::address(m.get(k)),
            "price_group" => f.customer_family = text(&v, k),
            _ => {}
        }
    }
}

/// A pull's bound record, reconciled: Some(true) when the shop changed;
/// None when the connection's ERP is not merged by field (the caller
/// compares it whole).
pub(crate) async fn on_pull(
    shared: &Shared,
    c: &Connection,
    entity: &str,
    internal_id: &str,
) -> anyhow::Result<Option<bool>> {
    let erp = shared.erps.get(c, shared.push.erp_timeout).await?;
    if !erp.reads_back() || !erp.merges_fields() {
        return Ok(None);
    }
    let push = Push {
        shared,
        c,
        erp: &erp,
    };
    let out = push
        .reconcile(entity, internal_id, Trigger::Pull, None)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(out.shop_written))
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
