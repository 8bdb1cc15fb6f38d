//! ERP → shop customers: one kept in the ERP appears in the shop, read-only,
//! with its addresses and price group, and its changes follow; an online
//! customer edited in the ERP keeps the shop's version.

use relais_connector::adapter::ErpAdapter;
use relais_proto::{connector::ConflictPolicy, orders::GetCustomerRequest};
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
