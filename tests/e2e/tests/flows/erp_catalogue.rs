//! Seed 004, ERP → shop: the ERP's families become the shop's category
//! tree, its articles products with their stock and price-group prices; a
//! refused article is reported and parked, the others applied; the next
//! run reads only what changed, and the parked article again.

use relais_connector::adapter::ErpAdapter;
use relais_proto::{
    catalogue::{ListCategoriesRequest, ListPriceListEntriesRequest, ListProductsRequest, Product},
    connector::{ConflictPolicy, RunStatus},
};
use serde_json::json;

use crate::support::{Relais, fields, spawn};

/// The tenant's products in the shop catalogue.
async fn products_of(stack: &Relais) -> Vec<Product> {
    stack
        .catalogue()
        .list_products(stack.admin(ListProductsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .products
}

#[tokio::test]
async fn erp_families_articles_stock_and_prices_become_the_shop_catalogue() {
    let stack = spawn(relais_testkit::Stack::builder().connector().erp()).await;
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

    let run = stack.run(&connection, "catalogue").await;

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
        .catalogue()
        .list_categories(stack.admin(ListCategoriesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .categories;
    let root = categories.iter().find(|c| c.code == "ENTRETIEN").unwrap();
    let child = categories.iter().find(|c| c.code == "HYGIENE").unwrap();
    assert_eq!(child.parent_id, root.id, "the tree as in the ERP");
    assert_eq!(child.origin, "erp:test-erp");
    let products = products_of(&stack).await;
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
        .catalogue()
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
    let again = stack.run(&connection, "catalogue").await;
    assert_eq!(again.applied, 1, "{again:?}");
    assert_eq!(
        (again.status(), again.failed, again.parked),
        (RunStatus::Succeeded, 0, 1),
        "the refused article stays parked, tried again until fixed: {again:?}"
    );
    let price = products_of(&stack).await[0].price.clone().unwrap();
    assert_eq!(price.amount_cents, 1250);
}
