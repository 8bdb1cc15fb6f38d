//! Parties, categories and products, and paid orders (as orders or as
//! quotes) flowing between the shop and Tryton, and back.

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::testing;
use relais_proto::{
    catalogue::{CreateProductRequest, ListCategoriesRequest, ProductFields},
    connector::SendAs,
    orders::{
        ChangeOrderStatusRequest, GetOrderRequest, OrderLineRequest, OrderStatus, PaymentMode,
        PlaceProductOrderRequest,
    },
    types::Money,
};
use serde_json::{Value, json};

use crate::stack::spawn;

use super::{Tryton, connect, connect_with, create, decimal, one_id, read, sales};

#[tokio::test]
async fn tryton_parties_products_and_sales_flow_both_ways() {
    let Some(tryton) = Tryton::start().await else {
        return;
    };
    let stack = spawn().await;
    let connection = connect(&stack, &tryton).await;
    let erp = tryton.client();

    // In Tryton: a category, a product in it (with the 20 % VAT of its
    // accounting category), a customer kept there.
    let accounting = one_id(&erp, "product.category", json!([["accounting", "=", true]])).await;
    let unit = one_id(&erp, "product.uom", json!([["symbol", "=", "u"]])).await;
    let hygiene = create(&erp, "product.category", json!({"name": "Hygiène"})).await;
    create(
        &erp,
        "product.template",
        json!({
            "name": "Gants nitrile", "code": "ENT-001", "type": "goods", "salable": true,
            "list_price": decimal("11.90"), "default_uom": unit, "sale_uom": unit,
            "account_category": accounting, "categories": [["add", [hygiene]]],
            "products": [["create", [{}]]],
        }),
    )
    .await;
    let leroy = create(
        &erp,
        "party.party",
        json!({
            "name": "Martine Leroy",
            "contact_mechanisms": [["create", [{"type": "email", "value": "martine@leroy.fr"}]]],
            "addresses": [["create", [{"street": "8 quai Perrache", "postal_code": "69002", "city": "Lyon"}]]],
        }),
    )
    .await;

    // 40 in stock, counted in Tryton.
    let gloves_id = one_id(&erp, "product.product", json!([["code", "=", "ENT-001"]])).await;
    let storage = one_id(&erp, "stock.location", json!([["code", "=", "STO"]])).await;
    let inventory = create(
        &erp,
        "stock.inventory",
        json!({"location": storage, "lines": [["create", [{"product": gloves_id, "quantity": 40}]]]}),
    )
    .await;
    erp.call("stock.inventory", "confirm", vec![json!([inventory])])
        .await
        .unwrap();

    // Tryton → shop: the catalogue, then the customer.
    let run = stack.run(&connection, "catalogue").await;
    assert_eq!((run.applied, run.failed), (2, 0), "{run:?}");
    let category = stack
        .catalogue
        .clone()
        .list_categories(stack.admin(ListCategoriesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .categories
        .into_iter()
        .find(|c| c.name == "Hygiène")
        .expect("the Tryton category is a shop category");
    let products = stack.products().await;
    assert_eq!(products.len(), 1, "{products:?}");
    let gloves = &products[0];
    assert_eq!(gloves.sku, "ENT-001");
    assert_eq!(gloves.designation, "Gants nitrile");
    assert_eq!(gloves.price.as_ref().unwrap().amount_cents, 1190);
    assert_eq!(gloves.vat_rate_bp, 2000, "the VAT of the product's taxes");
    assert_eq!(gloves.category_id, category.id);
    assert_eq!((gloves.stock_real, gloves.stock_available), (40, 40));

    let run = stack.run(&connection, "customers").await;
    assert_eq!(run.failed, 0, "{run:?}");
    let customers = stack.customers_matching("Leroy").await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    let martine = customers[0].fields.clone().unwrap();
    assert!(
        customers[0].read_only,
        "a Tryton customer is read-only in the shop"
    );
    assert_eq!(martine.external_ref, leroy.to_string());
    assert_eq!(martine.email, "martine@leroy.fr");
    assert_eq!(martine.billing_address.unwrap().city, "Lyon");

    // Her email edited on its own in Tryton (the party itself untouched):
    // the next sync takes it.
    let mechanism =
        read(&erp, "party.party", leroy, &["contact_mechanisms"]).await["contact_mechanisms"][0]
            .as_i64()
            .unwrap();
    erp.call(
        "party.contact_mechanism",
        "write",
        vec![json!([mechanism]), json!({"value": "m.leroy@leroy.fr"})],
    )
    .await
    .unwrap();
    let run = stack.run(&connection, "customers").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    let now = stack.customers_matching("Leroy").await;
    assert_eq!(now[0].fields.clone().unwrap().email, "m.leroy@leroy.fr");

    // Shop → Tryton: an online customer's paid order of 3 gloves at 10 % off.
    let paul = stack.customer("Durand").await;
    let placed = stack.paid_product_order(&paul, &gloves.id).await;

    let sale = testing::eventually(Duration::from_secs(30), || async {
        sales(&erp)
            .await
            .into_iter()
            .find(|s| s.fields["state"] == "processing")
    })
    .await
    .expect("the paid order is a confirmed sale in Tryton");
    assert_eq!(sales(&erp).await.len(), 1, "one sale, whatever the retries");
    assert_eq!(sale.fields["shop_id"], placed.id.as_str());
    let party = sale.fields["customer"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let p = read(&erp, "party.party", party, &["name"]).await;
    assert_eq!(
        p["name"], "Paul Durand",
        "the online customer, created in Tryton"
    );
    let customer = erp.get("customer", &party.to_string()).await.unwrap();
    assert_eq!(customer.fields["email"], "durand@example.org");
    assert_eq!(customer.fields["address"]["city"], "Lyon");
    let lines = erp
        .call(
            "sale.line",
            "search_read",
            vec![
                json!([["sale", "=", sale.id.parse::<i64>().unwrap()]]),
                0.into(),
                Value::Null,
                Value::Null,
                json!([
                    "product.code",
                    "quantity",
                    "base_price",
                    "discount_rate",
                    "unit_price"
                ]),
            ],
        )
        .await
        .unwrap();
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["product."]["code"], "ENT-001");
    assert_eq!(line["quantity"], 3.0);
    assert_eq!(line["base_price"]["decimal"], "11.90");
    assert_eq!(line["discount_rate"]["decimal"], "0.1000");
    assert_eq!(line["unit_price"]["decimal"], "10.7100");

    // Tryton ships it: the shop's order is shipped after the next sync.
    let shipment =
        read(&erp, "sale.sale", sale.id.parse().unwrap(), &["shipments"]).await["shipments"][0]
            .as_i64()
            .expect("the confirmed sale has its shipment");
    for step in ["assign_force", "pick", "pack", "do"] {
        erp.call("stock.shipment.out", step, vec![json!([shipment])])
            .await
            .unwrap_or_else(|e| panic!("shipment {step}: {e}"));
    }
    let run = stack.run(&connection, "orders").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    // Shipped from Tryton's stock: the next catalogue sync brings it.
    let run = stack.run(&connection, "catalogue").await;
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
    let now = stack.products().await;
    assert_eq!(now[0].stock_real, 37, "{now:?}");
    let order = stack
        .orders
        .clone()
        .get_order(stack.admin(GetOrderRequest {
            id: placed.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status(), OrderStatus::Shipped);
}

#[tokio::test]
async fn an_order_sent_as_a_quote_is_confirmed_in_tryton_when_paid_or_cancelled_with_it() {
    let Some(tryton) = Tryton::start().await else {
        return;
    };
    let stack = spawn().await;
    connect_with(
        &stack,
        &tryton,
        vec![("validated", SendAs::Quote), ("paid", SendAs::Order)],
    )
    .await;
    let erp = tryton.client();
    let soap = stack
        .catalogue
        .clone()
        .create_product(stack.admin(CreateProductRequest {
            idempotency_key: String::new(),
            fields: Some(ProductFields {
                sku: "SAV-01".into(),
                designation: "Savon doux".into(),
                price: Some(Money {
                    amount_cents: 450,
                    currency: "EUR".into(),
                }),
                vat_rate_bp: 2000,
                active: true,
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap()
        .id;
    stack.in_stock(&soap, 20).await;
    let paul = stack.customer("Durand").await;
    let place = || async {
        stack
            .orders
            .clone()
            .place_product_order(stack.admin(PlaceProductOrderRequest {
                customer_id: paul.clone(),
                lines: vec![OrderLineRequest {
                    item_id: soap.clone(),
                    quantity: 2,
                    discount_bp: 0,
                }],
                shipping_method: "delivery".into(),
                payment_mode: PaymentMode::Card as i32,
                terms_accepted: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
    };
    let placed = place().await;
    let state = |wanted: &'static str| {
        let erp = &erp;
        async move {
            testing::eventually(Duration::from_secs(30), || async {
                let all = sales(erp).await;
                (all.len() == 1 && all[0].fields["state"] == wanted).then_some(all)
            })
            .await
            .unwrap_or_else(|| panic!("the sale never was {wanted}"))
        }
    };
    let quoted = state("quotation").await;
    // A product Tryton does not know: a line of text at the shop's price.
    let line = &erp
        .call(
            "sale.line",
            "search_read",
            vec![
                json!([["sale", "=", quoted[0].id.parse::<i64>().unwrap()]]),
                0.into(),
                Value::Null,
                Value::Null,
                json!(["product", "description", "quantity", "unit_price"]),
            ],
        )
        .await
        .unwrap()[0];
    assert_eq!(line["product"], Value::Null);
    assert_eq!(line["description"], "Savon doux");
    assert_eq!(line["unit_price"]["decimal"], "4.5000");

    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: placed.id.clone(),
            status: OrderStatus::Confirmed as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    let confirmed = state("processing").await;
    assert_eq!(confirmed[0].id, quoted[0].id, "the same sale, confirmed");

    // Another, quoted, then cancelled in the shop: cancelled in Tryton.
    let second = place().await;
    let sale_of = |order: String| {
        let erp = &erp;
        async move {
            sales(erp)
                .await
                .into_iter()
                .find(|s| s.fields["shop_id"] == order.as_str())
        }
    };
    testing::eventually(Duration::from_secs(30), || async {
        sale_of(second.id.clone())
            .await
            .filter(|s| s.fields["state"] == "quotation")
    })
    .await
    .expect("the second order is a quotation");
    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: second.id.clone(),
            status: OrderStatus::Cancelled as i32,
            reason: "changed her mind".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    testing::eventually(Duration::from_secs(30), || async {
        sale_of(second.id.clone())
            .await
            .filter(|s| s.fields["state"] == "cancelled")
    })
    .await
    .expect("the quotation is cancelled in Tryton");
}
