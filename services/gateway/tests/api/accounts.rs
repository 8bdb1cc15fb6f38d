//! Accounts over HTTP: what a person signing up, in and out, resetting a
//! password or accepting an invitation sees, and what an attacker with a
//! stolen cookie, a guessed password or another tenant's token gets.

use std::path::PathBuf;

use relais_platform::auth::Role;
use relais_testkit::{Stack, reading::read_mail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// A stack whose gateway's mail folder the test reads.
async fn stack_with_mail() -> (Stack, PathBuf) {
    let (tx, rx) = std::sync::mpsc::channel();
    let stack = Stack::builder()
        .with_gateway(move |c| {
            let _ = tx.send(c.platform.mail.dir.clone());
        })
        .spawn()
        .await
        .unwrap();
    (stack, rx.recv().unwrap())
}

/// The session cookies an answer set, as a browser would send them back.
struct Cookies {
    refresh: String,
    csrf: String,
}

fn cookies_of(a: &Answer) -> Cookies {
    let mut refresh = None;
    let mut csrf = None;
    for v in a.headers.get_all("set-cookie") {
        let v = v.to_str().unwrap();
        let pair = v.split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        match name {
            "relais_refresh" => {
                for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/v1/auth"] {
                    assert!(v.contains(attr), "the refresh cookie lacks {attr}: {v}");
                }
                refresh = Some(value.to_owned());
            }
            "relais_csrf" => csrf = Some(value.to_owned()),
            _ => {}
        }
    }
    Cookies {
        refresh: refresh.expect("a refresh cookie"),
        csrf: csrf.expect("a CSRF cookie"),
    }
}

async fn auth_call(api: &Api, path: &str, c: &Cookies, csrf: Option<&str>) -> Answer {
    let cookie = format!("relais_refresh={}; relais_csrf={}", c.refresh, c.csrf);
    let mut headers = vec![("Cookie", cookie.as_str())];
    if let Some(t) = csrf {
        headers.push(("X-CSRF-Token", t));
    }
    api.send(Method::POST, path, None, &headers).await
}

async fn sign_up(api: &Api, tenant: Uuid, email: &str, password: &str) -> Answer {
    api.send(
        Method::POST,
        "/v1/auth/sign-up",
        Some(&json!({
            "tenant": tenant, "email": email, "password": password,
            "first_name": "Anne", "last_name": "Martin", "billing_address": lyon()
        })),
        &[],
    )
    .await
}

async fn sign_in(api: &Api, tenant: Uuid, email: &str, password: &str) -> Answer {
    api.send(
        Method::POST,
        "/v1/auth/sign-in",
        Some(&json!({ "tenant": tenant, "email": email, "password": password })),
        &[],
    )
    .await
}

fn lyon() -> Value {
    json!({"line1": "12 rue de la République", "postal_code": "69001", "city": "Lyon"})
}

fn bearer(stack: &Stack, session: &Value) -> Api {
    Api::new(
        stack,
        Some(session["access_token"].as_str().unwrap().to_owned()),
    )
}

#[tokio::test]
async fn sign_up_in_refresh_and_out() {
    let stack = stack().await;
    let anon = Api::new(&stack, None);
    let t = stack.tenant;

    // Bad input: each refused naming its field, nothing created.
    for (body, field) in [
        (
            json!({"tenant": t, "email": "not-an-address", "password": "long enough pw", "first_name": "A", "last_name": "B", "billing_address": lyon()}),
            "email",
        ),
        (
            json!({"tenant": t, "email": "a@example.org", "password": "short", "first_name": "A", "last_name": "B", "billing_address": lyon()}),
            "password",
        ),
        (
            json!({"tenant": t, "email": "a@example.org", "password": "long enough pw", "first_name": " ", "last_name": "B", "billing_address": lyon()}),
            "first_name",
        ),
        (
            json!({"tenant": t, "email": "a@example.org", "password": "long enough pw", "first_name": "A", "last_name": "B", "billing_address": lyon(), "role": "admin"}),
            "role",
        ),
        (
            json!({"tenant": "nope", "email": "a@example.org", "password": "long enough pw", "first_name": "A", "last_name": "B", "billing_address": lyon()}),
            "tenant",
        ),
    ] {
        let a = anon
            .send(Method::POST, "/v1/auth/sign-up", Some(&body), &[])
            .await;
        assert_eq!(a.bad_fields(), vec![field.to_owned()], "{body}");
    }
    sign_in(&anon, t, "a@example.org", "long enough pw")
        .await
        .problem(401, "unauthenticated");

    let up = sign_up(
        &anon,
        t,
        " Anne.Martin@Example.org ",
        "correct horse battery",
    )
    .await;
    assert_eq!(
        up.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&up.bytes)
    );
    let session = up.json();
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["account"]["email"], "anne.martin@example.org");
    assert_eq!(session["account"]["role"], "customer");
    let customer = session["account"]["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = cookies_of(&up);
    assert_eq!(session["csrf_token"], first.csrf.as_str());

    // The access token is a customer's: the services accept it, for them.
    let me = bearer(&stack, &session);
    assert_eq!(me.ok("/v1/auth/me").await["customer_id"], customer.as_str());
    assert_eq!(me.ok("/v1/me/orders").await["items"], json!([]));

    // Signing up again: with the same password it signs in, with another
    // it is refused as taken.
    let again = sign_up(&anon, t, "anne.martin@example.org", "correct horse battery").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["account"]["customer_id"], customer.as_str());
    let taken = sign_up(&anon, t, "anne.martin@example.org", "another password!").await;
    let p = taken.problem(409, "conflict");
    assert_eq!(p["errors"][0]["field"], "email");

    // The same e-mail at another company is another account.
    let elsewhere = sign_in(
        &anon,
        Uuid::now_v7(),
        "anne.martin@example.org",
        "correct horse battery",
    )
    .await;
    elsewhere.problem(401, "unauthenticated");

    // Wrong password and unknown e-mail: the same answer.
    let wrong = sign_in(&anon, t, "anne.martin@example.org", "correct horse batterY").await;
    let unknown = sign_in(&anon, t, "nobody@example.org", "correct horse battery").await;
    assert_eq!(
        wrong.problem(401, "unauthenticated")["detail"],
        unknown.problem(401, "unauthenticated")["detail"]
    );

    // Refresh: needs the CSRF token; rotates the cookie.
    auth_call(&anon, "/v1/auth/refresh", &first, None)
        .await
        .problem(403, "forbidden");
    auth_call(&anon, "/v1/auth/refresh", &first, Some("forged"))
        .await
        .problem(403, "forbidden");
    let refreshed = auth_call(&anon, "/v1/auth/refresh", &first, Some(&first.csrf)).await;
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&refreshed.bytes)
    );
    let second = cookies_of(&refreshed);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(
        bearer(&stack, &refreshed.json()).ok("/v1/auth/me").await["email"],
        "anne.martin@example.org"
    );

    // The replaced cookie used again (a thief's copy): the session ends
    // for both holders.
    auth_call(&anon, "/v1/auth/refresh", &first, Some(&first.csrf))
        .await
        .problem(401, "unauthenticated");
    auth_call(&anon, "/v1/auth/refresh", &second, Some(&second.csrf))
        .await
        .problem(401, "unauthenticated");

    // Sign in again, then out: the cookies are cleared and the session is over.
    let signed_in = sign_in(&anon, t, "ANNE.MARTIN@example.org", "correct horse battery").await;
    assert_eq!(signed_in.status, StatusCode::OK);
    let third = cookies_of(&signed_in);
    auth_call(&anon, "/v1/auth/sign-out", &third, None)
        .await
        .problem(403, "forbidden");
    let out = auth_call(&anon, "/v1/auth/sign-out", &third, Some(&third.csrf)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("relais_refresh=;")),
        "the refresh cookie is cleared"
    );
    auth_call(&anon, "/v1/auth/refresh", &third, Some(&third.csrf))
        .await
        .problem(401, "unauthenticated");
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_no_other() {
    let stack = stack().await;
    let anon = Api::new(&stack, None);
    let t = stack.tenant;
    assert_eq!(
        sign_up(&anon, t, "locked@example.org", "right password!")
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        sign_up(&anon, t, "other@example.org", "right password!")
            .await
            .status,
        StatusCode::CREATED
    );
    for _ in 0..5 {
        sign_in(&anon, t, "locked@example.org", "wrong password!")
            .await
            .problem(401, "unauthenticated");
    }
    let locked = sign_in(&anon, t, "locked@example.org", "right password!").await;
    locked.problem(429, "too-many-requests");
    let wait: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((60..=900).contains(&wait), "{wait}");
    assert_eq!(
        sign_in(&anon, t, "other@example.org", "right password!")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_is_reset_by_mail_once_and_old_sessions_end() {
    let (stack, mail_dir) = stack_with_mail().await;
    let anon = Api::new(&stack, None);
    let t = stack.tenant;
    let up = sign_up(&anon, t, "reset@example.org", "old password!!").await;
    let old_session = cookies_of(&up);

    // An unknown e-mail gets the same answer, and no mail.
    let unknown = anon
        .send(
            Method::POST,
            "/v1/auth/password-reset",
            Some(&json!({"tenant": t, "email": "ghost@example.org"})),
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    let asked = anon
        .send(
            Method::POST,
            "/v1/auth/password-reset",
            Some(&json!({"tenant": t, "email": "reset@example.org"})),
            &[],
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    let mail = eventually("the reset mail", || {
        let dir = mail_dir.clone();
        async move {
            std::fs::read_dir(&dir)
                .ok()?
                .filter_map(Result::ok)
                .find_map(|e| {
                    let raw = std::fs::read_to_string(e.path()).ok()?;
                    let m = read_mail(&raw);
                    (m.subject.contains("Reset")).then_some(m)
                })
        }
    })
    .await;
    assert!(mail.to.contains("reset@example.org"), "{}", mail.to);
    assert!(!mail.body.contains("ghost"));
    let token = mail
        .body
        .split("POST /v1/auth/password-reset/confirm: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the token in the mail")
        .to_owned();

    let weak = anon
        .send(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            Some(&json!({"token": token, "password": "short"})),
            &[],
        )
        .await;
    assert_eq!(weak.bad_fields(), vec!["password".to_owned()]);
    let done = anon
        .send(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            Some(&json!({"token": token, "password": "new password!!"})),
            &[],
        )
        .await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&done.bytes)
    );
    let reused = anon
        .send(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            Some(&json!({"token": token, "password": "newer password!"})),
            &[],
        )
        .await;
    assert_eq!(reused.bad_fields(), vec!["token".to_owned()]);

    sign_in(&anon, t, "reset@example.org", "old password!!")
        .await
        .problem(401, "unauthenticated");
    assert_eq!(
        sign_in(&anon, t, "reset@example.org", "new password!!")
            .await
            .status,
        StatusCode::OK
    );
    // The device signed in with the old password is signed out.
    auth_call(
        &anon,
        "/v1/auth/refresh",
        &old_session,
        Some(&old_session.csrf),
    )
    .await
    .problem(401, "unauthenticated");
}

#[tokio::test]
async fn the_office_invites_a_customer_who_sets_a_password() {
    let (stack, mail_dir) = stack_with_mail().await;
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let customer = customer(&stack, "Paul", "paul@example.org").await;

    // Who may invite whom.
    let staff = Api::new(&stack, Some(stack.token(Role::Staff)));
    let as_staff = staff
        .send(
            Method::POST,
            "/v1/auth/invitations",
            Some(&json!({"email": "boss@example.org", "role": "admin"})),
            &[],
        )
        .await;
    as_staff.problem(403, "forbidden");
    let someone = Api::new(&stack, Some(customer_token(&stack, &customer)));
    someone
        .send(
            Method::POST,
            "/v1/auth/invitations",
            Some(&json!({"email": "x@example.org", "role": "customer", "customer_id": customer})),
            &[],
        )
        .await
        .problem(403, "forbidden");
    // A customer of another company: as if absent.
    let other_tenant = Api::new(
        &stack,
        Some(relais_testkit::sign(&relais_platform::auth::Claims {
            tenant: Uuid::now_v7(),
            ..stack.claims(Role::Admin)
        })),
    );
    other_tenant
        .send(
            Method::POST,
            "/v1/auth/invitations",
            Some(
                &json!({"email": "paul@example.org", "role": "customer", "customer_id": customer}),
            ),
            &[],
        )
        .await
        .problem(404, "not-found");
    let missing = office
        .send(
            Method::POST,
            "/v1/auth/invitations",
            Some(&json!({"email": "paul@example.org", "role": "customer"})),
            &[],
        )
        .await;
    assert_eq!(missing.bad_fields(), vec!["customer_id".to_owned()]);

    let invited = office
        .send(
            Method::POST,
            "/v1/auth/invitations",
            Some(
                &json!({"email": "paul@example.org", "role": "customer", "customer_id": customer}),
            ),
            &[],
        )
        .await;
    assert_eq!(
        invited.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&invited.bytes)
    );
    assert_eq!(invited.json()["status"], "invited");
    // Invited, not yet able to sign in.
    let anon = Api::new(&stack, None);
    sign_in(&anon, stack.tenant, "paul@example.org", "")
        .await
        .problem(401, "unauthenticated");

    let mail = eventually("the invitation", || {
        let dir = mail_dir.clone();
        async move {
            std::fs::read_dir(&dir)
                .ok()?
                .filter_map(Result::ok)
                .find_map(|e| {
                    let m = read_mail(&std::fs::read_to_string(e.path()).ok()?);
                    m.subject.contains("account is ready").then_some(m)
                })
        }
    })
    .await;
    let token = mail
        .body
        .split("POST /v1/auth/invitations/accept: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let accepted = anon
        .send(
            Method::POST,
            "/v1/auth/invitations/accept",
            Some(&json!({"token": token, "password": "pauls password"})),
            &[],
        )
        .await;
    assert_eq!(
        accepted.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&accepted.bytes)
    );
    let paul = bearer(&stack, &accepted.json());
    assert_eq!(
        paul.ok("/v1/auth/me").await["customer_id"],
        customer.as_str()
    );
    assert_eq!(paul.ok("/v1/me/orders").await["items"], json!([]));
}

#[tokio::test]
async fn the_gateway_publishes_its_public_keys_only() {
    let stack = stack().await;
    let jwks = Api::new(&stack, None).ok("/.well-known/jwks.json").await;
    let keys = jwks["keys"].as_array().unwrap();
    let gateway = keys
        .iter()
        .find(|k| k["relais_issuer"] == "gateway")
        .expect("the gateway's key");
    assert_eq!(gateway["kty"], "OKP");
    assert_eq!(gateway["alg"], "EdDSA");
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private key: {jwks}"
    );
}
