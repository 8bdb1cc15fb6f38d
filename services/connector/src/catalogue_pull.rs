//! ERP → shop catalogue (seed 004): families become the category tree
//! (parents first), articles become products with their stock and their
//! prices per customer price group, through the catalogue's bulk import as
//! the connection. Each article is bound to its product; an article whose
//! ERP version was applied already is skipped without a call.

use std::collections::HashMap;

use relais_platform::error::{Error, Result};
use relais_proto::{
    catalogue::{
        BulkCategory, BulkPrice, BulkProduct, BulkStock, BulkUpsertRequest, ProductFields,
        bulk_upsert_request::Item,
    },
    types::Money,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    adapter::ErpRecord,
    connections::Connection,
    runs::{Failed, Run},
    shared::Shared,
};

/// Bulk-import streams a page of articles is split over.
const BULK_STREAMS: usize = 4;

fn int(r: &ErpRecord, field: &str) -> Option<i64> {
    r.fields.get(field).and_then(Value::as_i64)
}

/// Families ordered so that each comes after its parent (those of the same
/// page; a parent already in the shop is found there by code).
pub fn families_in_order(records: &[ErpRecord]) -> Vec<&ErpRecord> {
    let by_code: HashMap<String, &ErpRecord> =
        records.iter().map(|r| (r.text("code"), r)).collect();
    let depth = |r: &ErpRecord| {
        let mut d = 0;
        let mut parent = r.text("parent_code");
        while let Some(p) = by_code.get(&parent) {
            d += 1;
            if d > 32 {
                break; // a cycle: the catalogue refuses it with the reason
            }
            parent = p.text("parent_code");
        }
        d
    };
    let mut ordered: Vec<&ErpRecord> = records.iter().collect();
    ordered.sort_by_key(|r| depth(r));
    ordered
}

pub fn family_item(r: &ErpRecord) -> BulkUpsertRequest {
    BulkUpsertRequest {
        correlation_id: r.id.clone(),
        item: Some(Item::Category(BulkCategory {
            code: r.text("code"),
            parent_code: r.text("parent_code"),
            name: r.text("name"),
            position: int(r, "position").unwrap_or(0) as i32,
            active: r
                .fields
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })),
    }
}

/// The product, then its stock and prices when the article has them.
pub fn article_items(r: &ErpRecord) -> Vec<BulkUpsertRequest> {
    let sku = r.text("sku");
    let currency = Some(r.text("currency"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "EUR".into());
    let money = |cents: i64| Money {
        amount_cents: cents,
        currency: currency.clone(),
    };
    let images = r
        .fields
        .get("images")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut items = vec![BulkUpsertRequest {
        correlation_id: r.id.clone(),
        item: Some(Item::Product(BulkProduct {
            fields: Some(ProductFields {
                sku: sku.clone(),
                designation: r.text("designation"),
                description: r.text("description"),
                category_id: String::new(),
                price: Some(money(int(r, "price_cents").unwrap_or(0))),
                vat_rate_bp: int(r, "vat_rate_bp").unwrap_or(0) as i32,
                sales_unit: r.text("sales_unit"),
                weight_grams: int(r, "weight_grams").unwrap_or(0),
                image_urls: images,
                active: r
                    .fields
                    .get("active")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            }),
            category_code: r.text("family_code"),
        })),
    }];
    if let Some(real) = int(r, "stock_real") {
        items.push(BulkUpsertRequest {
            correlation_id: r.id.clone(),
            item: Some(Item::Stock(BulkStock {
                sku: sku.clone(),
                real,
                available: int(r, "stock_available").unwrap_or(real),
            })),
        });
    }
    for p in r
        .fields
        .get("prices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let group = p
            .get("price_group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(cents) = p.get("price_cents").and_then(Value::as_i64) else {
            continue;
        };
        items.push(BulkUpsertRequest {
            correlation_id: r.id.clone(),
            item: Some(Item::Price(BulkPrice {
                customer_family: group.to_owned(),
                item_reference: sku.clone(),
                price: Some(money(cents)),
            })),
        });
    }
    items
}

/// ERP versions already applied, by ERP id, for a page of records.
pub async fn applied_versions(
    shared: &Shared,
    c: &Connection,
    entity: &str,
    ids: &[String],
) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select external_id, erp_version from bindings
         where connection_id = $1 and entity = $2 and external_id = any($3)",
    )
    .bind(c.id)
    .bind(entity)
    .bind(ids)
    .fetch_all(&shared.pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Binds a page of applied records at once: (shop id, ERP id, ERP version).
pub async fn bind_all(
    shared: &Shared,
    c: &Connection,
    entity: &str,
    applied: &[(String, String, i64)],
) -> Result<()> {
    if applied.is_empty() {
        return Ok(());
    }
    // One binding per shop record (two ERP articles of one SKU are one
    // product: the last one read wins) and per ERP record (an article whose
    // SKU changed is now another product: its old binding goes).
    let mut by_internal: HashMap<&str, &(String, String, i64)> = HashMap::new();
    for a in applied {
        by_internal.insert(a.0.as_str(), a);
    }
    let applied: Vec<&(String, String, i64)> = by_internal.into_values().collect();
    let internal: Vec<&str> = applied.iter().map(|a| a.0.as_str()).collect();
    let external: Vec<&str> = applied.iter().map(|a| a.1.as_str()).collect();
    let versions: Vec<i64> = applied.iter().map(|a| a.2).collect();
    let mut tx = shared.pool.begin().await?;
    // Two statements, each one an index lookup per row of the page.
    for stale in [
        "delete from bindings b using unnest($3::text[], $4::text[]) as t(i, e)
         where b.connection_id = $1 and b.entity = $2
           and b.external_id = t.e and b.internal_id <> t.i",
        "delete from bindings b using unnest($3::text[], $4::text[]) as t(i, e)
         where b.connection_id = $1 and b.entity = $2
           and b.internal_id = t.i and b.external_id <> t.e",
    ] {
        sqlx::query(stale)
            .bind(c.id)
            .bind(entity)
            .bind(&internal)
            .bind(&external)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "insert into bindings (connection_id, entity, internal_id, external_id, erp_version)
         select $1, $2, i, e, v from unnest($3::text[], $4::text[], $5::bigint[]) as t(i, e, v)
         on conflict (connection_id, entity, internal_id) do update
         set erp_version = greatest(bindings.erp_version, excluded.erp_version), synced_at = now()
         where bindings.external_id = excluded.external_id",
    )
    .bind(c.id)
    .bind(entity)
    .bind(&internal)
    .bind(&external)
    .bind(&versions)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Applies one page of families or articles: what is new or changed goes
/// to the catalogue; each record's answers decide it applied or failed
/// (returned with why, for the caller to park or report).
pub async fn apply_page(
    shared: &Shared,
    c: &Connection,
    object: &str,
    records: &[ErpRecord],
    run: &mut Run,
) -> Result<Vec<Failed>> {
    let entity = if object == "family" {
        "category"
    } else {
        "product"
    };
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let known = applied_versions(shared, c, entity, &ids).await?;
    let fresh: Vec<&ErpRecord> = records
        .iter()
        .filter(|r| known.get(&r.id).is_none_or(|v| *v < r.version))
        .collect();
    run.skipped += (records.len() - fresh.len()) as i64;
    run.done += (records.len() - fresh.len()) as i64;
    let ordered = if object == "family" {
        let owned: Vec<ErpRecord> = fresh.iter().map(|r| (*r).clone()).collect();
        families_in_order(&owned)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    } else {
        fresh.iter().map(|r| (*r).clone()).collect()
    };
    let items: Vec<BulkUpsertRequest> = ordered
        .iter()
        .flat_map(|r| {
            if object == "family" {
                vec![family_item(r)]
            } else {
                article_items(r)
            }
        })
        .collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }
    // A record's items stay in one stream, in order (a product before its
    // stock and prices, a parent family before its children); pages of
    // articles are split over a few streams that the catalogue applies side
    // by side. Families keep one stream: their order matters across records.
    let streams = if object == "family" { 1 } else { BULK_STREAMS };
    let mut chunks: Vec<Vec<BulkUpsertRequest>> = vec![Vec::new(); streams];
    let per = ordered.len().div_ceil(streams).max(1);
    let mut record_no: HashMap<&str, usize> = HashMap::new();
    for (i, r) in ordered.iter().enumerate() {
        record_no.insert(r.id.as_str(), i / per);
    }
    for item in items {
        let chunk = record_no
            .get(item.correlation_id.as_str())
            .copied()
            .unwrap_or(0);
        chunks[chunk.min(streams - 1)].push(item);
    }
    let calls = chunks
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|chunk| shared.peers.bulk_catalogue(c.tenant, &c.name, chunk));
    let answers: Vec<_> = futures::future::try_join_all(calls)
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?
        .into_iter()
        .flatten()
        .collect();
    // The first answer of a record is its family or product; any refused
    // answer fails the record.
    let mut first: HashMap<&str, &str> = HashMap::new();
    let mut refused: HashMap<&str, String> = HashMap::new();
    for a in &answers {
        first
            .entry(a.correlation_id.as_str())
            .or_insert(a.id.as_str());
        if !a.error.is_empty() && !refused.contains_key(a.correlation_id.as_str()) {
            let why = if a.field.is_empty() {
                a.error.clone()
            } else {
                format!("{}: {}", a.field, a.error)
            };
            refused.insert(a.correlation_id.as_str(), why);
        }
    }
    let mut applied = Vec::new();
    let mut failed = Vec::new();
    for r in &ordered {
        run.done += 1;
        match refused.get(r.id.as_str()) {
            Some(why) => failed.push(Failed {
                id: r.id.clone(),
                at: r.updated_at,
                why: why.clone(),
            }),
            None => {
                run.applied += 1;
                if let Some(id) = first
                    .get(r.id.as_str())
                    .filter(|id| Uuid::parse_str(id).is_ok())
                {
                    applied.push(((*id).to_owned(), r.id.clone(), r.version));
                }
            }
        }
    }
    bind_all(shared, c, entity, &applied).await?;
    Ok(failed)
}
