use prost::Message;
use relais_platform::auth::Role;
use relais_proto::{
    events::CustomerChanged,
    orders::{
        AddResidenceStaffRequest, CreateCustomerRequest, CustomerFields, GetCustomerRequest,
        ListCustomersRequest, UpdateCustomerRequest,
    },
};
use tonic::Code;
use uuid::Uuid;

use crate::helpers::*;

type Mutation = fn(&mut CustomerFields);

async fn member(app: &mut TestApp, residence: &str, sub: &str) {
    let add = AddResidenceStaffRequest {
        residence_id: residence.into(),
        staff_subject: sub.into(),
        display_name: String::new(),
    };
    app.client
        .add_residence_staff(app.admin(add))
        .await
        .unwrap();
}

fn create(fields: CustomerFields) -> CreateCustomerRequest {
    CreateCustomerRequest {
        idempotency_key: String::new(),
        fields: Some(fields),
    }
}

#[tokio::test]
async fn staff_manage_residents_of_their_residences_only() {
    let mut app = spawn_app().await;
    let mine = app.residence("Les Tilleuls").await;
    let other = app.residence("Les Glycines").await;
    member(&mut app, &mine, "nurse-1").await;

    let jeanne = app
        .client
        .create_customer(app.staff("nurse-1", create(resident("Martin", &mine))))
        .await
        .expect("resident created")
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(jeanne.origin, "shop");
    assert!(!jeanne.read_only);

    let outside = app
        .client
        .create_customer(app.staff("nurse-1", create(resident("Durand", &other))))
        .await
        .expect_err("other residence");
    assert_eq!(outside.code(), Code::PermissionDenied);
    let homeless = app
        .client
        .create_customer(app.staff("nurse-1", create(resident("Petit", ""))))
        .await
        .expect_err("no residence");
    assert_eq!(homeless.code(), Code::PermissionDenied);

    let theirs = app
        .client
        .create_customer(app.admin(create(resident("Durand", &other))))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let hidden = app
        .client
        .get_customer(app.staff(
            "nurse-1",
            GetCustomerRequest {
                id: theirs.id.clone(),
            },
        ))
        .await
        .expect_err("other residence's resident");
    assert_eq!(hidden.code(), Code::NotFound);
    let moved = app
        .client
        .update_customer(app.staff(
            "nurse-1",
            UpdateCustomerRequest {
                id: jeanne.id.clone(),
                expected_version: 1,
                fields: Some(resident("Martin", &other)),
            },
        ))
        .await
        .expect_err("cannot move a resident out of reach");
    assert_eq!(moved.code(), Code::PermissionDenied);

    let listed = app
        .client
        .list_customers(app.staff(
            "nurse-1",
            ListCustomersRequest {
                residence_id: mine.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [jeanne.id.as_str()]
    );
    let not_member = app
        .client
        .list_customers(app.staff(
            "nurse-1",
            ListCustomersRequest {
                residence_id: other.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("not a member");
    assert_eq!(not_member.code(), Code::PermissionDenied);
    let unscoped = app
        .client
        .list_customers(app.staff("nurse-1", ListCustomersRequest::default()))
        .await
        .expect_err("no residence");
    assert_bad_field(&unscoped, "residence_id");
    let everyone = app
        .client
        .list_customers(app.admin(ListCustomersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(everyone.len(), 2);
}

#[tokio::test]
async fn a_customer_reads_only_their_own_record() {
    let mut app = spawn_app().await;
    let residence = app.residence("Les Tilleuls").await;
    let me = app
        .client
        .create_customer(app.admin(create(resident("Martin", &residence))))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let other = app
        .client
        .create_customer(app.admin(create(resident("Durand", &residence))))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let token = app.token(
        Role::Customer,
        "jeanne",
        Some(Uuid::parse_str(&me.id).unwrap()),
    );
    let mine = app
        .client
        .get_customer(with_token(&token, GetCustomerRequest { id: me.id.clone() }))
        .await
        .expect("own record");
    assert_eq!(
        mine.into_inner()
            .customer
            .unwrap()
            .fields
            .unwrap()
            .last_name,
        "Martin"
    );
    let theirs = app
        .client
        .get_customer(with_token(
            &token,
            GetCustomerRequest {
                id: other.id.clone(),
            },
        ))
        .await
        .expect_err("another's");
    assert_eq!(theirs.code(), Code::NotFound);
    let list = app
        .client
        .list_customers(with_token(&token, ListCustomersRequest::default()))
        .await
        .expect_err("no listing");
    assert_eq!(list.code(), Code::PermissionDenied);
    let write = app
        .client
        .create_customer(with_token(&token, create(resident("X", ""))))
        .await
        .expect_err("no writing");
    assert_eq!(write.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn customers_from_the_erp_are_read_only_outside_the_connector() {
    let mut app = spawn_app().await;
    let connector = app.token(Role::Connector, "connector", None);
    let mut fields = resident("Lefebvre", "");
    fields.external_ref = "CLI-00042".into();
    let synced = app
        .client
        .create_customer(with_token(&connector, create(fields.clone())))
        .await
        .expect("synced")
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(synced.origin, "erp:conn-1");
    assert!(synced.read_only);

    let dup = app
        .client
        .create_customer(with_token(&connector, create(fields.clone())))
        .await
        .expect_err("same ERP id twice");
    assert_eq!(dup.code(), Code::AlreadyExists);

    fields.phone = "06 00 00 00 00".into();
    let by_admin = app
        .client
        .update_customer(app.admin(UpdateCustomerRequest {
            id: synced.id.clone(),
            expected_version: 0,
            fields: Some(fields.clone()),
        }))
        .await
        .expect_err("shop edit of an ERP record");
    assert_eq!(by_admin.code(), Code::FailedPrecondition);
    let by_connector = app
        .client
        .update_customer(with_token(
            &connector,
            UpdateCustomerRequest {
                id: synced.id.clone(),
                expected_version: 1,
                fields: Some(fields),
            },
        ))
        .await
        .expect("the ERP's change")
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(by_connector.version, 2);

    let stream = app.subjects(2).await;
    assert!(
        stream[0].ends_with(".customer.created") && stream[1].ends_with(".customer.updated"),
        "{stream:?}"
    );
    assert_eq!(stream.len(), 2, "refused changes emit nothing");
}

#[tokio::test]
async fn bad_customers_are_refused_with_the_field() {
    let mut app = spawn_app().await;
    let cases: Vec<(&str, Mutation)> = vec![
        ("fields.email", |f| f.email = "jeanne.martin@".into()),
        ("fields.email", |f| f.email = "jeanne martin@x.fr".into()),
        ("fields.phone", |f| f.phone = "call me".into()),
        ("fields.last_name", |f| f.last_name = " ".into()),
        ("fields.billing_address", |f| f.billing_address = None),
        ("fields.billing_address.city", |f| {
            f.billing_address.as_mut().unwrap().city = String::new()
        }),
        ("fields.billing_address.country", |f| {
            f.billing_address.as_mut().unwrap().country = "France".into()
        }),
        ("fields.residence_id", |f| f.residence_id = "nope".into()),
        // The saved card's rule, as SetCustomerPaymentMethod's.
        ("fields.payment_method_ref", |f| {
            f.payment_method_ref = "pm card visa".into()
        }),
        ("fields.residence_id", |f| {
            f.residence_id = Uuid::now_v7().to_string()
        }),
    ];
    for (field, mutate) in cases {
        let mut fields = resident("Martin", "");
        mutate(&mut fields);
        let status = app
            .client
            .create_customer(app.admin(create(fields)))
            .await
            .expect_err(field);
        assert_bad_field(&status, field);
    }
    let listed = app
        .client
        .list_customers(app.admin(ListCustomersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.customers.is_empty());
    assert!(app.subjects(0).await.is_empty());
}

#[tokio::test]
async fn creating_a_customer_is_idempotent_and_published() {
    let mut app = spawn_app().await;
    let mut req = create(resident("Martin", ""));
    req.idempotency_key = "signup-1".into();
    let a = app
        .client
        .create_customer(app.admin(req.clone()))
        .await
        .unwrap()
        .into_inner();
    let b = app
        .client
        .create_customer(app.admin(req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a, b);
    let events = app.messages(1).await;
    assert_eq!(events.len(), 1);
    let event = CustomerChanged::decode(events[0].payload.as_ref()).unwrap();
    assert_eq!(event.customer.unwrap().id, a.customer.unwrap().id);
    assert_eq!(event.meta.unwrap().tenant_id, app.tenant.to_string());
}
