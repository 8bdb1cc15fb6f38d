use prost::Message;
use relais_proto::{
    catalogue::{GetProductRequest, ListProductsRequest, SetStockRequest, UpdateProductRequest},
    events::{ProductChanged, StockChanged},
    types::PageRequest,
};
use tonic::Code;

use crate::{helpers::spawn_app, support::*};

type Mutation = Box<dyn Fn(&mut relais_proto::catalogue::ProductFields)>;

#[tokio::test]
async fn a_created_product_can_be_read_and_is_published() {
    let mut app = spawn_app().await;
    let created = app
        .client
        .create_product(app.admin(product("SKU-1", 1299)))
        .await
        .expect("created")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(created.sku, "SKU-1");
    assert_eq!(created.version, 1);
    assert_eq!(created.origin, "shop");

    let got = app
        .client
        .get_product(app.admin(GetProductRequest {
            id: created.id.clone(),
        }))
        .await
        .expect("get")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(got, created);

    let events = app.events(1).await;
    assert_eq!(events.len(), 1);
    let (subject, payload) = &events[0];
    assert_eq!(
        subject,
        &format!("{}.catalogue.v1.{}.product.created", app.ns.0, app.tenant)
    );
    let event = ProductChanged::decode(payload.as_ref()).expect("decodes");
    let meta = event.meta.expect("meta");
    assert_eq!(meta.tenant_id, app.tenant.to_string());
    assert_eq!(meta.aggregate_id, created.id);
    assert_eq!(meta.aggregate_version, 1);
    assert_eq!(meta.origin, "shop");
    assert_eq!(event.product.expect("product").price, eur(1299));
    app.stop().await;
}

#[tokio::test]
async fn bad_products_are_refused_with_the_field_and_change_nothing() {
    let mut app = spawn_app().await;
    let cases: Vec<(&str, Mutation)> = vec![
        ("fields.price.amount_cents", Box::new(|f| f.price = eur(-1))),
        (
            "fields.price.amount_cents",
            Box::new(|f| f.price = eur(100_000_000_000)),
        ),
        (
            "fields.price.currency",
            Box::new(|f| f.price.as_mut().unwrap().currency = "USD".into()),
        ),
        ("fields.price", Box::new(|f| f.price = None)),
        ("fields.vat_rate_bp", Box::new(|f| f.vat_rate_bp = 1960)),
        (
            "fields.designation",
            Box::new(|f| f.designation = "   ".into()),
        ),
        ("fields.sku", Box::new(|f| f.sku = String::new())),
        ("fields.weight_grams", Box::new(|f| f.weight_grams = -5)),
        (
            "fields.image_urls[0]",
            Box::new(|f| f.image_urls = vec!["javascript:alert(1)".into()]),
        ),
        (
            "fields.category_id",
            Box::new(|f| f.category_id = "not-a-uuid".into()),
        ),
        (
            "fields.category_id",
            Box::new(|f| f.category_id = uuid::Uuid::now_v7().to_string()),
        ),
    ];
    for (field, mutate) in cases {
        let mut req = product("BAD-1", 100);
        mutate(req.fields.as_mut().unwrap());
        let status = app
            .client
            .create_product(app.admin(req))
            .await
            .expect_err(field);
        assert_bad_field(&status, field);
    }
    let listed = app
        .client
        .list_products(app.admin(ListProductsRequest {
            include_inactive: true,
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.products.is_empty(), "nothing was created");
    assert!(app.events(0).await.is_empty(), "no event was published");
    app.stop().await;
}

#[tokio::test]
async fn a_sku_is_unique_in_the_tenant() {
    let mut app = spawn_app().await;
    app.client
        .create_product(app.admin(product("DUP", 100)))
        .await
        .expect("first");
    let status = app
        .client
        .create_product(app.admin(product("DUP", 200)))
        .await
        .expect_err("second");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("DUP"), "{}", status.message());
    assert_eq!(app.events(1).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn updates_bump_the_version_and_refuse_a_stale_one() {
    let mut app = spawn_app().await;
    let p = app
        .client
        .create_product(app.admin(product("UPD", 100)))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    let mut fields = product("UPD", 150).fields;
    fields.as_mut().unwrap().designation = "Nouveau nom".into();
    let updated = app
        .client
        .update_product(app.admin(UpdateProductRequest {
            id: p.id.clone(),
            expected_version: 1,
            fields: fields.clone(),
        }))
        .await
        .expect("update")
        .into_inner()
        .product
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.designation, "Nouveau nom");
    assert_eq!(updated.price, eur(150));

    let stale = app
        .client
        .update_product(app.admin(UpdateProductRequest {
            id: p.id.clone(),
            expected_version: 1,
            fields,
        }))
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::FailedPrecondition);

    let unknown = app
        .client
        .update_product(app.admin(UpdateProductRequest {
            id: uuid::Uuid::now_v7().to_string(),
            expected_version: 0,
            fields: product("X", 1).fields,
        }))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    let subjects: Vec<String> = app.events(2).await.into_iter().map(|e| e.0).collect();
    assert!(subjects[1].ends_with(".product.updated"), "{subjects:?}");
    assert_eq!(subjects.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn stock_is_set_within_its_rules_and_published() {
    let mut app = spawn_app().await;
    let p = app
        .client
        .create_product(app.admin(product("STK", 100)))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    let bad = app
        .client
        .set_stock(app.admin(SetStockRequest {
            product_id: p.id.clone(),
            real: 5,
            available: 7,
        }))
        .await
        .expect_err("available > real");
    assert_bad_field(&bad, "available");
    let bad = app
        .client
        .set_stock(app.admin(SetStockRequest {
            product_id: p.id.clone(),
            real: -1,
            available: 0,
        }))
        .await
        .expect_err("negative");
    assert_bad_field(&bad, "real");

    let ok = app
        .client
        .set_stock(app.admin(SetStockRequest {
            product_id: p.id.clone(),
            real: 12,
            available: 10,
        }))
        .await
        .expect("stock")
        .into_inner()
        .product
        .unwrap();
    assert_eq!((ok.stock_real, ok.stock_available), (12, 10));
    let events = app.events(2).await;
    assert_eq!(events.len(), 2);
    assert!(events[1].0.ends_with(".product.stock_changed"));
    let stock = StockChanged::decode(events[1].1.as_ref()).unwrap();
    assert_eq!(
        (stock.sku.as_str(), stock.real, stock.available),
        ("STK", 12, 10)
    );
    app.stop().await;
}

#[tokio::test]
async fn products_are_paged_and_searchable() {
    let mut app = spawn_app().await;
    for i in 0..7 {
        let mut req = product(&format!("PAGE-{i}"), 100 + i);
        if i == 3 {
            req.fields.as_mut().unwrap().designation = "Gants de ménage 100% nitrile".into();
        }
        app.client
            .create_product(app.admin(req))
            .await
            .expect("created");
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .client
            .list_products(app.admin(ListProductsRequest {
                page: Some(PageRequest {
                    page_size: 3,
                    page_token: token.clone(),
                }),
                ..Default::default()
            }))
            .await
            .expect("page")
            .into_inner();
        assert!(page.products.len() <= 3);
        seen.extend(page.products.into_iter().map(|p| p.sku));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    let hits = app
        .client
        .list_products(app.admin(ListProductsRequest {
            query: "NITRILE".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .products;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].sku, "PAGE-3");
    // A pattern character is matched literally, not as a wildcard.
    let hits = app
        .client
        .list_products(app.admin(ListProductsRequest {
            query: "100%".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .products;
    assert_eq!(hits.len(), 1);
    let bad = app
        .client
        .list_products(app.admin(ListProductsRequest {
            page: Some(PageRequest {
                page_size: 1000,
                page_token: String::new(),
            }),
            ..Default::default()
        }))
        .await
        .expect_err("page too big");
    assert_bad_field(&bad, "page.page_size");
    app.stop().await;
}
