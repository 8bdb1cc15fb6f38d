//! The office plans over HTTP: what nobody is assigned to, assigning a
//! worker, a change that would clash refused whole (409) with nothing
//! changed, cancelling the following ones; a customer may not.

use relais_platform::auth::Role;
use serde_json::json;

use crate::support::{Api, confirm, customer, customer_token, eventually, stack, weekly_booking};

#[tokio::test]
async fn the_office_assigns_moves_and_cancels_interventions() {
    let stack = stack().await;
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    let awa = stack.shop_worker("Awa", "Diallo", &cleaning).await;
    let paul = customer(&stack, "Paul", "paul@example.org").await;
    let shop = Api::new(&stack, Some(customer_token(&stack, &paul)));
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));

    // A weekly booking of three Mondays with Awa.
    let order = weekly_booking(&shop, &cleaning, &awa, 3).await;
    confirm(&stack, &order).await;
    let planned = eventually("three interventions", || async {
        let page = office
            .ok(&format!("/v1/office/interventions?order_id={order}"))
            .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 3).then_some(items)
    })
    .await;
    let first = planned[0]["id"].as_str().unwrap().to_owned();
    let changes = format!("/v1/office/interventions/{first}/changes");

    // Unassign the first: it is in the office's list of what needs someone.
    let un = office
        .send(
            reqwest::Method::POST,
            &changes,
            Some(&json!({"change": {"reassign": {"worker_id": ""}}})),
            &[],
        )
        .await;
    assert_eq!(
        un.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&un.bytes)
    );
    let todo = office
        .ok("/v1/office/interventions?unassigned_only=true")
        .await;
    assert!(
        todo["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == first.as_str()),
        "{todo}"
    );

    // Assign Awa again.
    let back = office
        .send(
            reqwest::Method::POST,
            &changes,
            Some(&json!({"change": {"reassign": {"worker_id": awa}}})),
            &[],
        )
        .await;
    assert_eq!(back.json()["items"][0]["worker_id"], awa.as_str());

    // Moving it to 19:00 for 2 h would end after Awa's 20:00: refused
    // whole, nothing changed.
    // 9:00 in Paris is 08:00Z in winter (07:00Z in summer): 19:00 local.
    let late = planned[0]["start"]
        .as_str()
        .unwrap()
        .replace("T08:00:00", "T18:00:00")
        .replace("T07:00:00", "T17:00:00");
    let clash = office
        .send(
            reqwest::Method::POST,
            &changes,
            Some(&json!({"change": {"reschedule": {"start": late}}})),
            &[],
        )
        .await;
    clash.problem(409, "conflict");
    let still = office
        .ok(&format!("/v1/office/interventions?order_id={order}"))
        .await;
    assert_eq!(still["items"][0]["start"], planned[0]["start"]);

    // Bad input names its field; a customer may not assign a worker.
    let bad = office
        .send(
            reqwest::Method::POST,
            &changes,
            Some(&json!({"change": {"paint": {}}})),
            &[],
        )
        .await;
    assert_eq!(bad.status.as_u16(), 400);
    shop.send(
        reqwest::Method::POST,
        &changes,
        Some(&json!({"change": {"reassign": {"worker_id": awa}}})),
        &[],
    )
    .await
    .problem(403, "forbidden");

    // Cancel the second and the following.
    let second = planned[1]["id"].as_str().unwrap();
    let cancelled = office
        .send(
            reqwest::Method::POST,
            &format!("/v1/office/interventions/{second}/changes"),
            Some(&json!({"scope": "following", "change": {"cancel": {"reason": "moving out"}}})),
            &[],
        )
        .await;
    assert_eq!(
        cancelled.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&cancelled.bytes)
    );
    let items = cancelled.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|i| i["status"] == "cancelled" && i["status_reason"] == "moving out")
    );
}

#[tokio::test]
async fn a_customer_moves_or_cancels_their_own_up_to_48_hours_before() {
    let stack = stack().await;
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    let awa = stack.shop_worker("Awa", "Diallo", &cleaning).await;
    let paul = customer(&stack, "Paul", "paul@example.org").await;
    let claire = customer(&stack, "Claire", "claire@example.org").await;
    let shop = Api::new(&stack, Some(customer_token(&stack, &paul)));
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let order = weekly_booking(&shop, &cleaning, &awa, 3).await;
    confirm(&stack, &order).await;
    let mine = eventually("my three interventions", || async {
        let page = shop.ok("/v1/me/interventions").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 3).then_some(items)
    })
    .await;

    // Each says until when Paul may change it himself: 48 h before.
    for i in &mine {
        let start: chrono::DateTime<chrono::Utc> = i["start"].as_str().unwrap().parse().unwrap();
        let until: chrono::DateTime<chrono::Utc> = i["customer_changes_until"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(start - until, chrono::Duration::hours(48));
    }

    // The third, two weeks away at least: Paul cancels it.
    let third = mine[2]["id"].as_str().unwrap();
    let cancelled = shop
        .send(
            reqwest::Method::POST,
            &format!("/v1/me/interventions/{third}/changes"),
            Some(&json!({"change": {"cancel": {"reason": "away that week"}}})),
            &[],
        )
        .await;
    assert_eq!(
        cancelled.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&cancelled.bytes)
    );
    assert_eq!(cancelled.json()["items"][0]["status"], "cancelled");
    assert_eq!(
        cancelled.json()["items"][0]["customer_changes_until"],
        json!(null)
    );

    // Claire may not touch Paul's (404, as if absent); Paul may not assign.
    let second = mine[1]["id"].as_str().unwrap();
    let path = format!("/v1/me/interventions/{second}/changes");
    let cancel = json!({"change": {"cancel": {"reason": "x"}}});
    Api::new(&stack, Some(customer_token(&stack, &claire)))
        .send(reqwest::Method::POST, &path, Some(&cancel), &[])
        .await
        .problem(404, "not-found");
    shop.send(
        reqwest::Method::POST,
        &path,
        Some(&json!({"change": {"reassign": {"worker_id": ""}}})),
        &[],
    )
    .await
    .problem(403, "forbidden");
    // Nor lengthen it: more work at the booked price is the office's call.
    shop.send(
        reqwest::Method::POST,
        &path,
        Some(&json!({"change": {"reschedule": {"start": mine[1]["start"], "duration_minutes": 720}}})),
        &[],
    )
    .await
    .problem(403, "forbidden");
    // Nor move it to tomorrow: nearer than 48 h.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    let near = shop
        .send(
            reqwest::Method::POST,
            &path,
            Some(&json!({"change": {"reschedule": {"start": tomorrow}}})),
            &[],
        )
        .await
        .problem(409, "conflict");
    assert!(near["detail"].as_str().unwrap().contains("48 h"), "{near}");

    // The office may: then it is too near for Paul to cancel.
    let moved = office
        .send(
            reqwest::Method::POST,
            &format!("/v1/office/interventions/{second}/changes"),
            Some(&json!({"change": {"reschedule": {"start": tomorrow}}})),
            &[],
        )
        .await;
    assert_eq!(
        moved.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&moved.bytes)
    );
    shop.send(reqwest::Method::POST, &path, Some(&cancel), &[])
        .await
        .problem(409, "conflict");
    let still = shop.ok("/v1/me/interventions").await;
    let second_now = still["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == second)
        .unwrap();
    assert_eq!(second_now["status"], "planned");

    // Staff have no "me".
    Api::new(&stack, Some(stack.token(Role::Staff)))
        .send(reqwest::Method::POST, &path, Some(&cancel), &[])
        .await
        .problem(403, "forbidden");
}
