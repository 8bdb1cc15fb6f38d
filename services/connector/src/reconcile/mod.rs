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
//!
//! `shop.rs` reads, shows and writes the shop's side; `rules.rs` holds the
//! domain rules that come before any policy; `fields.rs` how fields are
//! compared and who owns each.

mod fields;
mod rules;
mod shop;

use serde_json::{Map, Value};

use crate::{
    adapter::{ErpAdapter, ErpError},
    bindings::{self, Binding},
    connections::Connection,
    merge::{self, Agreed, FieldConflict, Owner, Side},
    runs,
    shared::Shared,
    writer::{CreationClaim, Push, PushError},
};
use fields::{canonical, canonical_map};
use shop::Shop;

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

impl Push<'_> {
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
                        // On a record the shop owns, an ERP edit is written
                        // over anyway; on one both sides edit, it met the
                        // shop's edit: a conflict, decided by the timing.
                        kind: if shop_owned {
                            "erp_overwritten"
                        } else {
                            "conflict"
                        },
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
