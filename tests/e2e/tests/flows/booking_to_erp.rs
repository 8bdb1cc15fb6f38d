//! docs/architecture.md §2 flow 1: a booking placed and paid in the shop reaches the ERP
//! as a read-only customer, an accepted quote and its interventions
//! assigned to the worker, each written once.

use std::time::Duration;

use relais_platform::testing;
use relais_proto::connector::{ConflictPolicy, ListBindingsRequest};
use serde_json::json;

use crate::support::{spawn, text, tomorrow};

#[tokio::test]
async fn a_booking_reaches_the_erp_as_a_read_only_customer_an_accepted_quote_and_interventions() {
    let stack = spawn(relais_testkit::Stack::builder().connector().erp()).await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let service = stack.service("MENAGE", "Ménage à domicile").await;
    let tariff = crate::erp_workers::mapped_tariff(&stack, &connection, &service, "Ménage").await;
    let awa = stack.shop_worker("Awa", "Diallo", &service).await;
    let paul = stack
        .customer("Paul", "Durand", "durand@example.org", "")
        .await;

    let order = stack.book(&paul, &service, &awa, tomorrow(), 3).await;

    let customers = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await;
    let customer = &customers[0];
    assert_eq!(text(customer, "last_name"), "Durand");
    assert_eq!(customer.fields["read_only"], json!(true), "{customer:?}");
    let employees = stack
        .erp_eventually("employee", 1, |e| text(e, "shop_id") == awa)
        .await;
    assert_eq!(
        employees[0].fields["tariffs"],
        json!([tariff]),
        "Awa's skill as the tariff"
    );
    // Pending when placed, accepted once confirmed (paid).
    let quotes = stack
        .erp_eventually("quote", 1, |q| {
            text(q, "shop_id") == order.id && text(q, "status") == "accepted"
        })
        .await;
    let quote = &quotes[0];
    assert_eq!(text(quote, "status"), "accepted");
    assert_eq!(text(quote, "customer"), customer.id);
    assert_eq!(
        quote.fields["total_incl_vat_cents"],
        json!(order.total_incl_vat.as_ref().unwrap().amount_cents)
    );
    let services = stack
        .erp_eventually("service", 3, |s| text(s, "quote") == quote.id)
        .await;
    for s in &services {
        assert_eq!(text(s, "customer"), customer.id);
        assert_eq!(text(s, "employee"), employees[0].id, "assigned to Awa");
        assert_eq!(text(s, "tariff"), tariff);
        assert_eq!(text(s, "status"), "planned");
    }
    let mut starts: Vec<&str> = services.iter().map(|s| text(s, "start")).collect();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 3, "three weekly occurrences: {starts:?}");

    // Each shop record is bound to its ERP record (the binding is recorded
    // just after the ERP's write), and written once.
    let list_bindings = || async {
        stack
            .connector()
            .list_bindings(stack.admin(ListBindingsRequest {
                connection_id: connection.clone(),
                entity: String::new(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .bindings
    };
    let bindings = testing::eventually(Duration::from_secs(10), || async {
        let all = list_bindings().await;
        (all.iter().filter(|b| b.entity == "intervention").count() >= 3).then_some(all)
    })
    .await
    .unwrap_or_default();
    let count = |e: &str| bindings.iter().filter(|b| b.entity == e).count();
    assert_eq!(
        (
            count("customer"),
            count("worker"),
            count("quote"),
            count("intervention")
        ),
        (1, 1, 1, 3)
    );
    assert_eq!(stack.erp_records("customer").await.len(), 1);
    assert_eq!(stack.erp_records("quote").await.len(), 1);
    assert_eq!(stack.erp_records("service").await.len(), 3);
}
