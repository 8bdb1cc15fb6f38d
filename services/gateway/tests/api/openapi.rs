//! The OpenAPI document: served as generated, committed as served, and
//! naming every route the gateway answers (the other way round, that no
//! route exists without a description, is the crate's own test in
//! src/routes/mod.rs); the interactive page is served from the gateway
//! itself.

use reqwest::Method;
use serde_json::Value;

use crate::support::{Api, stack};

const COMMITTED: &str = include_str!("../../openapi.json");

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = relais_gateway::openapi_json().unwrap();
    assert!(
        COMMITTED == generated,
        "services/gateway/openapi.json is not the API as the code describes it: \
         regenerate it with `cargo run -p relais-gateway -- openapi > services/gateway/openapi.json` \
         and commit it with the change"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served_and_asks_for_a_token() {
    let stack = stack().await;
    let api = Api::new(&stack, None);
    let doc = api.ok("/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let generated: Value = serde_json::from_str(&relais_gateway::openapi_json().unwrap()).unwrap();
    assert_eq!(doc, generated, "served as generated");

    // What needs no token: signing in, and what comes before it.
    let public = [
        "/v1/auth/sign-up",
        "/v1/auth/sign-in",
        "/v1/auth/refresh",
        "/v1/auth/sign-out",
        "/v1/auth/password-reset",
        "/v1/auth/password-reset/confirm",
        "/v1/auth/invitations/accept",
        "/.well-known/jwks.json",
    ];
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let path = path.replace("{id}", "0190b5a4-0000-7000-8000-000000000000");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let a = api.send(method.clone(), &path, None, &[]).await;
            let security = &item[method.as_str().to_lowercase()]["security"];
            // `{}` among the schemes: a token is optional (the shop's window).
            let optional = security.as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            if optional {
                // Without a token, the shop's company is asked for.
                assert_eq!(a.bad_fields(), vec!["tenant".to_owned()], "{method} {path}");
            } else if security.is_array() {
                // Routed (not the fallback's 404 or 405), and behind the token.
                a.problem(401, "unauthenticated");
            } else {
                // Public (sign-in and the like): routed, and not a server error.
                assert!(
                    public.contains(&path.as_str()),
                    "{method} {path} documents no bearer token"
                );
                assert!(
                    ![404, 405].contains(&a.status.as_u16()) && a.status.as_u16() < 500,
                    "{method} {path}: {}",
                    a.status
                );
            }
            operations += 1;
        }
    }
    assert!(operations >= 19, "{operations} operations");

    // What matches no route is a problem too.
    api.get("/v1/nowhere").await.problem(404, "not-found");
    api.send(Method::DELETE, "/v1/shop/services", None, &[])
        .await
        .problem(405, "method-not-allowed");

    // The interactive page, its assets served by the gateway (nothing from
    // another site), pointed at the document.
    let page = api.get("/docs/").await;
    assert_eq!(page.status.as_u16(), 200);
    let html = String::from_utf8_lossy(&page.bytes).to_string();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "assets from elsewhere: {html}");
    let init = api.get("/docs/swagger-initializer.js").await;
    assert!(String::from_utf8_lossy(&init.bytes).contains("/openapi.json"));
}
