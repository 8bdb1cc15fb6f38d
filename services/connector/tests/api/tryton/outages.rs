//! Tryton failing under the connector: a create retried with its
//! reference, and customers made while Tryton is down.

use std::time::Duration;

use relais_connector::adapter::{ErpAdapter, ErpRecord};
use relais_platform::testing;
use relais_proto::connector::ListDeadLettersRequest;
use serde_json::json;

use crate::stack::{fields, spawn_with};

use super::{Tryton, connect, read};

#[tokio::test]
async fn a_tryton_create_retried_with_its_reference_finds_the_first_record() {
    let Some(tryton) = Tryton::start().await else {
        return;
    };
    let erp = tryton.client();
    let customer = fields(json!({
        "first_name": "Inès", "last_name": "Moreau", "email": "ines@example.org",
        "phone": "06 11 22 33 44",
        "address": {"line1": "2 rue Neuve", "line2": "", "postal_code": "13001",
                    "city": "Marseille", "country": "FR"},
        "shop_id": "0190-ines",
    }));
    let reference = "relais:test:customer:0190-ines";
    let first = erp
        .upsert("customer", None, reference, &customer)
        .await
        .unwrap();
    // The answer was lost: the retry carries the same reference.
    let again = erp
        .upsert("customer", None, reference, &customer)
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    let found = erp
        .call(
            "party.party",
            "search_count",
            vec![json!([["name", "=", "Inès Moreau"]])],
        )
        .await
        .unwrap();
    assert_eq!(found, 1, "one party in Tryton");
    assert!(erp.holds("customer", &customer, &again), "{again:?}");
    assert_eq!(again.fields["shop_id"], "0190-ines");
    assert_eq!(again.fields["phone"], "06 11 22 33 44");

    // An edit replaces the email and phone, and keeps one address.
    let mut edited = customer.clone();
    edited.insert("email".into(), "ines.moreau@example.org".into());
    let after = erp
        .upsert("customer", Some(&first.id), reference, &edited)
        .await
        .unwrap();
    assert_eq!(after.fields["email"], "ines.moreau@example.org");
    assert!(after.version >= first.version);
    let party = read(
        &erp,
        "party.party",
        first.id.parse().unwrap(),
        &["contact_mechanisms", "addresses"],
    )
    .await;
    assert_eq!(party["contact_mechanisms"].as_array().unwrap().len(), 2);
    assert_eq!(party["addresses"].as_array().unwrap().len(), 1);

    // What Tryton refuses is a refusal (dead letter), not a retry.
    let err = erp
        .upsert(
            "quote",
            None,
            "relais:test:quote:x",
            &fields(json!({"customer": "999999", "lines": []})),
        )
        .await
        .unwrap_err();
    assert!(!err.retryable(), "{err}");
}

#[tokio::test]
async fn customers_created_while_tryton_is_down_reach_it_once_when_it_is_back() {
    let Some(mut tryton) = Tryton::start().await else {
        return;
    };
    let stack = spawn_with(|cfg| {
        // Enough attempts to outlast the outage.
        cfg.push.max_attempts = 40;
    })
    .await;
    let connection = connect(&stack, &tryton).await;
    let erp = tryton.client();
    let online = |records: Vec<ErpRecord>| -> Vec<ErpRecord> {
        records
            .into_iter()
            .filter(|r| r.fields.contains_key("shop_id"))
            .collect()
    };

    tryton.stop();
    for name in ["Durand", "Petit", "Roux"] {
        stack.customer(name).await;
    }
    // The writes fail and wait their turn while Tryton is down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tryton.serve().await;

    let parties = testing::eventually(Duration::from_secs(60), || async {
        let all = online(
            erp.changed_since("customer", None, 1, 100)
                .await
                .ok()?
                .records,
        );
        (all.len() >= 3).then_some(all)
    })
    .await;
    let Some(parties) = parties else {
        let dead = stack
            .connector
            .clone()
            .list_dead_letters(stack.admin(ListDeadLettersRequest {
                connection_id: connection.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        panic!(
            "the customers never all reached Tryton: {:?}; dead letters {dead:?}",
            erp.changed_since("customer", None, 1, 100).await
        );
    };
    // Settled: nothing more comes, nothing twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = online(
        erp.changed_since("customer", None, 1, 100)
            .await
            .unwrap()
            .records,
    );
    assert_eq!(after.len(), 3, "{after:?}");
    let mut names: Vec<String> = parties
        .iter()
        .map(|p| p.fields["last_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Durand", "Petit", "Roux"]);
    let dead = stack
        .connector
        .clone()
        .list_dead_letters(stack.admin(ListDeadLettersRequest {
            connection_id: connection,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(dead.dead_letters.is_empty(), "{dead:?}");
}
