//! A residence's staff through the API: their residences, ordering for a
//! resident, the residence's order history with who placed what for whom,
//! statistics and the CSV export; nothing of a residence they do not work
//! for.

use relais_platform::auth::{Claims, Role};
use serde_json::json;

use crate::support::{Api, gloves, key, stack};

#[tokio::test]
async fn staff_order_for_their_residents_and_read_their_residence_only() {
    let stack = stack().await;
    let item = gloves(&stack).await;
    let tilleuls = stack.residence("Résidence Les Tilleuls").await;
    let other = stack.residence("Résidence Les Chênes").await;
    let jeanne = stack.resident(&tilleuls, "Jeanne").await;
    let someone_else = stack.resident(&other, "Louise").await;
    stack.member(&tilleuls, "claire").await;
    let claire = Api::new(
        &stack,
        Some(relais_testkit::sign(&Claims {
            sub: "claire".into(),
            ..stack.claims(Role::Staff)
        })),
    );

    // The selector: her residence only.
    let mine = claire.ok("/v1/office/residences").await;
    let names: Vec<_> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Résidence Les Tilleuls")]);
    // Its residents.
    let residents = claire
        .ok(&format!("/v1/office/customers?residence_id={tilleuls}"))
        .await;
    assert_eq!(residents["items"][0]["id"], jeanne.as_str());

    // She orders for Jeanne; not for another residence's resident.
    let order = |customer: &str| {
        json!({"customer_id": customer, "lines": [{"item_id": item, "quantity": 3}],
               "terms_accepted": true, "confirmation_email": "accueil@tilleuls.example",
               "shipping_method": "delivery", "payment_mode": "residence_monthly"})
    };
    let placed = claire
        .post("/v1/shop/product-orders", &key(), &order(&jeanne))
        .await;
    assert_eq!(
        placed.status.as_u16(),
        201,
        "{}",
        String::from_utf8_lossy(&placed.bytes)
    );
    let id = placed.json()["id"].as_str().unwrap().to_owned();
    claire
        .post("/v1/shop/product-orders", &key(), &order(&someone_else))
        .await
        .problem(404, "not-found");

    // The history: who, what, for whom, when, how much.
    let history = claire
        .ok(&format!("/v1/office/orders?residence_id={tilleuls}"))
        .await;
    let row = &history["items"][0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["placed_by"], "claire");
    assert_eq!(row["placed_by_role"], "staff");
    assert_eq!(row["customer_name"], "Jeanne Martin");
    assert_eq!(row["lines"][0]["reference"], "ENT-001");
    assert!(row["placed_at"].is_string());
    assert_eq!(row["total_incl_vat"]["amount_cents"], 3 * 1428);
    claire
        .get(&format!("/v1/office/orders?residence_id={other}"))
        .await
        .problem(404, "not-found");

    // Statistics per item, and the export.
    let stats = claire
        .ok(&format!(
            "/v1/office/orders/statistics?dimension=item&residence_id={tilleuls}"
        ))
        .await;
    assert_eq!(stats["rows"][0]["quantity"], 3, "{stats}");
    assert!(
        stats["rows"][0]["label"]
            .as_str()
            .unwrap()
            .contains("ENT-001"),
        "{stats}"
    );
    let bad = claire
        .get("/v1/office/orders/statistics?dimension=colour")
        .await;
    assert_eq!(bad.bad_fields(), vec!["dimension".to_owned()]);
    let csv = claire
        .get(&format!("/v1/office/orders/export?residence_id={tilleuls}"))
        .await;
    assert_eq!(csv.status.as_u16(), 200);
    assert!(
        csv.content_type().starts_with("text/csv"),
        "{}",
        csv.content_type()
    );
    let text = String::from_utf8(csv.bytes.clone()).unwrap();
    assert!(text.contains("ENT-001") && text.contains(&id), "{text}");
    assert!(!text.contains("Louise"), "{text}");
    claire
        .get(&format!("/v1/office/orders/export?residence_id={other}"))
        .await
        .problem(404, "not-found");
}
