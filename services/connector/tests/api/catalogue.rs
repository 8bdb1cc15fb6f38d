//! ERP → shop catalogue (seed 004): families as the category tree, articles
//! with stock and price-group prices; a refused article is reported and
//! parked, the others applied; the next run reads only what changed, and
//! the parked article again.

use crate::stack::fields;
use relais_connector::adapter::ErpAdapter;
use relais_platform::testing;
use relais_proto::{
    catalogue::{ListCategoriesRequest, ListPriceListEntriesRequest, ListProductsRequest},
    connector::{ConflictPolicy, RunStatus},
};
use serde_json::json;

use crate::stack::spawn;

#[tokio::test]
async fn erp_families_articles_stock_and_prices_become_the_shop_catalogue() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let erp = stack.erp();
    // The child family is written first: the pull still creates its parent first.
    for (code, parent, name) in [
        ("HYGIENE", "ENTRETIEN", "Hygiène"),
        ("ENTRETIEN", "", "Entretien"),
    ] {
        erp.upsert(
            "family",
            None,
            &format!("fam-{code}"),
            &fields(json!({ "code": code, "parent_code": parent, "name": name, "active": true })),
        )
        .await
        .unwrap();
    }
    let gloves = erp
        .upsert(
            "article",
            None,
            "art-1",
            &fields(json!({
                "sku": "HYG-001", "designation": "Gants nitrile (boîte de 100)",
                "family_code": "HYGIENE", "price_cents": 1190, "vat_rate_bp": 2000,
                "sales_unit": "boîte", "weight_grams": 600, "active": true,
                "stock_real": 40, "stock_available": 35,
                "prices": [{ "price_group": "RESIDENCE", "price_cents": 990 }],
            })),
        )
        .await
        .unwrap();
    erp.upsert(
        "article",
        None,
        "art-2",
        &fields(json!({
            "sku": "HYG-002", "designation": "Savon", "family_code": "HYGIENE",
            "price_cents": -5, "vat_rate_bp": 2000, "active": true,
        })),
    )
    .await
    .unwrap();

    let progress = stack.sync(&connection, "catalogue", false).await.unwrap();

    let run = progress.last().unwrap().run.clone().unwrap();
    assert_eq!(run.status(), RunStatus::Partial, "{run:?}");
    assert_eq!((run.total, run.applied, run.failed), (4, 3, 1), "{run:?}");
    assert!(
        run.errors
            .iter()
            .any(|e| e.contains("article") && e.contains("price")),
        "the refused article and why: {:?}",
        run.errors
    );
    let categories = stack
        .catalogue
        .clone()
        .list_categories(stack.admin(ListCategoriesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .categories;
    let root = categories.iter().find(|c| c.code == "ENTRETIEN").unwrap();
    let child = categories.iter().find(|c| c.code == "HYGIENE").unwrap();
    assert_eq!(child.parent_id, root.id, "the tree as in the ERP");
    assert_eq!(child.origin, "erp:test-erp");
    let products = stack.products().await;
    assert_eq!(
        products.len(),
        1,
        "the refused article is not there: {products:?}"
    );
    let p = &products[0];
    assert_eq!(
        (p.sku.as_str(), p.category_id.as_str()),
        ("HYG-001", child.id.as_str())
    );
    assert_eq!(p.price.as_ref().unwrap().amount_cents, 1190);
    assert_eq!((p.stock_real, p.stock_available), (40, 35));
    let entries = stack
        .catalogue
        .clone()
        .list_price_list_entries(stack.admin(ListPriceListEntriesRequest {
            customer_family: "RESIDENCE".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].item_id, p.id);
    assert_eq!(entries[0].price.as_ref().unwrap().amount_cents, 990);

    // A price change in the ERP; the next run applies it, skips the rest.
    erp.upsert(
        "article",
        Some(&gloves.id),
        "",
        &fields(json!({ "price_cents": 1250 })),
    )
    .await
    .unwrap();
    let again = stack.sync(&connection, "catalogue", false).await.unwrap();
    let again = again.last().unwrap().run.clone().unwrap();
    assert_eq!(again.applied, 1, "{again:?}");
    assert_eq!(
        (again.status(), again.failed, again.parked),
        (RunStatus::Succeeded, 0, 1),
        "the refused article stays parked, tried again until fixed: {again:?}"
    );
    let price = stack.products().await[0].price.clone().unwrap();
    assert_eq!(price.amount_cents, 1250);
}

#[tokio::test]
async fn a_pull_cut_short_by_a_restart_goes_on_with_nothing_twice() {
    let mut stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let erp = stack.erp();
    let n = 1200;
    for i in 0..n {
        erp.upsert(
            "article",
            None,
            &format!("art-{i}"),
            &fields(json!({
                "sku": format!("SKU-{i:05}"), "designation": format!("Article {i}"),
                "price_cents": 100 + i, "vat_rate_bp": 2000, "active": true,
            })),
        )
        .await
        .unwrap();
    }
    // The first run stops when the connector does, after its first pages.
    let mut stream = stack
        .connector
        .clone()
        .run_sync(stack.admin(relais_proto::connector::RunSyncRequest {
            connection_id: connection.clone(),
            family: "catalogue".into(),
            full: false,
        }))
        .await
        .unwrap()
        .into_inner();
    loop {
        let m = stream.message().await.unwrap().unwrap();
        if m.run.unwrap().done >= 200 {
            break;
        }
    }
    stack.stop_connector();
    drop(stream);
    stack.start_connector().await;
    let runs = testing::eventually(std::time::Duration::from_secs(20), || async {
        let runs = stack
            .connector
            .clone()
            .list_runs(stack.admin(relais_proto::connector::ListRunsRequest {
                connection_id: connection.clone(),
                page: None,
            }))
            .await
            .ok()?
            .into_inner()
            .runs;
        runs.iter().all(|r| r.finished_at.is_some()).then_some(runs)
    })
    .await
    .expect("the interrupted run is closed");
    let first = &runs[0];
    assert_eq!(first.status(), RunStatus::Failed, "{first:?}");
    assert!(first.applied < n, "cut short: {first:?}");
    assert!(
        first.errors.iter().any(|e| e.contains("interrupted")),
        "{first:?}"
    );

    let again = stack.sync(&connection, "catalogue", false).await.unwrap();
    let again = again.last().unwrap().run.clone().unwrap();
    assert_eq!(again.status(), RunStatus::Succeeded, "{again:?}");
    assert_eq!(
        again.applied + first.applied,
        n,
        "what the first run applied is skipped, the rest applied: {first:?} {again:?}"
    );
    let mut skus = Vec::new();
    let mut token = String::new();
    loop {
        let page = stack
            .catalogue
            .clone()
            .list_products(stack.admin(ListProductsRequest {
                page: Some(relais_proto::types::PageRequest {
                    page_size: 500,
                    page_token: token,
                }),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        skus.extend(page.products.into_iter().map(|p| p.sku));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let total = skus.len();
    skus.sort();
    skus.dedup();
    assert_eq!(
        (total, skus.len()),
        (n as usize, n as usize),
        "each article once"
    );
}
