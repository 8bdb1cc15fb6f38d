//! A visitor browses a company's shop without an account: its catalogue
//! and free slots, and the free workers without their contacts; nothing of
//! any customer, and another company's shop only when they name it.

use chrono::Days;
use reqwest::Method;
use serde_json::json;

use crate::support::{Api, customer, customer_token, gloves, key, next_monday, stack};

#[tokio::test]
async fn a_visitor_browses_the_named_shop_and_nothing_else() {
    let stack = stack().await;
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    let awa = stack.shop_worker("Awa", "Diallo", &cleaning).await;
    gloves(&stack).await;
    let paul = customer(&stack, "Paul", "paul@example.org").await;
    let t = stack.tenant;
    let visitor = Api::new(&stack, None);

    // Without naming the shop: told what to send.
    let unnamed = visitor.get("/v1/shop/services").await;
    assert_eq!(unnamed.bad_fields(), vec!["tenant".to_owned()]);
    let nonsense = visitor.get("/v1/shop/services?tenant=abc").await;
    assert_eq!(nonsense.bad_fields(), vec!["tenant".to_owned()]);

    // The window.
    let services = visitor.ok(&format!("/v1/shop/services?tenant={t}")).await;
    assert_eq!(services["items"][0]["id"], cleaning.as_str());
    let products = visitor.ok(&format!("/v1/shop/products?tenant={t}")).await;
    assert_eq!(products["items"][0]["sku"], "ENT-001");
    let monday = next_monday();
    let slots = visitor
        .ok(&format!(
            "/v1/shop/services/{cleaning}/slots?tenant={t}&days={monday}"
        ))
        .await;
    let nine = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["start_time"] == "09:00")
        .cloned()
        .expect("9:00 is free");
    let workers = visitor
        .ok(&format!(
            "/v1/shop/services/{cleaning}/workers?tenant={t}&start={}&end={}",
            nine["start"].as_str().unwrap(),
            nine["end"].as_str().unwrap()
        ))
        .await;
    let shown = &workers["items"][0];
    assert_eq!(shown["id"], awa.as_str());
    for private in ["email", "phone"] {
        assert!(
            shown
                .get(private)
                .is_none_or(|v| v.as_str().is_none_or(str::is_empty)),
            "a visitor sees no {private}: {shown}"
        );
    }

    // Another company's shop, named: empty, nothing of this one's.
    let elsewhere = visitor
        .ok(&format!(
            "/v1/shop/services?tenant={}",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(elsewhere["items"], json!([]));

    // A visitor has no account: nothing of a customer's, no ordering.
    let paul_api = Api::new(&stack, Some(customer_token(&stack, &paul)));
    let placed = paul_api
        .post(
            "/v1/shop/bookings",
            &key(),
            &json!({
                "service_id": cleaning,
                "schedule": {"first_date": (monday + Days::new(7)).to_string(),
                             "start_time": "10:00", "duration_minutes": 120},
                "payment_mode": "card",
                "terms_accepted": true,
            }),
        )
        .await;
    assert_eq!(
        placed.status.as_u16(),
        201,
        "{}",
        String::from_utf8_lossy(&placed.bytes)
    );
    let order = placed.json()["id"].as_str().unwrap().to_owned();
    for path in [
        "/v1/me/orders".to_owned(),
        format!("/v1/me/orders/{order}"),
        format!("/v1/me/orders/{order}?tenant={t}"),
        format!("/v1/me/invoices?tenant={t}"),
    ] {
        visitor.get(&path).await.problem(401, "unauthenticated");
    }
    let order_anon = visitor
        .send(
            Method::POST,
            &format!("/v1/shop/product-orders?tenant={t}"),
            Some(&json!({"lines": []})),
            &[("Idempotency-Key", "k")],
        )
        .await;
    order_anon.problem(401, "unauthenticated");
}
