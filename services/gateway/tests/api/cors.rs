//! The embeddable booking widget: a browser may call the API from the
//! origins the company registered, and from no other; another company's
//! origin is not this company's.

use relais_platform::auth::{Claims, Role};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Api, stack};

#[tokio::test]
async fn the_widget_calls_from_its_companys_origins_only() {
    let stack = stack().await;
    stack.service("MENAGE", "Ménage à domicile").await;
    let t = stack.tenant;
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let widget = "https://www.menage-lyon.example";

    // Only the office sets them; each must be an origin.
    let staff = Api::new(&stack, Some(stack.token(Role::Staff)));
    staff
        .send(
            Method::PUT,
            "/v1/office/cors-origins",
            Some(&json!({"origins": [widget]})),
            &[],
        )
        .await
        .problem(403, "forbidden");
    let bad = office
        .send(
            Method::PUT,
            "/v1/office/cors-origins",
            Some(&json!({"origins": [widget, "https://x.example/path", "http://plain.example"]})),
            &[],
        )
        .await;
    assert_eq!(
        bad.bad_fields(),
        vec!["origins[1]".to_owned(), "origins[2]".to_owned()]
    );
    let set = office
        .send(
            Method::PUT,
            "/v1/office/cors-origins",
            Some(&json!({"origins": ["https://WWW.menage-lyon.example/"]})),
            &[],
        )
        .await;
    assert_eq!(
        set.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&set.bytes)
    );
    assert_eq!(
        office.ok("/v1/office/cors-origins").await["origins"],
        json!([widget])
    );

    // Another company registers its own site.
    let other_tenant = Uuid::now_v7();
    let other = Api::new(
        &stack,
        Some(relais_testkit::sign(&Claims {
            tenant: other_tenant,
            ..stack.claims(Role::Admin)
        })),
    );
    let elsewhere = "https://www.autre-societe.example";
    let set = other
        .send(
            Method::PUT,
            "/v1/office/cors-origins",
            Some(&json!({"origins": [elsewhere]})),
            &[],
        )
        .await;
    assert_eq!(set.status.as_u16(), 200);

    let visitor = Api::new(&stack, None);
    let path = format!("/v1/shop/services?tenant={t}");
    let allow = |a: &crate::support::Answer| {
        a.headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // A preflight from the widget: allowed, with the headers it needs.
    let pre = visitor
        .send(
            Method::OPTIONS,
            &path,
            None,
            &[
                ("origin", widget),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, idempotency-key",
                ),
            ],
        )
        .await;
    assert_eq!(pre.status.as_u16(), 204);
    assert_eq!(allow(&pre).as_deref(), Some(widget));
    let headers = pre.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(
        headers.contains("idempotency-key") && headers.contains("authorization"),
        "{headers}"
    );
    assert!(
        pre.headers
            .get("access-control-allow-credentials")
            .is_none()
    );

    // The call itself, from the widget: allowed; from another company's
    // site, or anywhere else, no CORS header (the browser blocks it).
    let from = |o: &'static str| {
        let visitor = visitor.clone();
        let path = path.clone();
        async move {
            visitor
                .send(Method::GET, &path, None, &[("origin", o)])
                .await
        }
    };
    let ok = from(widget).await;
    assert_eq!(ok.status.as_u16(), 200);
    assert_eq!(allow(&ok).as_deref(), Some(widget));
    assert_eq!(
        allow(&from(elsewhere).await),
        None,
        "another company's origin"
    );
    assert_eq!(allow(&from("https://evil.example").await), None);

    // With a token, the token's company decides.
    let customer = Api::new(&stack, Some(stack.token(Role::Admin)));
    let mine = customer
        .send(
            Method::GET,
            "/v1/shop/services",
            None,
            &[("origin", widget)],
        )
        .await;
    assert_eq!(allow(&mine).as_deref(), Some(widget));
    let theirs = other
        .send(
            Method::GET,
            "/v1/shop/services",
            None,
            &[("origin", widget)],
        )
        .await;
    assert_eq!(allow(&theirs), None);
}
