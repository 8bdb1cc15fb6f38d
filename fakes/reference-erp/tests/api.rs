//! The reference ERP over real HTTP, on its own schema of a fresh
//! database: the signed token, the object calls, idempotent creation, the
//! incremental search, and every injected fault.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use relais_platform::testing;
use relais_reference_erp::{App, Config, parse_keys, signature};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Erp {
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Erp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn spawn(token_ttl: Duration) -> Erp {
    spawn_with(token_ttl, true).await
}

async fn spawn_with(token_ttl: Duration, faults: bool) -> Erp {
    testing::init_logging();
    let database_url = testing::fresh_database().await.unwrap();
    let app = App::build(Config {
        database_url,
        db_password: testing::db_password(relais_reference_erp::SERVICE),
        addr: "127.0.0.1:0".parse().unwrap(),
        keys: parse_keys("pub-1:secret-1").unwrap(),
        token_ttl,
        faults,
    })
    .await
    .unwrap();
    let base = format!("http://{}", app.addr());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    Erp {
        base,
        http: relais_platform::http::client(Duration::from_secs(2)).unwrap(),
        shutdown,
    }
}

impl Erp {
    async fn call(&self, method: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v2/apiogust.php?method={method}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn token(&self) -> String {
        let time = format!("{}.{}", chrono::Utc::now().format("%Y%m%d%H%M%S"), 4242);
        let (status, answer) = self
            .call(
                "getToken",
                json!({
                    "key": "pub-1", "request": "GET_TOKEN", "time": time,
                    "api_signature": signature("pub-1", "secret-1", &time),
                }),
            )
            .await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("OK")),
            "{answer}"
        );
        answer["token"].as_str().unwrap().to_owned()
    }

    async fn faults(&self, faults: Value) {
        self.http
            .post(format!("{}/_faults", self.base))
            .json(&faults)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn fault_injection_is_off_unless_configured() {
    // Anyone who reaches the ERP could make it fail through /_faults: it
    // does not exist unless the config turns it on.
    let erp = spawn_with(Duration::from_secs(600), false).await;
    for request in [
        erp.http.get(format!("{}/_faults", erp.base)),
        erp.http
            .post(format!("{}/_faults", erp.base))
            .json(&json!({"down": true})),
    ] {
        assert_eq!(request.send().await.unwrap().status().as_u16(), 404);
    }
    // The POST changed nothing: the API still answers.
    erp.token().await;
}

#[tokio::test]
async fn a_signed_token_opens_the_api_and_a_bad_or_old_one_does_not() {
    let erp = spawn(Duration::from_secs(1)).await;
    let time = chrono::Utc::now().format("%Y%m%d%H%M%S.1").to_string();
    let (status, answer) = erp
        .call(
            "getToken",
            json!({
                "key": "pub-1", "request": "GET_TOKEN", "time": time,
                "api_signature": signature("pub-1", "not-the-secret", &time),
            }),
        )
        .await;
    assert_eq!((status, answer["status"].as_str()), (401, Some("KO")));
    assert_eq!(answer["message"], "bad api_signature");
    let stale = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .format("%Y%m%d%H%M%S.1")
        .to_string();
    let (status, _) = erp
        .call(
            "getToken",
            json!({
                "key": "pub-1", "request": "GET_TOKEN", "time": stale,
                "api_signature": signature("pub-1", "secret-1", &stale),
            }),
        )
        .await;
    assert_eq!(status, 401, "a replayed request is refused");
    let (status, answer) = erp
        .call("searchCustomer", json!({ "token": "made-up" }))
        .await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (401, Some("invalid token"))
    );

    let token = erp.token().await;
    let (status, _) = erp.call("searchCustomer", json!({ "token": token })).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, answer) = erp.call("searchCustomer", json!({ "token": token })).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (401, Some("token expired"))
    );
}

#[tokio::test]
async fn objects_are_set_read_searched_since_and_removed() {
    let erp = spawn(Duration::from_secs(600)).await;
    let token = erp.token().await;
    let (_, created) = erp
        .call(
            "setCustomer",
            json!({ "token": token, "reference": "relais:customer:1",
                    "first_name": "Paul", "last_name": "Durand", "read_only": true }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with('C'), "{created}");
    // A retry with the same reference finds the first record.
    let (_, again) = erp
        .call(
            "setCustomer",
            json!({ "token": token, "reference": "relais:customer:1",
                    "first_name": "Paul", "last_name": "Durand" }),
        )
        .await;
    assert_eq!(again["id"], id.as_str());
    let (_, got) = erp
        .call("getCustomer", json!({ "token": token, "id": id }))
        .await;
    assert_eq!(got["customer"]["last_name"], "Durand");
    assert_eq!(got["customer"]["version"], 1);
    let since = got["customer"]["updated_at"].as_str().unwrap().to_owned();

    let (_, other) = erp
        .call(
            "setCustomer",
            json!({ "token": token, "first_name": "Jeanne", "last_name": "Martin" }),
        )
        .await;
    let (_, updated) = erp
        .call(
            "setCustomer",
            json!({ "token": token, "id": id, "phone": "06 12 34 56 78" }),
        )
        .await;
    assert_eq!(updated["version"], 2);

    // Changed since the first read: Jeanne (new) and Paul (updated), in
    // the order they changed.
    let (_, found) = erp
        .call(
            "searchCustomer",
            json!({ "token": token, "updated_since": since, "nbperpage": 10 }),
        )
        .await;
    let names: Vec<&str> = found["array_customer"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["first_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Jeanne", "Paul"]);
    let (_, filtered) = erp
        .call(
            "searchCustomer",
            json!({ "token": token, "last_name": "Martin" }),
        )
        .await;
    assert_eq!(filtered["array_customer"]["nbresults"], 1);
    assert_eq!(
        filtered["array_customer"]["result"][0]["id"],
        other["id"].clone()
    );
    // Pages.
    let (_, page2) = erp
        .call(
            "searchCustomer",
            json!({ "token": token, "nbperpage": 1, "pagenum": 2 }),
        )
        .await;
    assert_eq!(
        page2["array_customer"]["result"].as_array().unwrap().len(),
        1
    );
    assert_eq!(page2["array_customer"]["nbresults"], 2);

    let (status, _) = erp
        .call("remCustomer", json!({ "token": token, "id": id }))
        .await;
    assert_eq!(status, 200);
    let (status, answer) = erp
        .call("getCustomer", json!({ "token": token, "id": id }))
        .await;
    assert_eq!((status, answer["status"].as_str()), (404, Some("KO")));
    let (status, _) = erp.call("getPlanet", json!({ "token": token })).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn injected_faults_fail_delay_lose_answers_and_repeat_records() {
    let erp = spawn(Duration::from_secs(600)).await;
    let token = erp.token().await;

    erp.faults(json!({ "down": true })).await;
    let (status, _) = erp.call("searchEmployee", json!({ "token": token })).await;
    assert_eq!(status, 503);

    erp.faults(json!({ "error_rate": 1.0 })).await;
    let (status, answer) = erp
        .call(
            "setEmployee",
            json!({ "token": token, "reference": "w-1", "last_name": "Diallo" }),
        )
        .await;
    assert_eq!((status, answer["status"].as_str()), (500, Some("KO")));

    // The write commits, the answer comes after the client gave up (2 s).
    erp.faults(json!({ "lost_answer_rate": 1.0, "lost_answer_ms": 3000 }))
        .await;
    let lost = erp
        .http
        .post(format!(
            "{}/api/v2/apiogust.php?method=setEmployee",
            erp.base
        ))
        .json(&json!({ "token": token, "reference": "w-1", "last_name": "Diallo" }))
        .send()
        .await;
    assert!(lost.is_err_and(|e| e.is_timeout()));
    erp.faults(json!({})).await;
    // The retry with the same reference finds it: one employee.
    let (_, retried) = erp
        .call(
            "setEmployee",
            json!({ "token": token, "reference": "w-1", "last_name": "Diallo" }),
        )
        .await;
    assert_eq!(retried["version"], 1);
    let (_, all) = erp.call("searchEmployee", json!({ "token": token })).await;
    assert_eq!(all["array_employee"]["nbresults"], 1);

    erp.faults(json!({ "duplicate_rate": 1.0, "delay_ms": 300 }))
        .await;
    let started = std::time::Instant::now();
    let (_, twice) = erp.call("searchEmployee", json!({ "token": token })).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    let ids: Vec<&Value> = twice["array_employee"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn an_employee_carries_weekly_availability_and_a_bad_slot_is_refused_by_field() {
    let erp = spawn(Duration::from_secs(600)).await;
    let token = erp.token().await;
    let hours = json!([{ "weekday": 1, "start": "09:00", "end": "17:00" }]);
    let (status, created) = erp
        .call(
            "setEmployee",
            json!({ "token": token, "first_name": "Léa", "last_name": "Moreau",
                    "availability": hours }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let (_, got) = erp
        .call(
            "getEmployee",
            json!({ "token": token, "id": created["id"] }),
        )
        .await;
    assert_eq!(got["employee"]["availability"], hours);

    for (bad, field) in [
        (json!("lundi"), "availability:"),
        (
            json!([{ "weekday": 8, "start": "09:00", "end": "17:00" }]),
            "availability[0].weekday",
        ),
        (
            json!([{ "weekday": 1, "start": "9h", "end": "17:00" }]),
            "availability[0].start",
        ),
        (
            json!([{ "weekday": 1, "start": "09:00", "end": "17:00" },
                   { "weekday": 2, "start": "17:00", "end": "09:00" }]),
            "availability[1].end",
        ),
    ] {
        let (status, answer) = erp
            .call(
                "setEmployee",
                json!({ "token": token, "id": created["id"], "availability": bad }),
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    let (_, after) = erp
        .call(
            "getEmployee",
            json!({ "token": token, "id": created["id"] }),
        )
        .await;
    assert_eq!(after["employee"]["version"], 1, "nothing was written");
}
