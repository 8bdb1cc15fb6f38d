//! ERP → shop tax certificates (seed 001): one for a customer the shop
//! does not know is reported and parked: tried again at each run, holding
//! back no other. (Invoices and certificates validated in the ERP reaching
//! billing once, debited and mailed, end to end: `tests/e2e`.)

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::testing;
use relais_proto::{
    billing::ListTaxCertificatesRequest,
    connector::{ConflictPolicy, ListRunsRequest, RunStatus},
};
use serde_json::json;

use crate::stack::{fields, spawn, text};

#[tokio::test]
async fn a_certificate_whose_customer_is_not_bound_is_parked_and_holds_back_no_other() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let paul = stack.customer("Durand").await;
    let erp_paul = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await;
    stack.bound(&connection, "customer", &erp_paul).await;
    let erp = stack.erp();
    // Kept in the ERP only: not bound until customers are pulled.
    let jeanne = erp
        .upsert(
            "customer",
            None,
            "erp-jeanne",
            &fields(json!({
                "first_name": "Jeanne", "last_name": "Martin", "email": "jeanne@example.org",
                "address": { "line1": "4 allée des Tilleuls", "postal_code": "69003", "city": "Lyon" },
            })),
        )
        .await
        .unwrap()
        .id;
    let certificate = |customer: &str, number: &str| {
        fields(json!({
            "number": number, "customer": customer, "status": "validated",
            "year": 2025, "amount_paid_cents": 5500, "minutes": 120, "workers": [],
        }))
    };
    let stuck = erp
        .upsert(
            "taxcertificate",
            None,
            "cert-jeanne",
            &certificate(&jeanne, "AF-2025-0008"),
        )
        .await
        .unwrap()
        .id;
    // Changed after it: the cursor must go past the first one to keep it.
    erp.upsert(
        "taxcertificate",
        None,
        "cert-paul",
        &certificate(&erp_paul[0].id, "AF-2025-0009"),
    )
    .await
    .unwrap();

    let first = stack.run(&connection, "certificates").await;
    assert_eq!(first.status(), RunStatus::Partial, "news: {first:?}");
    assert_eq!((first.applied, first.failed), (1, 1), "{first:?}");
    let second = stack.run(&connection, "certificates").await;
    assert_eq!(
        second.status(),
        RunStatus::Succeeded,
        "parked already, nothing new: {second:?}"
    );
    assert_eq!(
        (first.parked, second.failed, second.parked),
        (1, 0, 1),
        "{second:?}"
    );
    assert!(
        second
            .errors
            .iter()
            .any(|e| e.contains(&stuck) && e.contains("parked") && e.contains("not bound")),
        "staff see the parked certificate and why: {:?}",
        second.errors
    );
    let listed = stack
        .connector
        .clone()
        .list_runs(stack.admin(ListRunsRequest {
            connection_id: connection.clone(),
            page: None,
        }))
        .await
        .unwrap()
        .into_inner()
        .runs;
    assert_eq!(listed[0].parked, 1, "kept with the run: {:?}", listed[0]);
    let certificates_of = |customer: String| {
        let stack = &stack;
        async move {
            testing::eventually(Duration::from_secs(15), || async {
                let list = stack
                    .billing
                    .clone()
                    .list_tax_certificates(stack.admin(ListTaxCertificatesRequest {
                        customer_id: customer.clone(),
                    }))
                    .await
                    .ok()?
                    .into_inner()
                    .certificates;
                (!list.is_empty()).then_some(list)
            })
            .await
        }
    };
    let pauls = certificates_of(paul.clone())
        .await
        .expect("Paul's in billing");
    assert_eq!(pauls[0].number, "AF-2025-0009");

    // Jeanne comes into the shop: her certificate applies on the next run.
    let customers = stack.run(&connection, "customers").await;
    assert_eq!(
        (customers.applied, customers.failed),
        (1, 0),
        "{customers:?}"
    );
    let third = stack.run(&connection, "certificates").await;
    assert_eq!(third.status(), RunStatus::Succeeded, "{third:?}");
    assert_eq!((third.applied, third.parked), (1, 0), "{third:?}");
    let shop_jeanne = stack.customers_matching("Martin").await.remove(0).id;
    let hers = certificates_of(shop_jeanne)
        .await
        .expect("Jeanne's in billing");
    assert_eq!(hers[0].number, "AF-2025-0008");

    // A parked certificate the ERP then deletes leaves the list, said so.
    let lucas = erp
        .upsert(
            "customer",
            None,
            "erp-lucas",
            &fields(json!({ "last_name": "Petit" })),
        )
        .await
        .unwrap()
        .id;
    let gone = erp
        .upsert(
            "taxcertificate",
            None,
            "cert-lucas",
            &certificate(&lucas, "AF-2025-0010"),
        )
        .await
        .unwrap()
        .id;
    let parked = stack.run(&connection, "certificates").await;
    assert_eq!((parked.failed, parked.parked), (1, 1), "{parked:?}");
    erp.remove("taxcertificate", &gone).await.unwrap();
    let after = stack.run(&connection, "certificates").await;
    assert_eq!(
        (after.status(), after.parked),
        (RunStatus::Succeeded, 0),
        "{after:?}"
    );
    assert!(
        after
            .errors
            .iter()
            .any(|e| e.contains(&gone) && e.contains("gone from the ERP")),
        "{:?}",
        after.errors
    );
}
