//! Placing an order through the API: once per idempotency key, refused
//! with the bad field named (and nothing placed), and another customer's
//! or tenant's order is 404 as if it did not exist.

use relais_platform::auth::{Claims, Role};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Api, customer, customer_token, gloves, key, stack};

fn two_gloves(item: &str) -> Value {
    json!({
        "lines": [{"item_id": item, "quantity": 2}],
        "shipping_method": "delivery",
        "payment_mode": "card",
        "terms_accepted": true,
    })
}

#[tokio::test]
async fn a_product_order_is_placed_once_per_key_and_only_its_customer_sees_it() {
    let stack = stack().await;
    let item = gloves(&stack).await;
    let claire = customer(&stack, "Claire", "claire@example.org").await;
    let api = Api::new(&stack, Some(customer_token(&stack, &claire)));

    let products = api.ok("/v1/shop/products?query=gants").await;
    assert_eq!(products["items"][0]["sku"], "ENT-001");
    assert_eq!(products["items"][0]["stock_available"], 100);

    let k = key();
    let first = api
        .post("/v1/shop/product-orders", &k, &two_gloves(&item))
        .await;
    assert_eq!(
        first.status.as_u16(),
        201,
        "{}",
        String::from_utf8_lossy(&first.bytes)
    );
    let order = first.json();
    assert_eq!(order["kind"], "product");
    assert_eq!(order["lines"][0]["quantity"], 2);
    // 2 × 11.90 € + 20 % VAT.
    assert_eq!(
        order["total_incl_vat"],
        json!({"amount_cents": 2856, "currency": "EUR"})
    );
    let id = order["id"].as_str().unwrap().to_owned();

    // A retry with the same key (the answer was lost): the same order,
    // not a second one.
    let again = api
        .post("/v1/shop/product-orders", &k, &two_gloves(&item))
        .await;
    assert_eq!(again.status.as_u16(), 201);
    assert_eq!(again.json()["id"], id.as_str());
    let mine = api.ok("/v1/me/orders?kind=product").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    // The same key for another order is a client error naming the header.
    let mut other = two_gloves(&item);
    other["lines"][0]["quantity"] = json!(3);
    let reused = api.post("/v1/shop/product-orders", &k, &other).await;
    assert_eq!(reused.bad_fields(), ["Idempotency-Key"]);

    // Paging: one per page, the second page from the first's cursor.
    let second = api
        .post("/v1/shop/product-orders", &key(), &two_gloves(&item))
        .await;
    let second = second.json()["id"].as_str().unwrap().to_owned();
    let page1 = api.ok("/v1/me/orders?limit=1").await;
    assert_eq!(page1["items"][0]["id"], second.as_str(), "newest first");
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let page2 = api
        .ok(&format!("/v1/me/orders?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page2["items"][0]["id"], id.as_str());
    assert_eq!(
        api.get("/v1/me/orders?limit=0").await.bad_fields(),
        ["limit"]
    );
    assert_eq!(
        api.get("/v1/me/orders?limit=many").await.bad_fields(),
        ["limit"]
    );

    // Another customer of the tenant, and a customer of another tenant,
    // get 404 for it, exactly as for an order that does not exist.
    let paul = customer(&stack, "Paul", "paul@example.org").await;
    let paul = Api::new(&stack, Some(customer_token(&stack, &paul)));
    let stranger = Api::new(
        &stack,
        Some(relais_testkit::sign(&Claims {
            tenant: Uuid::now_v7(),
            customer_id: Some(Uuid::now_v7()),
            ..stack.claims(Role::Customer)
        })),
    );
    for who in [&paul, &stranger] {
        let p = who
            .get(&format!("/v1/me/orders/{id}"))
            .await
            .problem(404, "not-found");
        assert!(p.get("errors").is_none(), "{p}");
        assert!(
            who.ok("/v1/me/orders").await["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    api.get(&format!("/v1/me/orders/{}", Uuid::now_v7()))
        .await
        .problem(404, "not-found");
    assert_eq!(
        api.get("/v1/me/orders/not-a-uuid").await.bad_fields(),
        ["id"]
    );
}

#[tokio::test]
async fn a_bad_order_is_refused_naming_the_field_and_nothing_is_placed() {
    let stack = stack().await;
    let item = gloves(&stack).await;
    let claire = customer(&stack, "Claire", "claire@example.org").await;
    let api = Api::new(&stack, Some(customer_token(&stack, &claire)));
    let post = |body: Value| {
        let api = api.clone();
        async move { api.post("/v1/shop/product-orders", &key(), &body).await }
    };

    // Refused by the gateway as it reads the body...
    let mut wrong_type = two_gloves(&item);
    wrong_type["lines"][0]["quantity"] = json!("two");
    assert_eq!(post(wrong_type).await.bad_fields(), ["lines[0].quantity"]);
    let mut missing = two_gloves(&item);
    missing.as_object_mut().unwrap().remove("terms_accepted");
    assert_eq!(post(missing).await.bad_fields(), ["terms_accepted"]);
    let mut unknown = two_gloves(&item);
    unknown["colour"] = json!("red");
    assert_eq!(post(unknown).await.bad_fields(), ["colour"]);
    let mut bad_mode = two_gloves(&item);
    bad_mode["payment_mode"] = json!("cheque");
    assert_eq!(post(bad_mode).await.bad_fields(), ["payment_mode"]);
    let not_json = api
        .send(
            Method::POST,
            "/v1/shop/product-orders",
            None,
            &[
                ("Idempotency-Key", "k1"),
                ("content-type", "application/json"),
            ],
        )
        .await;
    assert_eq!(not_json.bad_fields(), ["body"]);
    let no_key = api
        .send(
            Method::POST,
            "/v1/shop/product-orders",
            Some(&two_gloves(&item)),
            &[],
        )
        .await;
    assert_eq!(no_key.bad_fields(), ["Idempotency-Key"]);

    // ...and by the orders service, its field named the same.
    let mut zero = two_gloves(&item);
    zero["lines"][0]["quantity"] = json!(0);
    let refused = post(zero).await;
    assert!(
        refused
            .bad_fields()
            .iter()
            .any(|f| f.starts_with("lines[0]")),
        "{}",
        refused.json()
    );
    let mut too_many = two_gloves(&item);
    too_many["lines"][0]["quantity"] = json!(1000);
    let refused = post(too_many).await;
    assert!(
        refused.bad_fields().iter().any(|f| f.starts_with("lines")),
        "{}",
        refused.json()
    );

    // Nothing was placed, and the stock is untouched.
    assert!(
        api.ok("/v1/me/orders").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        api.ok(&format!("/v1/shop/products/{item}")).await["stock_available"],
        100
    );
}
