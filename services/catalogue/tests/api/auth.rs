use relais_platform::{
    auth::{Claims, Role},
    testing,
};
use relais_proto::catalogue::{GetProductRequest, ListProductsRequest};
use tonic::{Code, Request};
use uuid::Uuid;

use crate::{
    helpers::{spawn_app, with_token},
    support::*,
};

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let mut app = spawn_app().await;
    let none = app
        .client
        .list_products(Request::new(ListProductsRequest::default()))
        .await
        .expect_err("no token");
    assert_eq!(none.code(), Code::Unauthenticated);

    // Signed by a key this stack does not trust (another stack's).
    let forged = relais_platform::auth::Authenticator::new(
        &relais_platform::auth::TokenSettings::dev("another-stack", true),
        relais_platform::keys::TEST_ISSUER,
    )
    .unwrap()
    .mint_for(
        app.tenant,
        Role::Admin,
        "mallory",
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let status = app
        .client
        .list_products(with_token(&forged, ListProductsRequest::default()))
        .await
        .expect_err("forged");
    assert_eq!(status.code(), Code::Unauthenticated);

    let expired = testing::token_with(&Claims {
        sub: "old".into(),
        tenant: app.tenant,
        role: Role::Admin,
        customer_id: None,
        residences: vec![],
        connection: None,
        exp: chrono::Utc::now().timestamp() - 3600,
    });
    let status = app
        .client
        .list_products(with_token(&expired, ListProductsRequest::default()))
        .await
        .expect_err("expired");
    assert_eq!(status.code(), Code::Unauthenticated);

    let garbage = app
        .client
        .list_products(with_token("not.a.jwt", ListProductsRequest::default()))
        .await
        .expect_err("garbage");
    assert_eq!(garbage.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn customers_read_but_cannot_write() {
    let mut app = spawn_app().await;
    let p = app
        .client
        .create_product(app.admin(product("RO", 100)))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    let customer = testing::token_with(&Claims {
        sub: "customer-1".into(),
        tenant: app.tenant,
        role: Role::Customer,
        customer_id: Some(Uuid::now_v7()),
        residences: vec![],
        connection: None,
        exp: chrono::Utc::now().timestamp() + 600,
    });
    let read = app
        .client
        .get_product(with_token(&customer, GetProductRequest { id: p.id }))
        .await
        .expect("customer reads");
    assert_eq!(read.into_inner().product.unwrap().sku, "RO");
    let write = app
        .client
        .create_product(with_token(&customer, product("NOPE", 1)))
        .await
        .expect_err("customer writes");
    assert_eq!(write.code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn tenants_never_see_each_others_catalogue() {
    let mut app = spawn_app().await;
    let p = app
        .client
        .create_product(app.admin(product("MINE", 100)))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    let other = testing::token(Uuid::now_v7(), Role::Admin);

    let get = app
        .client
        .get_product(with_token(&other, GetProductRequest { id: p.id.clone() }))
        .await
        .expect_err("other tenant");
    assert_eq!(get.code(), Code::NotFound);
    assert!(!get.message().contains("MINE"));
    let list = app
        .client
        .list_products(with_token(&other, ListProductsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.products.is_empty());
    // The same SKU is free in another tenant.
    app.client
        .create_product(with_token(&other, product("MINE", 300)))
        .await
        .expect("same SKU elsewhere");
    // Another tenant's category cannot be referenced.
    let cat = app
        .client
        .create_category(app.admin(relais_proto::catalogue::CreateCategoryRequest {
            code: "C".into(),
            name: "C".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .category
        .unwrap();
    let mut req = product("THEIRS", 1);
    req.fields.as_mut().unwrap().category_id = cat.id;
    let status = app
        .client
        .create_product(with_token(&other, req))
        .await
        .expect_err("foreign category");
    assert_bad_field(&status, "fields.category_id");
    app.stop().await;
}
