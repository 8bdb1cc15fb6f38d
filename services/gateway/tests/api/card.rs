//! My saved card over HTTP: saved, read, replaced and removed by the
//! customer; nobody else sees or changes it (and no route takes a
//! customer's id); bad references are 400 naming the field and change
//! nothing; the next card invoice is debited from the card saved now.

use relais_platform::{
    auth::{Claims, Role},
    testing::with_token,
};
use relais_proto::{
    billing::ListPaymentsRequest,
    orders::{Customer, GetCustomerRequest},
};
use relais_testkit::Stack;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Answer, Api, customer_token, eventually, stack};

/// An online customer without a saved card: their id.
async fn cardless(stack: &Stack, first: &str) -> String {
    let email = format!("{}@example.org", first.to_lowercase());
    stack.customer(first, "Durand", &email, "").await
}

/// The customer's record as the office reads it over gRPC.
async fn record(stack: &Stack, id: &str) -> Customer {
    stack
        .orders()
        .get_customer(stack.admin(GetCustomerRequest { id: id.into() }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap()
}

fn card_of(c: &Customer) -> (String, i64) {
    (
        c.fields.as_ref().unwrap().payment_method_ref.clone(),
        c.version,
    )
}

async fn put_card(api: &Api, body: &Value) -> Answer {
    api.send(Method::PUT, "/v1/me/card", Some(body), &[]).await
}

async fn delete_card(api: &Api) -> Answer {
    api.send(Method::DELETE, "/v1/me/card", None, &[]).await
}

/// The JSON of a 200, which never holds the provider's reference.
fn shown(a: &Answer) -> Value {
    assert_eq!(
        a.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    let body = String::from_utf8_lossy(&a.bytes);
    assert!(
        !body.contains("pm_"),
        "the reference is never shown: {body}"
    );
    a.json()
}

#[tokio::test]
async fn a_customer_saves_reads_replaces_and_removes_their_card() {
    let stack = stack().await;
    let paul = cardless(&stack, "Paul").await;
    let api = Api::new(&stack, Some(customer_token(&stack, &paul)));

    assert_eq!(
        api.ok("/v1/me/card").await,
        json!({"saved": false, "saved_at": null})
    );

    // Saved: the reference the provider's tokenisation gave.
    let saved = shown(&put_card(&api, &json!({"payment_method_ref": "pm_card_visa"})).await);
    assert_eq!(saved["saved"], true);
    let saved_at = saved["saved_at"].as_str().unwrap().to_owned();
    assert_eq!(api.ok("/v1/me/card").await, saved);
    assert_eq!(
        card_of(&record(&stack, &paul).await),
        ("pm_card_visa".into(), 2)
    );

    // PUT again: the same, nothing changes.
    let again = shown(&put_card(&api, &json!({"payment_method_ref": "pm_card_visa"})).await);
    assert_eq!(again, saved);
    assert_eq!(record(&stack, &paul).await.version, 2);

    // Replaced.
    let replaced =
        shown(&put_card(&api, &json!({"payment_method_ref": "pm_card_mastercard"})).await);
    assert_eq!(replaced["saved"], true);
    assert!(replaced["saved_at"].as_str().unwrap() >= saved_at.as_str());
    assert_eq!(
        card_of(&record(&stack, &paul).await),
        ("pm_card_mastercard".into(), 3)
    );

    // Removed; removing again is the same answer.
    for _ in 0..2 {
        let gone = delete_card(&api).await;
        assert_eq!(gone.status.as_u16(), 204);
        assert!(gone.bytes.is_empty());
    }
    assert_eq!(
        api.ok("/v1/me/card").await,
        json!({"saved": false, "saved_at": null})
    );
    assert_eq!(card_of(&record(&stack, &paul).await), (String::new(), 4));
}

#[tokio::test]
async fn nobody_else_sees_or_changes_my_card() {
    let stack = stack().await;
    let paul = cardless(&stack, "Paul").await;
    let marie = cardless(&stack, "Marie").await;
    let api = Api::new(&stack, Some(customer_token(&stack, &paul)));
    shown(&put_card(&api, &json!({"payment_method_ref": "pm_card_visa"})).await);
    let before = card_of(&record(&stack, &paul).await);

    // Another customer's /v1/me/card is theirs: no id of Paul's reaches his.
    let other = Api::new(&stack, Some(customer_token(&stack, &marie)));
    assert_eq!(
        other.ok(&format!("/v1/me/card?customer_id={paul}")).await,
        json!({"saved": false, "saved_at": null}),
        "a query's id is ignored"
    );
    let aimed = put_card(
        &other,
        &json!({"payment_method_ref": "pm_card_chargeDeclined", "customer_id": paul}),
    )
    .await;
    assert_eq!(aimed.bad_fields(), ["customer_id"]);
    other
        .get(&format!("/v1/me/card/{paul}"))
        .await
        .problem(404, "not-found");
    other
        .send(Method::DELETE, &format!("/v1/me/card/{paul}"), None, &[])
        .await
        .problem(404, "not-found");
    // Marie's own card changes hers only.
    shown(&put_card(&other, &json!({"payment_method_ref": "pm_card_mastercard"})).await);
    assert_eq!(delete_card(&other).await.status.as_u16(), 204);

    // Staff and the office have no "me" (403); nobody without a token (401).
    let staff = Api::new(
        &stack,
        Some(relais_testkit::sign(&Claims {
            sub: "staff-r1".into(),
            ..stack.claims(Role::Staff)
        })),
    );
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    for who in [&staff, &office] {
        who.get("/v1/me/card").await.problem(403, "forbidden");
        put_card(
            who,
            &json!({"payment_method_ref": "pm_card_chargeDeclined"}),
        )
        .await
        .problem(403, "forbidden");
        delete_card(who).await.problem(403, "forbidden");
    }
    let anonymous = Api::new(&stack, None);
    anonymous
        .get("/v1/me/card")
        .await
        .problem(401, "unauthenticated");
    put_card(&anonymous, &json!({"payment_method_ref": "pm_card_visa"}))
        .await
        .problem(401, "unauthenticated");
    delete_card(&anonymous)
        .await
        .problem(401, "unauthenticated");

    assert_eq!(card_of(&record(&stack, &paul).await), before);
    assert_eq!(api.ok("/v1/me/card").await["saved"], true);
}

#[tokio::test]
async fn bad_references_are_refused_naming_the_field_and_change_nothing() {
    let stack = stack().await;
    let paul = cardless(&stack, "Paul").await;
    let api = Api::new(&stack, Some(customer_token(&stack, &paul)));
    let saved = shown(&put_card(&api, &json!({"payment_method_ref": "pm_card_visa"})).await);
    let before = card_of(&record(&stack, &paul).await);

    let too_long = format!("pm_{}", "x".repeat(253));
    for body in [
        json!({}),
        json!({"payment_method_ref": ""}),
        json!({"payment_method_ref": "   "}),
        json!({"payment_method_ref": too_long}),
        json!({"payment_method_ref": "pm_\u{1}visa"}),
        json!({"payment_method_ref": "pm card visa"}),
        json!({"payment_method_ref": "pm_carte_bleue_é"}),
        json!({"payment_method_ref": 4242}),
        json!({"payment_method_ref": null}),
    ] {
        let refused = put_card(&api, &body).await;
        assert_eq!(refused.bad_fields(), ["payment_method_ref"], "{body}");
    }
    // Not JSON at all.
    api.send(
        Method::PUT,
        "/v1/me/card",
        None,
        &[("content-type", "text/plain")],
    )
    .await
    .problem(415, "unsupported-media-type");

    assert_eq!(card_of(&record(&stack, &paul).await), before);
    assert_eq!(api.ok("/v1/me/card").await, saved);
}

/// Card payments follow the card saved at the time: none, a good card, a
/// card that is declined, none again. Each time an invoice of 120 € is
/// validated in the ERP and recorded (as the connector does) once billing
/// has the change.
#[tokio::test]
async fn a_card_invoice_is_debited_from_the_card_saved_now() {
    let stack = stack().await;
    let paul = cardless(&stack, "Paul").await;
    let api = Api::new(&stack, Some(customer_token(&stack, &paul)));
    let invoice = async |step: u32| {
        caught_up(&stack, step).await;
        erp_invoice(&stack, &format!("OG-{step}"), &paul).await
    };

    // No card: validated, nothing debited.
    let unpaid = invoice(1).await;
    assert_eq!(status_of(&api, &unpaid).await, "validated");
    assert!(payments(&stack, &unpaid).await.is_empty());

    // A card saved: the next invoice is debited from it, and paid.
    shown(&put_card(&api, &json!({"payment_method_ref": "pm_card_visa"})).await);
    let paid = invoice(2).await;
    eventually("debited from the saved card", || async {
        (status_of(&api, &paid).await == "paid").then_some(())
    })
    .await;
    assert!(
        stack
            .simulator()
            .charges()
            .iter()
            .any(|c| c.invoice_id == paid),
        "charged through the provider"
    );

    // Replaced by a card the provider declines: that one is tried.
    shown(
        &put_card(
            &api,
            &json!({"payment_method_ref": "pm_card_chargeDeclined"}),
        )
        .await,
    );
    let declined = invoice(3).await;
    eventually("declined on the new card", || async {
        (status_of(&api, &declined).await == "payment_failed").then_some(())
    })
    .await;

    // Removed: the next invoice waits to be paid, nothing is debited.
    assert_eq!(delete_card(&api).await.status.as_u16(), 204);
    let waiting = invoice(4).await;
    assert_eq!(status_of(&api, &waiting).await, "validated");
    assert!(payments(&stack, &waiting).await.is_empty());
    assert_eq!(status_of(&api, &unpaid).await, "validated");
}

/// Waits until billing has applied every customer change made so far: a
/// new customer, created after them, is known to billing only once its
/// copy of customers has taken the changes before it (one consumer, in
/// the stream's order).
async fn caught_up(stack: &Stack, n: u32) {
    let marker = cardless(stack, &format!("Marker{n}")).await;
    erp_invoice(stack, &format!("MARK-{n}"), &marker).await;
}

/// An invoice of 120 € validated in the ERP, recorded as the connector
/// records it, once billing knows the customer: its id.
async fn erp_invoice(stack: &Stack, number: &str, customer: &str) -> String {
    let connector = relais_testkit::sign(&Claims {
        connection: Some("erp".into()),
        ..stack.claims(Role::Connector)
    });
    eventually("the ERP's invoice recorded", || async {
        stack
            .billing()
            .record_erp_invoice(with_token(
                &connector,
                relais_testkit::erp_invoice(number, customer),
            ))
            .await
            .ok()?
            .into_inner()
            .invoice
            .map(|i| i.id)
    })
    .await
}

async fn status_of(api: &Api, invoice: &str) -> String {
    api.ok(&format!("/v1/me/invoices/{invoice}")).await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn payments(stack: &Stack, invoice: &str) -> Vec<relais_proto::billing::Payment> {
    stack
        .billing()
        .list_payments(stack.admin(ListPaymentsRequest {
            invoice_id: invoice.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .payments
}
