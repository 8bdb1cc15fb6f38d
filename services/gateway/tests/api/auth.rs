//! The gateway refuses, before calling any service, a request whose token
//! no service would accept: none, not a JWT, signed with another key,
//! expired; and "my" routes need a customer's token.

use relais_platform::auth::{Claims, Role};
use serde_json::json;

use crate::support::{Api, key, stack};

#[tokio::test]
async fn a_missing_garbage_forged_or_expired_token_is_401() {
    let stack = stack().await;
    let expired = relais_testkit::sign(&Claims {
        exp: chrono::Utc::now().timestamp() - 3600,
        ..stack.claims(Role::Admin)
    });
    // A token of the right shape signed with a key the stack does not trust.
    let forged = {
        let valid = stack.token(Role::Admin);
        let (head, _) = valid.rsplit_once('.').unwrap();
        format!("{head}.c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ")
    };
    for (what, token) in [
        ("none", None),
        ("garbage", Some("not-a-jwt".to_owned())),
        ("forged", Some(forged)),
        ("expired", Some(expired)),
    ] {
        let api = Api::new(&stack, token.clone());
        // The shop's window is open to visitors who name the shop; a bad
        // token is refused there too, never taken for a visitor.
        let shop = format!("/v1/shop/services?tenant={}", stack.tenant);
        let paths = if token.is_some() {
            vec!["/v1/shop/services", shop.as_str(), "/v1/me/orders"]
        } else {
            vec!["/v1/me/orders"]
        };
        for path in paths {
            let a = api.get(path).await;
            let p = a.problem(401, "unauthenticated");
            assert_eq!(a.headers["www-authenticate"], "Bearer", "{what}");
            assert!(
                p["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{what}: {p}"
            );
        }
        // Refused before the body or the key is even read.
        api.post("/v1/shop/bookings", &key(), &json!({}))
            .await
            .problem(401, "unauthenticated");
    }
    // Another scheme is not a bearer token.
    let basic = Api::new(&stack, None)
        .send(
            reqwest::Method::GET,
            "/v1/shop/services",
            None,
            &[("authorization", "Basic dXNlcjpwYXNz")],
        )
        .await;
    basic.problem(401, "unauthenticated");

    // A valid token of a role without a customer reads the shop, but has
    // no "me".
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    assert!(office.ok("/v1/shop/services").await["items"].is_array());
    office.get("/v1/me/orders").await.problem(403, "forbidden");
}
