use relais_proto::catalogue::{
    GetPricesRequest, RemovePriceListEntryRequest, SetPriceListEntryRequest,
};
use tonic::Code;

use crate::{helpers::spawn_app, support::*};

#[tokio::test]
async fn a_family_pays_its_list_price_and_others_the_base_price() {
    let mut app = spawn_app().await;
    let p = app
        .client
        .create_product(app.admin(product("GANTS", 1000)))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    let s = app
        .client
        .create_service(app.admin(service("MENAGE", 2500, 1000)))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    app.client
        .set_price_list_entry(app.admin(SetPriceListEntryRequest {
            customer_family: "RESIDENCES".into(),
            item_id: p.id.clone(),
            price: eur(800),
        }))
        .await
        .expect("price set");

    let ask = |family: &str| GetPricesRequest {
        customer_family: family.into(),
        item_ids: vec![p.id.clone(), s.id.clone()],
    };
    let prices = app
        .client
        .get_prices(app.admin(ask("RESIDENCES")))
        .await
        .unwrap()
        .into_inner()
        .prices;
    assert_eq!(prices[0].price, eur(800));
    assert_eq!(prices[0].base_price, eur(1000));
    assert_eq!(prices[1].price, eur(2500));
    assert_eq!(
        (prices[1].kind.as_str(), prices[1].vat_rate_bp),
        ("service", 1000)
    );
    assert!(prices[1].tax_credit_eligible);
    assert_eq!(prices[0].stock_available, 0);
    app.client
        .set_stock(app.admin(relais_proto::catalogue::SetStockRequest {
            product_id: p.id.clone(),
            real: 9,
            available: 7,
        }))
        .await
        .unwrap();
    let stocked = app
        .client
        .get_prices(app.admin(ask("RESIDENCES")))
        .await
        .unwrap()
        .into_inner()
        .prices;
    assert_eq!(stocked[0].stock_available, 7);
    let public = app
        .client
        .get_prices(app.admin(ask("")))
        .await
        .unwrap()
        .into_inner()
        .prices;
    assert_eq!(public[0].price, eur(1000));

    app.client
        .remove_price_list_entry(app.admin(RemovePriceListEntryRequest {
            customer_family: "RESIDENCES".into(),
            item_id: p.id.clone(),
        }))
        .await
        .expect("removed");
    let back = app
        .client
        .get_prices(app.admin(ask("RESIDENCES")))
        .await
        .unwrap()
        .into_inner()
        .prices;
    assert_eq!(back[0].price, eur(1000));

    let unknown = app
        .client
        .get_prices(app.admin(GetPricesRequest {
            customer_family: String::new(),
            item_ids: vec![uuid::Uuid::now_v7().to_string()],
        }))
        .await
        .expect_err("unknown item");
    assert_eq!(unknown.code(), Code::NotFound);
    let bad = app
        .client
        .set_price_list_entry(app.admin(SetPriceListEntryRequest {
            customer_family: "RESIDENCES".into(),
            item_id: p.id.clone(),
            price: eur(-5),
        }))
        .await
        .expect_err("negative");
    assert_bad_field(&bad, "price.amount_cents");
    let subjects: Vec<String> = app.events(5).await.into_iter().map(|e| e.0).collect();
    assert!(subjects.iter().any(|s| s.ends_with(".price.set")));
    assert!(subjects.iter().any(|s| s.ends_with(".price.removed")));
    app.stop().await;
}
