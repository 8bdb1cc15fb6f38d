//! ERP → shop planning changes (seed 000: "planning changes sync both
//! ways"): an intervention the shop sent to the ERP and that the ERP then
//! rescheduled, reassigned, cancelled or marked done is changed the same way
//! in planning, as the connection (so the change is not sent back). The
//! shop → ERP side is the intervention push. Interventions the ERP makes for
//! its own customers are the ERP's alone: they are skipped.

use crate::{
    adapter::ErpRecord, bindings, connections::Connection, peers::PeerError, runs, shared::Shared,
    shop_writes::bring,
};

pub enum Outcome {
    Changed,
    Unchanged,
}

pub async fn apply(shared: &Shared, c: &Connection, rec: &ErpRecord) -> anyhow::Result<Outcome> {
    let pool = &shared.pool;
    let Some(b) = bindings::by_external(pool, c.id, "intervention", &rec.id).await? else {
        // The ERP's own intervention (a customer it keeps), or one whose
        // write to the ERP is finishing.
        return Ok(Outcome::Unchanged);
    };
    if b.erp_version >= rec.version {
        return Ok(Outcome::Unchanged);
    }
    if let Some(changed) =
        crate::reconcile::on_pull(shared, c, "intervention", &b.internal_id).await?
    {
        return Ok(if changed {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        });
    }
    let quote = rec.text("quote");
    let order = bindings::by_external(pool, c.id, "quote", &quote)
        .await?
        .map(|q| q.internal_id)
        .ok_or_else(|| anyhow::anyhow!("quote {quote:?} is not bound to a shop booking"))?;
    let current = shared
        .peers
        .interventions_of_order(c.tenant, &order)
        .await?
        .into_iter()
        .find(|i| i.id == b.internal_id)
        .ok_or_else(|| PeerError::NotFound(format!("intervention {}", b.internal_id)))?;
    if current.version != b.shop_version {
        // Interventions go back to the ERP with bookings or planning.
        let winner = if c.sends("bookings") {
            c.policy().winner()
        } else {
            c.pull_winner("planning")
        };
        runs::conflict(
            pool,
            c,
            "intervention",
            &current.id,
            &rec.id,
            current.version,
            rec.version,
            winner,
        )
        .await?;
        if winner != Some("erp") {
            bindings::record(
                pool,
                c.id,
                "intervention",
                &current.id,
                &rec.id,
                b.shop_version,
                rec.version,
            )
            .await?;
            return Ok(Outcome::Unchanged);
        }
    }
    let (current, changed) = bring(shared, c, rec, current).await?;
    let outcome = if changed {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    };
    bindings::record(
        pool,
        c.id,
        "intervention",
        &current.id,
        &rec.id,
        current.version,
        rec.version,
    )
    .await?;
    Ok(outcome)
}
