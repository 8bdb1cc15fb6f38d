//! Staff settle a conflict the connection's policy left to them (manual):
//! the shop's version goes to the ERP (its last snapshot written again,
//! over what the ERP holds now), or the ERP's comes to the shop (read from
//! the ERP and applied over the shop's current version: customers, workers,
//! interventions). Either way the
//! conflict records who settled it and when; a second settlement is
//! refused. The conflict's row stays locked while the ERP is read, so two
//! staff settling it at once take turns (an ERP call lasts at most the
//! connector's ERP timeout).

use relais_platform::{
    auth::Caller,
    error::{Error, Result},
};
use relais_proto::connector as pb;
use uuid::Uuid;

use crate::{
    adapter::{ErpAdapter, ErpError},
    bindings, connections, queue,
    reconcile::erp_object,
    runs,
    shared::Shared,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Shop,
    Erp,
}

fn unavailable(e: ErpError) -> Error {
    match e {
        ErpError::NotFound(m) => Error::FailedPrecondition(format!(
            "the ERP no longer holds the record ({m}): nothing to settle against"
        )),
        e => Error::Unavailable(e.to_string()),
    }
}

pub async fn resolve(
    shared: &Shared,
    caller: &Caller,
    id: Uuid,
    side: Side,
) -> Result<pb::Conflict> {
    let pool = &shared.pool;
    let mut tx = pool.begin().await?;
    let conflict = runs::conflict_for_update(&mut *tx, caller.tenant, id).await?;
    if !conflict.winner.is_empty() {
        return Err(Error::FailedPrecondition(format!(
            "conflict {id} is settled already: the {} version won",
            conflict.winner
        )));
    }
    let connection_id: Uuid = conflict
        .connection_id
        .parse()
        .map_err(|_| Error::Unexpected(anyhow::anyhow!("conflict {id}: bad connection id")))?;
    let c = connections::get(&mut *tx, caller.tenant, connection_id).await?;
    let (entity, internal_id) = (conflict.entity.as_str(), conflict.internal_id.as_str());
    let object = erp_object(entity).ok_or_else(|| {
        Error::FailedPrecondition(format!("a conflict on {entity} cannot be settled here"))
    })?;
    let b = bindings::by_internal(&mut *tx, c.id, entity, internal_id)
        .await?
        .ok_or_else(|| {
            Error::FailedPrecondition(format!("{entity} {internal_id} is no longer bound"))
        })?;
    let erp = shared
        .erps
        .get(&c, shared.push.erp_timeout)
        .await
        .map_err(unavailable)?;
    if erp.reads_back() && erp.merges_fields() {
        // Both sides' current states merged, the conflicting fields taken
        // from the chosen side, written, read back and agreed; the record
        // is no longer held.
        let push = crate::writer::Push {
            shared,
            c: &c,
            erp: &erp,
        };
        let chosen = match side {
            Side::Shop => crate::merge::Side::Shop,
            Side::Erp => crate::merge::Side::Erp,
        };
        push.reconcile(
            entity,
            internal_id,
            crate::reconcile::Trigger::Settle(chosen),
            None,
        )
        .await
        .map_err(|e| match e {
            crate::writer::PushError::Retry(m) | crate::writer::PushError::Busy(m) => {
                Error::Unavailable(m)
            }
            other => Error::FailedPrecondition(other.to_string()),
        })?;
        let settled = runs::settle(&mut *tx, id, chosen.as_str(), &caller.subject).await?;
        tx.commit().await?;
        return Ok(settled);
    }
    let winner = match side {
        Side::Shop => {
            // The shop's last state, as the push queue last carried it (a
            // product order is queued as such, sent as a quote or order).
            let queued: Vec<&str> = match entity {
                "order" => vec!["product_order"],
                "quote" => vec!["quote", "product_order"],
                other => vec![other],
            };
            let last: Option<(Vec<u8>, i64, String)> = sqlx::query_as(
                "select snapshot, shop_version, entity from push_items
                 where connection_id = $1 and entity = any($2) and internal_id = $3
                 order by shop_version desc, updated_at desc limit 1",
            )
            .bind(c.id)
            .bind(&queued)
            .bind(internal_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((snapshot, shop_version, queued)) = last else {
                return Err(Error::FailedPrecondition(format!(
                    "the shop never sent {entity} {internal_id} to the ERP: change it in the shop, or settle for the ERP"
                )));
            };
            // Written over the ERP's version as it is now: the write sees
            // no new ERP change, and the shop's version as not sent yet.
            let erp_version = if erp.reads_back() {
                erp.get(object, &b.external_id)
                    .await
                    .map_err(unavailable)?
                    .version
            } else {
                b.erp_version
            };
            bindings::set_versions(&mut *tx, c.id, entity, internal_id, 0, erp_version).await?;
            queue::enqueue(
                &mut tx,
                &queue::NewItem {
                    tenant: c.tenant,
                    connection: c.id,
                    entity: &queued,
                    internal_id,
                    snapshot: &snapshot,
                    shop_version,
                    cause: "conflict settled for the shop",
                    traceparent: None,
                },
            )
            .await?;
            "shop"
        }
        Side::Erp => {
            if !erp.reads_back() {
                return Err(Error::FailedPrecondition(format!(
                    "connection {} exchanges files: the ERP's version comes with its next export",
                    c.name
                )));
            }
            let rec = erp.get(object, &b.external_id).await.map_err(unavailable)?;
            let shop_version = match entity {
                "customer" => {
                    shared
                        .peers
                        .customer(c.tenant, internal_id)
                        .await
                        .map_err(crate::peers::peer)?
                        .version
                }
                "worker" => {
                    shared
                        .peers
                        .worker(c.tenant, internal_id)
                        .await
                        .map_err(crate::peers::peer)?
                        .version
                }
                "intervention" => {
                    // Found through its booking, as the planning pull does.
                    let quote = rec.text("quote");
                    let order = bindings::by_external(pool, c.id, "quote", &quote)
                        .await?
                        .map(|q| q.internal_id)
                        .ok_or_else(|| {
                            Error::FailedPrecondition(format!(
                                "the ERP's quote {quote:?} is not bound to a shop booking"
                            ))
                        })?;
                    shared
                        .peers
                        .interventions_of_order(c.tenant, &order)
                        .await
                        .map_err(crate::peers::peer)?
                        .into_iter()
                        .find(|i| i.id == internal_id)
                        .map(|i| i.version)
                        .ok_or_else(|| Error::not_found(format!("intervention {internal_id}")))?
                }
                _ => {
                    return Err(Error::FailedPrecondition(format!(
                        "a conflict on {entity} is settled for the shop only"
                    )));
                }
            };
            // Applied over the shop's current version, whatever the ERP's
            // version last seen: no conflict, the ERP's fields win. Put
            // back as they were if it cannot be applied, so that the
            // conflict stays open and nothing else takes the ERP's side.
            bindings::set_versions(pool, c.id, entity, internal_id, shop_version, 0).await?;
            let applied = match entity {
                "customer" => crate::customers_pull::apply(shared, &c, &rec)
                    .await
                    .map_err(|e| Error::FailedPrecondition(format!("{e:#}")))
                    .and_then(|changed| {
                        if changed {
                            Ok(())
                        } else {
                            Err(Error::FailedPrecondition(format!(
                                "customer {internal_id} belongs to the shop (created online): \
                                 the ERP's edits of it are not taken; settle for the shop"
                            )))
                        }
                    }),
                "intervention" => crate::planning_pull::apply(shared, &c, &rec)
                    .await
                    .map(drop)
                    .map_err(|e| Error::FailedPrecondition(format!("{e:#}"))),
                _ => crate::workers_pull::apply_worker(shared, &c, &rec).await,
            };
            if let Err(e) = applied {
                bindings::set_versions(
                    pool,
                    c.id,
                    entity,
                    internal_id,
                    b.shop_version,
                    b.erp_version,
                )
                .await?;
                return Err(e);
            }
            "erp"
        }
    };
    let settled = runs::settle(&mut *tx, id, winner, &caller.subject).await?;
    tx.commit().await?;
    shared.wake.notify_one();
    Ok(settled)
}
