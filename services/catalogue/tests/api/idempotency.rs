use relais_proto::catalogue::ListProductsRequest;
use tonic::Code;

use crate::{helpers::spawn_app, support::*};

#[tokio::test]
async fn the_same_key_and_request_returns_the_first_answer() {
    let mut app = spawn_app().await;
    let mut req = product("IDEM", 500);
    req.idempotency_key = "key-1".into();
    let first = app
        .client
        .create_product(app.admin(req.clone()))
        .await
        .unwrap()
        .into_inner();
    let second = app
        .client
        .create_product(app.admin(req.clone()))
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(first, second);

    req.fields.as_mut().unwrap().designation = "Autre chose".into();
    let status = app
        .client
        .create_product(app.admin(req))
        .await
        .expect_err("different request");
    assert_bad_field(&status, "idempotency_key");
    assert_eq!(app.events(1).await.len(), 1, "one product, one event");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_calls_with_one_key_create_one_product() {
    let mut app = spawn_app().await;
    let mut req = product("RACE", 500);
    req.idempotency_key = "race-key".into();
    let calls = (0..8).map(|_| {
        let mut client = app.client.clone();
        let r = app.admin(req.clone());
        tokio::spawn(async move { client.create_product(r).await })
    });
    let results = futures::future::join_all(calls).await;
    let mut ids = Vec::new();
    for r in results {
        match r.unwrap() {
            Ok(resp) => ids.push(resp.into_inner().product.unwrap().id),
            Err(s) => assert_eq!(
                s.code(),
                Code::Aborted,
                "only a retryable refusal is allowed: {s:?}"
            ),
        }
    }
    assert!(!ids.is_empty());
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "every answer names the same product"
    );
    let listed = app
        .client
        .list_products(app.admin(ListProductsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.products.len(), 1);
    assert_eq!(app.events(1).await.len(), 1);
    app.stop().await;
}
