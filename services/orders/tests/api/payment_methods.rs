//! A customer's saved card: saved, replaced and removed by the customer
//! alone (the customer from the token, never from the request), by staff
//! for their residents and by the office; invisible to anyone else;
//! published as the customer's change; kept on customers from the ERP.

use prost::Message;
use relais_platform::auth::Role;
use relais_proto::{
    events::CustomerChanged,
    orders::{
        Customer, GetCustomerPaymentMethodRequest, GetCustomerRequest, PaymentMethod,
        RemoveCustomerPaymentMethodRequest, SetCustomerPaymentMethodRequest, UpdateCustomerRequest,
    },
};
use tonic::{Code, Request, Status};
use uuid::Uuid;

use crate::helpers::*;

fn set(customer: &str, reference: &str) -> SetCustomerPaymentMethodRequest {
    SetCustomerPaymentMethodRequest {
        customer_id: customer.into(),
        payment_method_ref: reference.into(),
    }
}

fn named(customer: &str) -> GetCustomerPaymentMethodRequest {
    GetCustomerPaymentMethodRequest {
        customer_id: customer.into(),
    }
}

fn removal(customer: &str) -> RemoveCustomerPaymentMethodRequest {
    RemoveCustomerPaymentMethodRequest {
        customer_id: customer.into(),
    }
}

impl TestApp {
    async fn save(
        &self,
        req: Request<SetCustomerPaymentMethodRequest>,
    ) -> Result<PaymentMethod, Status> {
        let r = self.client.clone().set_customer_payment_method(req).await?;
        Ok(r.into_inner().payment_method.unwrap())
    }

    async fn card(
        &self,
        req: Request<GetCustomerPaymentMethodRequest>,
    ) -> Result<PaymentMethod, Status> {
        let r = self.client.clone().get_customer_payment_method(req).await?;
        Ok(r.into_inner().payment_method.unwrap())
    }

    async fn forget(
        &self,
        req: Request<RemoveCustomerPaymentMethodRequest>,
    ) -> Result<PaymentMethod, Status> {
        let r = self
            .client
            .clone()
            .remove_customer_payment_method(req)
            .await?;
        Ok(r.into_inner().payment_method.unwrap())
    }

    /// The customer's record as the office reads it.
    async fn record(&self, id: &str) -> Customer {
        self.client
            .clone()
            .get_customer(self.admin(GetCustomerRequest { id: id.into() }))
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
    }
}

fn card_of(c: &Customer) -> String {
    c.fields.as_ref().unwrap().payment_method_ref.clone()
}

#[tokio::test]
async fn a_customer_saves_replaces_and_removes_their_own_card() {
    let mut app = spawn_app().await;
    let paul = app.customer(online("Durand")).await;

    // None yet.
    let none = app.card(app.as_customer(&paul, named(""))).await.unwrap();
    assert_eq!(none.customer_id, paul);
    assert!(!none.saved && none.saved_at.is_none());

    // Saved: the customer from the token; a new version, published.
    let saved = app
        .save(app.as_customer(&paul, set("", " pm_card_visa ")))
        .await
        .unwrap();
    assert!(saved.saved && saved.saved_at.is_some());
    assert_eq!(saved.customer_version, 2);
    assert_eq!(card_of(&app.record(&paul).await), "pm_card_visa");
    assert_eq!(
        app.card(app.as_customer(&paul, named(&paul)))
            .await
            .unwrap(),
        saved,
        "naming themselves is the same"
    );

    // The same card again changes nothing, not even when it was saved.
    let again = app
        .save(app.as_customer(&paul, set(&paul, "pm_card_visa")))
        .await
        .unwrap();
    assert_eq!(again, saved);

    // Replaced.
    let replaced = app
        .save(app.as_customer(&paul, set("", "pm_card_mastercard")))
        .await
        .unwrap();
    assert_eq!(replaced.customer_version, 3);
    assert!(replaced.saved_at.unwrap().seconds >= saved.saved_at.unwrap().seconds);
    assert_eq!(card_of(&app.record(&paul).await), "pm_card_mastercard");

    // Removed; removing again changes nothing.
    let removed = app
        .forget(app.as_customer(&paul, removal("")))
        .await
        .unwrap();
    assert!(!removed.saved && removed.saved_at.is_none());
    assert_eq!(removed.customer_version, 4);
    let twice = app
        .forget(app.as_customer(&paul, removal("")))
        .await
        .unwrap();
    assert_eq!(twice, removed);
    assert_eq!(card_of(&app.record(&paul).await), "");

    // Each change is the customer's, published with its version; the
    // repeats published nothing.
    let events = app.messages(4).await;
    assert_eq!(events.len(), 4, "created and three changes");
    let cards: Vec<(String, i64)> = events[1..]
        .iter()
        .map(|m| {
            assert!(m.subject.ends_with(".customer.updated"), "{}", m.subject);
            let c = CustomerChanged::decode(m.payload.as_ref())
                .unwrap()
                .customer
                .unwrap();
            (card_of(&c), c.version)
        })
        .collect();
    assert_eq!(
        cards,
        [
            ("pm_card_visa".to_owned(), 2),
            ("pm_card_mastercard".to_owned(), 3),
            (String::new(), 4)
        ]
    );
}

#[tokio::test]
async fn nobody_else_reaches_a_customers_card() {
    let mut app = spawn_app().await;
    let mut paul_fields = online("Durand");
    paul_fields.payment_method_ref = "pm_card_visa".into();
    let paul = app.customer(paul_fields).await;
    let marie = app.customer(online("Petit")).await;
    let r1 = app.residence("Les Tilleuls").await;
    let r2 = app.residence("Les Glycines").await;
    app.add_staff(&r1, "nurse-1").await;
    app.add_staff(&r2, "nurse-2").await;
    let jeanne = app.customer(resident("Martin", &r1)).await;

    // Another customer: Paul's card is not found, read or write, and what
    // they name nothing is their own.
    for status in [
        app.card(app.as_customer(&marie, named(&paul)))
            .await
            .unwrap_err(),
        app.save(app.as_customer(&marie, set(&paul, "pm_card_chargeDeclined")))
            .await
            .unwrap_err(),
        app.forget(app.as_customer(&marie, removal(&paul)))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(!status.message().contains("Durand"), "{status:?}");
    }
    let own = app.card(app.as_customer(&marie, named(""))).await.unwrap();
    assert_eq!(
        (own.customer_id.as_str(), own.saved),
        (marie.as_str(), false)
    );

    // Staff: their residents only; they must name one.
    let by_nurse = app
        .save(app.staff("nurse-1", set(&jeanne, "pm_card_visa")))
        .await
        .unwrap();
    assert!(by_nurse.saved);
    for (who, customer) in [("nurse-2", &jeanne), ("nurse-1", &paul)] {
        let status = app
            .forget(app.staff(who, removal(customer)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{who}: {status:?}");
    }
    assert_bad_field(
        &app.card(app.staff("nurse-1", named(""))).await.unwrap_err(),
        "customer_id",
    );

    // The connector: never (the ERP holds no card).
    let status = app.card(app.connector(named(&paul))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // The office: anyone of the tenant; an unknown id is not found.
    assert!(app.card(app.admin(named(&jeanne))).await.unwrap().saved);
    let status = app
        .card(app.admin(named(&Uuid::now_v7().to_string())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // Paul's card is as it was.
    let paul_record = app.record(&paul).await;
    assert_eq!(
        (card_of(&paul_record), paul_record.version),
        ("pm_card_visa".to_owned(), 1)
    );
}

#[tokio::test]
async fn bad_references_are_refused_with_the_field_and_change_nothing() {
    let mut app = spawn_app().await;
    let mut fields = online("Durand");
    fields.payment_method_ref = "pm_card_visa".into();
    let paul = app.customer(fields).await;
    let too_long = format!("pm_{}", "x".repeat(253));
    for bad in [
        "",
        "   ",
        "pm card",
        "pm_\u{1}visa",
        "pm_carte_é",
        &too_long,
    ] {
        let status = app
            .save(app.as_customer(&paul, set("", bad)))
            .await
            .unwrap_err();
        assert_bad_field(&status, "payment_method_ref");
    }
    let record = app.record(&paul).await;
    assert_eq!(
        (card_of(&record), record.version),
        ("pm_card_visa".to_owned(), 1)
    );
    assert_eq!(app.messages(1).await.len(), 1, "only created");
}

#[tokio::test]
async fn a_customer_from_the_erp_keeps_a_card_of_their_own() {
    let mut app = spawn_app().await;
    let connector = app.token(Role::Connector, "connector", None);
    let mut fields = resident("Lefebvre", "");
    fields.external_ref = "CLI-00042".into();
    let synced = app
        .client
        .create_customer(with_token(
            &connector,
            relais_proto::orders::CreateCustomerRequest {
                idempotency_key: String::new(),
                fields: Some(fields),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert!(synced.read_only);

    // The card is the online side's: the customer saves one.
    let saved = app
        .save(app.as_customer(&synced.id, set("", "pm_card_visa")))
        .await
        .unwrap();
    assert_eq!((saved.saved, saved.customer_version), (true, 2));
    let record = app.record(&synced.id).await;
    assert!(record.read_only);
    assert_eq!(record.origin, "erp:conn-1");

    // The ERP's next change, written from the shop's record as the
    // connector does, keeps it, and when it was saved.
    let mut changed = record.fields.clone().unwrap();
    changed.phone = "06 11 22 33 44".into();
    let after = app
        .client
        .update_customer(with_token(
            &connector,
            UpdateCustomerRequest {
                id: synced.id.clone(),
                expected_version: 2,
                fields: Some(changed),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(card_of(&after), "pm_card_visa");
    let card = app.card(app.admin(named(&synced.id))).await.unwrap();
    assert_eq!(card.saved_at, saved.saved_at);
    assert_eq!(card.customer_version, 3);
}
