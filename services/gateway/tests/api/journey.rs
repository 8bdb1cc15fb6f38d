//! A customer's journey through the API: the services on sale, a free
//! slot with a worker, a recurring booking in it, the booking in my
//! orders once paid, its interventions planned with that worker; an hour
//! pack bought, its invoice in my account and its PDF once the office has
//! validated it.

use relais_platform::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::{Api, confirm, customer, customer_token, eventually, key, next_monday, stack};

#[tokio::test]
async fn a_customer_books_a_recurring_cleaning_and_reads_it_in_their_account() {
    let stack = stack().await;
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    let awa = stack.shop_worker("Awa", "Diallo", &cleaning).await;
    let paul = customer(&stack, "Paul", "paul@example.org").await;
    let api = Api::new(&stack, Some(customer_token(&stack, &paul)));

    // Browsing: the service on sale, at its price.
    let services = api.ok("/v1/shop/services").await;
    let listed = &services["items"][0];
    assert_eq!(listed["id"], cleaning.as_str());
    assert_eq!(listed["name"], "Ménage à domicile");
    assert_eq!(
        listed["hourly_price"],
        json!({"amount_cents": 2500, "currency": "EUR"})
    );
    assert_eq!(services["next_cursor"], json!(null));

    // Free slots on a Monday: Awa works 7:00 to 20:00, so 9:00 is free
    // and a two-hour slot at 19:00 is not.
    let monday = next_monday();
    let slots = api
        .ok(&format!(
            "/v1/shop/services/{cleaning}/slots?days={monday}&duration_minutes=120"
        ))
        .await;
    let at = |hhmm: &str| {
        slots["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["start_time"] == hhmm)
            .cloned()
    };
    let nine = at("09:00").expect("9:00 is free");
    assert_eq!(nine["date"], monday.to_string());
    assert_eq!(nine["free_worker_ids"], json!([awa]));
    assert!(at("19:00").is_none(), "Awa stops at 20:00");
    assert_eq!(slots["time_zone"], "Europe/Paris");
    let workers = api
        .ok(&format!(
            "/v1/shop/services/{cleaning}/workers?start={}&end={}",
            nine["start"].as_str().unwrap(),
            nine["end"].as_str().unwrap()
        ))
        .await;
    assert_eq!(workers["items"][0]["first_name"], "Awa");
    assert!(
        workers["items"][0].get("email").is_none(),
        "never a worker's e-mail"
    );

    // Three Mondays at 9:00 with Awa, by card.
    let placed = api
        .post(
            "/v1/shop/bookings",
            &key(),
            &json!({
                "service_id": cleaning,
                "worker_id": awa,
                "schedule": {
                    "first_date": monday.to_string(), "start_time": "09:00",
                    "duration_minutes": 120,
                    "recurrence": {"interval_weeks": 1, "weekdays": [1], "count": 3},
                },
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
    let booking = placed.json();
    let id = booking["id"].as_str().unwrap().to_owned();
    assert_eq!(
        placed.headers["location"].to_str().unwrap(),
        format!("/v1/me/orders/{id}")
    );
    assert_eq!(booking["kind"], "booking");
    assert_eq!(booking["status"], "placed");
    assert_eq!(booking["customer_id"], paul.as_str());
    assert_eq!(booking["booking"]["occurrences"], 3);
    // 3 × 2 h at 25 €, 10 % VAT.
    assert_eq!(booking["total_incl_vat"]["amount_cents"], 16_500);

    // Paid: it stands in my orders, and its three Mondays are planned with Awa.
    confirm(&stack, &id).await;
    let mine = api.ok("/v1/me/orders").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["id"], id.as_str());
    assert_eq!(mine["items"][0]["status"], "confirmed");
    assert_eq!(
        api.ok(&format!("/v1/me/orders/{id}")).await["status"],
        "confirmed"
    );
    let interventions = eventually("three interventions planned", || async {
        let page = api.ok("/v1/me/interventions").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 3).then_some(items)
    })
    .await;
    for (n, i) in interventions.iter().enumerate() {
        assert_eq!(i["order_id"], id.as_str());
        assert_eq!(i["occurrence"], n + 1);
        assert_eq!(i["status"], "planned");
        assert_eq!(i["worker_id"], awa.as_str());
    }
    assert_eq!(interventions[0]["start"], nine["start"]);

    // An hour pack: paid at order, invoiced; validated by the office, its
    // PDF is in my account.
    let pack = stack.hour_pack("10 h de ménage", &cleaning).await;
    assert_eq!(
        api.ok("/v1/shop/hour-packs").await["items"][0]["id"],
        pack.as_str()
    );
    let bought = api
        .post(
            "/v1/shop/hour-pack-orders",
            &key(),
            &json!({"hour_pack_id": pack, "terms_accepted": true}),
        )
        .await;
    assert_eq!(
        bought.status.as_u16(),
        201,
        "{}",
        String::from_utf8_lossy(&bought.bytes)
    );
    let bought = bought.json()["id"].as_str().unwrap().to_owned();
    confirm(&stack, &bought).await;
    let invoice = eventually("the pack's invoice", || async {
        let page = api.ok("/v1/me/invoices").await;
        page["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    assert_eq!(invoice["order_id"], bought.as_str());
    assert_eq!(invoice["status"], "draft");
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    // A draft has no document yet.
    api.get(&format!("/v1/me/invoices/{invoice_id}/pdf"))
        .await
        .problem(409, "conflict");
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let validate = format!("/v1/office/invoices/{invoice_id}/validate");
    let numbered = office
        .send(Method::POST, &validate, Some(&json!({})), &[])
        .await;
    assert_eq!(
        numbered.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&numbered.bytes)
    );
    // Twice is refused, naming the number it has; nothing changes.
    let number = numbered.json()["number"].as_str().unwrap().to_owned();
    let again = office
        .send(Method::POST, &validate, Some(&json!({})), &[])
        .await;
    let p = again.problem(409, "conflict");
    assert!(p["detail"].as_str().unwrap().contains(&number), "{p}");
    // A customer may never validate.
    api.send(Method::POST, &validate, Some(&json!({})), &[])
        .await
        .problem(403, "forbidden");
    let validated = api.ok(&format!("/v1/me/invoices/{invoice_id}")).await;
    assert!(
        validated["number"].as_str().unwrap().starts_with('F'),
        "{validated}"
    );
    assert!(
        ["validated", "paid"].contains(&validated["status"].as_str().unwrap()),
        "{validated}"
    );
    let pdf = api.get(&format!("/v1/me/invoices/{invoice_id}/pdf")).await;
    assert_eq!(pdf.status.as_u16(), 200);
    assert_eq!(pdf.content_type(), "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF"), "a PDF");
    let disposition = pdf.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains(validated["number"].as_str().unwrap()),
        "{disposition}"
    );

    // The pack is mine, open, with its ten hours.
    let packs = eventually("the pack opened", || async {
        let list = api.ok("/v1/me/packs").await;
        list["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    assert_eq!(packs["pack_order_id"], bought.as_str());
    assert_eq!(
        (packs["bought"].clone(), packs["status"].clone()),
        (json!(600), json!("open"))
    );
}
