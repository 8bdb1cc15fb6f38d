//! ERP → shop invoices and tax certificates (seed 001): a document the ERP
//! validated reaches billing (the customer's account, the mail, the card
//! debit) once; a draft waits; a document for a customer the shop does not
//! know is reported and parked: tried again at each run, holding back no
//! other.

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::testing;
use relais_proto::{
    billing::{ListInvoicesRequest, ListTaxCertificatesRequest},
    connector::{ConflictPolicy, ListRunsRequest, RunStatus},
};
use serde_json::json;

use crate::stack::{fields, spawn, text};

#[tokio::test]
async fn invoices_and_certificates_validated_in_the_erp_reach_billing_once() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let paul = stack.customer("Durand").await;
    let erp_paul = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await
        .remove(0)
        .id;
    let erp = stack.erp();
    let stranger = erp
        .upsert(
            "customer",
            None,
            "erp-only",
            &fields(json!({ "last_name": "Inconnu" })),
        )
        .await
        .unwrap()
        .id;
    let invoice = |customer: &str, number: &str, status: &str| {
        fields(json!({
            "number": number, "customer": customer, "status": status,
            "validated_at": "2026-11-30T10:00:00Z", "payment_mode": "invoice", "currency": "EUR",
            "lines": [{
                "reference": "MENAGE", "description": "Ménage à domicile", "quantity": 2,
                "unit_price_cents": 2500, "vat_rate_bp": 1000, "discount_bp": 0,
                "total_excl_vat_cents": 5000,
            }],
            "total_incl_vat_cents": 5500,
        }))
    };
    let draft = erp
        .upsert(
            "invoice",
            None,
            "inv-42",
            &invoice(&erp_paul, "FA-2026-0042", "draft"),
        )
        .await
        .unwrap();
    let run = stack.sync(&connection, "invoices", false).await.unwrap();
    let run = run.last().unwrap().run.clone().unwrap();
    assert_eq!((run.applied, run.skipped), (0, 1), "a draft waits: {run:?}");

    erp.upsert(
        "invoice",
        Some(&draft.id),
        "",
        &fields(json!({ "status": "validated" })),
    )
    .await
    .unwrap();
    erp.upsert(
        "invoice",
        None,
        "inv-43",
        &invoice(&stranger, "FA-2026-0043", "validated"),
    )
    .await
    .unwrap();
    let run = stack.sync(&connection, "invoices", false).await.unwrap();
    let run = run.last().unwrap().run.clone().unwrap();
    assert_eq!((run.applied, run.failed), (1, 1), "{run:?}");
    assert!(
        run.errors
            .iter()
            .any(|e| e.contains(&stranger) && e.contains("not bound")),
        "{:?}",
        run.errors
    );
    let invoices = testing::eventually(Duration::from_secs(15), || async {
        let list = stack
            .billing
            .clone()
            .list_invoices(stack.admin(ListInvoicesRequest {
                customer_id: paul.clone(),
                ..Default::default()
            }))
            .await
            .ok()?
            .into_inner()
            .invoices;
        (!list.is_empty()).then_some(list)
    })
    .await
    .expect("the ERP's invoice in billing");
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].number, "FA-2026-0042");
    assert_eq!(
        invoices[0].total_incl_vat.as_ref().unwrap().amount_cents,
        5500
    );

    // Sent once: the next run skips it.
    let again = stack.sync(&connection, "invoices", false).await.unwrap();
    let again = again.last().unwrap().run.clone().unwrap();
    assert_eq!(again.applied, 0, "{again:?}");

    erp.upsert(
        "taxcertificate",
        None,
        "cert-2025",
        &fields(json!({
            "number": "AF-2025-0007", "customer": erp_paul, "status": "validated",
            "year": 2025, "amount_paid_cents": 5500, "minutes": 120, "workers": [],
        })),
    )
    .await
    .unwrap();
    let run = stack
        .sync(&connection, "certificates", false)
        .await
        .unwrap();
    assert_eq!(run.last().unwrap().run.clone().unwrap().applied, 1);
    let certificates = testing::eventually(Duration::from_secs(15), || async {
        let list = stack
            .billing
            .clone()
            .list_tax_certificates(stack.admin(ListTaxCertificatesRequest {
                customer_id: paul.clone(),
            }))
            .await
            .ok()?
            .into_inner()
            .certificates;
        (!list.is_empty()).then_some(list)
    })
    .await
    .expect("the ERP's certificate in billing");
    assert_eq!(certificates[0].number, "AF-2025-0007");
    assert_eq!(certificates[0].year, 2025);
}

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
