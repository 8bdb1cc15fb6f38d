//! ERP → shop customers: one kept in the ERP appears in the shop, read-only,
//! with its addresses and price group, and its changes follow; an online
//! customer edited in the ERP keeps the shop's version; a saved card is
//! the shop's alone.

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::{
    connector::{ConflictPolicy, ListBindingsRequest},
    orders::{GetCustomerRequest, SetCustomerPaymentMethodRequest},
};
use serde_json::json;

use crate::stack::{fields, spawn, text};

#[tokio::test]
async fn erp_customers_reach_the_shop_read_only_and_online_ones_stay_the_shops() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let paul = stack.customer("Durand").await;
    let erp_paul = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await
        .remove(0);
    let erp = stack.erp();
    let martin = erp
        .upsert(
            "customer",
            None,
            "erp-martin",
            &fields(json!({
                "first_name": "Jeanne", "last_name": "Martin", "email": "jeanne@example.org",
                "phone": "04 78 00 00 12", "price_group": "RESIDENCE",
                "address": { "line1": "4 allée des Tilleuls", "postal_code": "69003", "city": "Lyon" },
                "delivery_address": { "line1": "Chambre 12", "postal_code": "69003", "city": "Lyon" },
            })),
        )
        .await
        .unwrap();
    // The ERP edits the online customer: not taken.
    erp.upsert(
        "customer",
        Some(&erp_paul.id),
        "",
        &fields(json!({ "phone": "00 00" })),
    )
    .await
    .unwrap();

    let run = stack.sync(&connection, "customers", false).await.unwrap();
    let run = run.last().unwrap().run.clone().unwrap();
    assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");

    let customers = stack.customers_matching("Martin").await;
    assert_eq!(customers.len(), 1);
    let jeanne = &customers[0];
    assert!(jeanne.read_only, "only the connector changes it");
    assert_eq!(jeanne.origin, "erp:test-erp");
    let f = jeanne.fields.clone().unwrap();
    assert_eq!(f.customer_family, "RESIDENCE");
    assert_eq!(f.external_ref, martin.id);
    assert_eq!(f.billing_address.unwrap().line1, "4 allée des Tilleuls");
    assert_eq!(f.delivery_address.unwrap().line1, "Chambre 12");
    let paul_now = stack
        .orders
        .clone()
        .get_customer(stack.admin(GetCustomerRequest { id: paul.clone() }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_ne!(
        paul_now.fields.unwrap().phone,
        "00 00",
        "the shop's customer stays the shop's"
    );

    erp.upsert(
        "customer",
        Some(&martin.id),
        "",
        &fields(json!({ "price_group": "" })),
    )
    .await
    .unwrap();
    let again = stack.sync(&connection, "customers", false).await.unwrap();
    assert_eq!(again.last().unwrap().run.clone().unwrap().applied, 1);
    let jeanne_now = stack
        .orders
        .clone()
        .get_customer(stack.admin(GetCustomerRequest {
            id: jeanne.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(
        jeanne_now.fields.unwrap().customer_family,
        "",
        "the change followed"
    );
    assert_eq!(stack.erp_records("customer").await.len(), 2);
    assert_eq!(
        erp.get("customer", &martin.id).await.unwrap().version,
        martin.version + 1,
        "Jeanne's record holds the ERP's edit only: nothing echoed back"
    );
}

/// A customer from the ERP saves a card online: the card is the shop's
/// alone, so nothing goes to the ERP and nothing conflicts (the policy is
/// manual: a conflict would hold the record), and the ERP's later edit,
/// pulled, keeps the card.
#[tokio::test]
async fn an_erp_customers_saved_card_stays_the_shops_through_the_erps_edits() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::Manual).await;
    let erp = stack.erp();
    let martin = erp
        .upsert(
            "customer",
            None,
            "erp-martin",
            &fields(json!({
                "first_name": "Jeanne", "last_name": "Martin", "email": "jeanne@example.org",
                "phone": "04 78 00 00 12",
                "address": { "line1": "4 allée des Tilleuls", "postal_code": "69003", "city": "Lyon" },
            })),
        )
        .await
        .unwrap();
    assert_eq!(stack.run(&connection, "customers").await.applied, 1);
    let jeanne = stack.customers_matching("Martin").await.remove(0);
    assert!(jeanne.read_only);

    let token = relais_testkit::sign(&Claims {
        customer_id: Some(jeanne.id.parse().unwrap()),
        ..stack.kit.claims(Role::Customer)
    });
    let card = stack
        .orders
        .clone()
        .set_customer_payment_method(with_token(
            &token,
            SetCustomerPaymentMethodRequest {
                customer_id: String::new(),
                payment_method_ref: "pm_card_visa".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    // The connector has taken the change (its binding is at the new
    // version), writing nothing to the ERP.
    testing::eventually(Duration::from_secs(15), || async {
        let bindings = stack
            .connector
            .clone()
            .list_bindings(stack.admin(ListBindingsRequest {
                connection_id: connection.clone(),
                entity: "customer".into(),
                ..Default::default()
            }))
            .await
            .ok()?
            .into_inner()
            .bindings;
        bindings
            .iter()
            .any(|b| b.internal_id == jeanne.id && b.shop_version == card.customer_version)
            .then_some(())
    })
    .await
    .expect("the connector took the card's change");
    assert_eq!(
        erp.get("customer", &martin.id).await.unwrap().version,
        martin.version,
        "nothing sent to the ERP"
    );

    // The ERP's edit comes back and keeps the card.
    erp.upsert(
        "customer",
        Some(&martin.id),
        "",
        &fields(json!({ "phone": "04 78 00 00 99" })),
    )
    .await
    .unwrap();
    assert_eq!(stack.run(&connection, "customers").await.applied, 1);
    let now = stack
        .orders
        .clone()
        .get_customer(stack.admin(GetCustomerRequest {
            id: jeanne.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap()
        .fields
        .unwrap();
    assert_eq!(
        (now.phone.as_str(), now.payment_method_ref.as_str()),
        ("04 78 00 00 99", "pm_card_visa")
    );
    assert!(stack.conflicts(&connection, false).await.is_empty());
}
