use relais_proto::catalogue::{
    BulkCategory, BulkPrice, BulkProduct, BulkStock, BulkUpsertRequest, GetPricesRequest,
    ListProductsRequest, bulk_upsert_request::Item,
};

use crate::{helpers::spawn_app, support::*};

fn item(id: &str, item: Item) -> BulkUpsertRequest {
    BulkUpsertRequest {
        correlation_id: id.into(),
        item: Some(item),
    }
}

#[tokio::test]
async fn an_erp_import_answers_each_item_and_keeps_the_good_ones() {
    let mut app = spawn_app().await;
    let mut bad_product = product("BAD", 100).fields.unwrap();
    bad_product.vat_rate_bp = 1234;
    let items = vec![
        item(
            "1",
            Item::Category(BulkCategory {
                code: "ENT".into(),
                name: "Entretien".into(),
                active: true,
                ..Default::default()
            }),
        ),
        item(
            "2",
            Item::Category(BulkCategory {
                code: "ENT-SOL".into(),
                parent_code: "ENT".into(),
                name: "Sols".into(),
                active: true,
                ..Default::default()
            }),
        ),
        item(
            "3",
            Item::Product(BulkProduct {
                fields: product("SKU-A", 990).fields,
                category_code: "ENT-SOL".into(),
            }),
        ),
        item(
            "4",
            Item::Product(BulkProduct {
                fields: Some(bad_product),
                category_code: String::new(),
            }),
        ),
        item(
            "5",
            Item::Stock(BulkStock {
                sku: "SKU-A".into(),
                real: 40,
                available: 35,
            }),
        ),
        item(
            "6",
            Item::Stock(BulkStock {
                sku: "NOPE".into(),
                real: 1,
                available: 1,
            }),
        ),
        item(
            "7",
            Item::Price(BulkPrice {
                customer_family: "PRO".into(),
                item_reference: "SKU-A".into(),
                price: eur(900),
            }),
        ),
        item(
            "8",
            Item::Product(BulkProduct {
                fields: product("SKU-A", 1090).fields,
                category_code: "ENT-SOL".into(),
            }),
        ),
    ];
    let answers: Vec<_> = {
        let stream = app
            .client
            .bulk_upsert(app.admin(futures::stream::iter(items)))
            .await
            .expect("stream")
            .into_inner();
        use futures::StreamExt;
        stream.map(|r| r.expect("answer")).collect().await
    };
    let ids: Vec<&str> = answers.iter().map(|a| a.correlation_id.as_str()).collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "4", "5", "6", "7", "8"],
        "answered in order"
    );
    let ok = |i: usize| answers[i].error.is_empty();
    assert!(
        ok(0) && ok(1) && ok(2) && ok(4) && ok(6) && ok(7),
        "{answers:#?}"
    );
    assert_eq!(answers[3].field, "fields.vat_rate_bp");
    assert!(!answers[5].error.is_empty() && answers[5].field == "sku");
    assert!(
        answers[2].created && !answers[7].created,
        "the second SKU-A updates the first"
    );
    assert_eq!(answers[2].id, answers[7].id);

    let products = app
        .client
        .list_products(app.admin(ListProductsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .products;
    assert_eq!(products.len(), 1);
    let a = &products[0];
    assert_eq!(
        (a.stock_real, a.stock_available, a.price.clone()),
        (40, 35, eur(1090))
    );
    assert_eq!(a.category_id, answers[1].id);
    let prices = app
        .client
        .get_prices(app.admin(GetPricesRequest {
            customer_family: "PRO".into(),
            item_ids: vec![a.id.clone()],
        }))
        .await
        .unwrap()
        .into_inner()
        .prices;
    assert_eq!(prices[0].price, eur(900));
    app.stop().await;
}
