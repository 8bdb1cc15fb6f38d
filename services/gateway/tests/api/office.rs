//! Staff and the office through the API: customers and workers with their
//! contacts, a customer's invoices; what a role may never read is 403 as
//! the service says, and what a caller may not see is left out.

use relais_platform::auth::Role;
use serde_json::json;

use crate::support::{Api, customer, customer_token, stack};

#[tokio::test]
async fn the_office_reads_customers_and_workers_a_customer_does_not() {
    let stack = stack().await;
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    let awa = stack.shop_worker("Awa", "Diallo", &cleaning).await;
    let claire = customer(&stack, "Claire", "claire@example.org").await;
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));

    let customers = office.ok("/v1/office/customers?query=claire").await;
    assert_eq!(customers["items"][0]["id"], claire.as_str());
    assert_eq!(customers["items"][0]["email"], "claire@example.org");
    assert_eq!(customers["items"][0]["has_saved_card"], true);
    assert!(
        customers["items"][0].get("payment_method_ref").is_none(),
        "never the card"
    );

    let workers = office
        .ok(&format!("/v1/office/workers?skill_service_id={cleaning}"))
        .await;
    assert_eq!(workers["items"][0]["id"], awa.as_str());
    assert_eq!(workers["items"][0]["email"], "awa@example.org");
    assert_eq!(
        workers["items"][0]["availability"]
            .as_array()
            .unwrap()
            .len(),
        7
    );

    let invoices = office
        .ok(&format!("/v1/office/invoices?customer_id={claire}"))
        .await;
    assert_eq!(invoices["items"], json!([]));
    assert_eq!(
        office.get("/v1/office/invoices").await.bad_fields(),
        ["customer_id"]
    );

    // Claire may not list the customers (the orders service's rule), and
    // sees the workers without their contacts (planning's).
    let me = Api::new(&stack, Some(customer_token(&stack, &claire)));
    me.get("/v1/office/customers")
        .await
        .problem(403, "forbidden");
    let public = me.ok("/v1/office/workers").await;
    assert_eq!(public["items"][0]["first_name"], "Awa");
    assert_eq!(public["items"][0]["email"], json!(null));
    assert_eq!(public["items"][0]["phone"], json!(null));
}
