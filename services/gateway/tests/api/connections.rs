//! The office's ERP connections through the API, against the real
//! connector and the reference ERP: a connection created (its credentials
//! never shown), a sync run now followed live as server-sent events, its
//! runs and bindings; what customers and staff get (the connector's
//! refusal), another tenant's connection (404), a bad body (the field
//! named); a write the ERP keeps refusing becomes a dead letter, replayed;
//! a worker changed on both sides under `manual` waits for the office,
//! which settles it.

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::auth::{Claims, Role};
use relais_proto::planning::{ListWorkersRequest, UpdateWorkerRequest};
use relais_testkit::{ERP_KEYS, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Api, customer, customer_token, eventually, key};

/// The gateway, the connector and the reference ERP; with `give_up_soon`
/// a write to the ERP is a dead letter after three quick attempts. No
/// verify of its own: the runs listed are the test's.
async fn stack_with(give_up_soon: bool) -> Stack {
    Stack::builder()
        .gateway()
        .erp()
        .connector()
        .with_connector(move |cfg| {
            cfg.verify_every = Duration::ZERO;
            if give_up_soon {
                cfg.push.max_attempts = 3;
                cfg.push.retry_max = Duration::from_millis(200);
            }
        })
        .spawn()
        .await
        .unwrap()
}

/// A connection to the stack's reference ERP as the office sends it.
fn connection_body(stack: &Stack, name: &str) -> Value {
    json!({
        "name": name,
        "adapter": "reference_erp",
        "endpoint": stack.erp_base(),
        "secret": ERP_KEYS,
        "families": [
            { "family": "customers", "direction": "both" },
            { "family": "workers", "direction": "both" },
            { "family": "catalogue", "direction": "pull", "schedule": "0 2 * * *" },
        ],
        "conflict_policy": "erp_wins",
    })
}

async fn connect(stack: &Stack, office: &Api) -> String {
    let a = office
        .post(
            "/v1/office/connections",
            &key(),
            &connection_body(stack, "erp-lyon"),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    a.json()["id"].as_str().unwrap().to_owned()
}

/// One server-sent event.
#[derive(Debug)]
struct Event {
    name: String,
    data: Value,
}

/// Every event of a stream until it ends, and how many keep-alive
/// comments came with them.
async fn events(mut res: reqwest::Response) -> Vec<Event> {
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(60), res.chunk())
        .await
        .expect("the stream stalled")
        .unwrap()
    {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    text.split("\n\n")
        .filter_map(|block| {
            let (mut name, mut data) = (String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            (!name.is_empty()).then(|| Event {
                name,
                data: serde_json::from_str(&data).unwrap(),
            })
        })
        .collect()
}

fn http() -> reqwest::Client {
    relais_platform::http::client(Duration::from_secs(60)).unwrap()
}

/// POSTs a run now asking for an event stream.
async fn run_now(stack: &Stack, token: &str, connection: &str, body: &Value) -> reqwest::Response {
    http()
        .post(format!(
            "{}/v1/office/connections/{connection}/runs",
            stack.gateway_url()
        ))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_office_connects_its_erp_and_follows_a_sync_live() {
    let stack = stack_with(false).await;
    let admin = stack.token(Role::Admin);
    let office = Api::new(&stack, Some(admin.clone()));
    let claire = customer(&stack, "Claire", "claire@example.org").await;
    let paul = customer(&stack, "Paul", "paul@example.org").await;

    // Created, its credentials taken and never shown.
    let id = connect(&stack, &office).await;
    let listed = office.ok("/v1/office/connections").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    let c = &listed["items"][0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["name"], "erp-lyon");
    assert_eq!(c["adapter"], "reference_erp");
    assert_eq!(c["has_secret"], true);
    assert_eq!(c["families"][2]["schedule"], "0 2 * * *");
    let one = office.ok(&format!("/v1/office/connections/{id}")).await;
    for shown in [listed.to_string(), one.to_string()] {
        assert!(!shown.contains("conn-secret"), "{shown}");
        assert!(!shown.contains("\"secret\""), "{shown}");
    }

    // The same key again: the first connection, not a second.
    let mut body = connection_body(&stack, "erp-vienne");
    body["families"] = json!([]);
    let k = key();
    let first = office.post("/v1/office/connections", &k, &body).await;
    let again = office.post("/v1/office/connections", &k, &body).await;
    assert_eq!(first.json()["id"], again.json()["id"]);
    let second = first.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(second, id, "a new key is a new connection");

    // Replaced, at the version the office saw; a stale version is 409.
    let mut update = connection_body(&stack, "erp-lyon");
    update["secret"] = json!("");
    update["expected_version"] = one["version"].clone();
    update["conflict_policy"] = json!("manual");
    let a = office
        .send(
            Method::PUT,
            &format!("/v1/office/connections/{id}"),
            Some(&update),
            &[],
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    let updated = a.json();
    assert_eq!(updated["conflict_policy"], "manual");
    assert_eq!(
        updated["has_secret"], true,
        "an empty secret keeps the stored one"
    );
    assert!(updated["version"].as_i64() > one["version"].as_i64());
    office
        .send(
            Method::PUT,
            &format!("/v1/office/connections/{id}"),
            Some(&update),
            &[],
        )
        .await
        .problem(409, "conflict");

    // A run now, followed live: progress, then the result.
    let res = run_now(
        &stack,
        &admin,
        &id,
        &json!({ "family": "customers", "full": true }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let evs = events(res).await;
    let (last, progress) = evs.split_last().unwrap();
    assert!(!progress.is_empty(), "{evs:?}");
    assert!(progress.iter().all(|e| e.name == "progress"), "{evs:?}");
    assert_eq!(progress[0].data["status"], "running", "{evs:?}");
    assert_eq!(last.name, "result", "{evs:?}");
    let run = &last.data;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["family"], "customers");
    assert_eq!(run["trigger"], "manual");
    assert!(run["finished_at"].is_string(), "{run}");
    assert!(run["total"].as_i64().unwrap() >= 2, "{run}");

    // Without an event stream, the answer waits for the finished run.
    let a = office
        .send(
            Method::POST,
            &format!("/v1/office/connections/{id}/runs"),
            Some(&json!({ "family": "workers" })),
            &[],
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    assert_eq!(a.json()["family"], "workers");
    assert!(a.json()["finished_at"].is_string());

    // A family the connection does not run is refused before any event.
    let refused = run_now(&stack, &admin, &id, &json!({ "family": "bookings" })).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let bad = run_now(&stack, &admin, &id, &json!({ "family": "gossip" })).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let p: Value = bad.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "family", "{p}");

    // The runs, newest first, paged.
    let runs = office
        .ok(&format!("/v1/office/connections/{id}/runs?limit=1"))
        .await;
    assert_eq!(runs["items"][0]["family"], "workers", "{runs}");
    let cursor = runs["next_cursor"].as_str().unwrap();
    let older = office
        .ok(&format!(
            "/v1/office/connections/{id}/runs?limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(older["items"][0]["id"], run["id"], "{older}");

    // Both customers bound to their ERP records.
    let bindings = eventually("both customers bound", || async {
        let b = office
            .ok(&format!(
                "/v1/office/connections/{id}/bindings?entity=customer"
            ))
            .await;
        let items = b["items"].as_array().unwrap().clone();
        let ids: Vec<&str> = items
            .iter()
            .filter_map(|b| b["internal_id"].as_str())
            .collect();
        (ids.contains(&claire.as_str()) && ids.contains(&paul.as_str())).then_some(items)
    })
    .await;
    assert!(bindings.iter().all(|b| b["entity"] == "customer"));
    assert!(bindings.iter().all(|b| b["external_id"].is_string()));

    // Every binding, one a page: the cursors walk the whole list once, in
    // the order of one big page; a cursor of nobody's making is refused.
    let whole = office
        .ok(&format!("/v1/office/connections/{id}/bindings?limit=500"))
        .await;
    let whole = whole["items"].as_array().unwrap().clone();
    assert!(whole.len() >= 2, "{whole:?}");
    let mut walked = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = office
            .ok(&format!(
                "/v1/office/connections/{id}/bindings?limit=1&cursor={cursor}"
            ))
            .await;
        walked.extend(page["items"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(walked.len() <= whole.len(), "the cursors loop: {walked:?}");
    }
    assert_eq!(walked, whole);
    let forged = office
        .get(&format!(
            "/v1/office/connections/{id}/bindings?cursor=not-a-cursor"
        ))
        .await;
    assert_eq!(forged.bad_fields(), ["cursor"], "{:?}", forged.json());

    // Nothing held, nothing dead, nothing mapped yet; verify finds both
    // sides alike.
    let conflicts = office
        .ok(&format!(
            "/v1/office/connections/{id}/conflicts?open_only=true"
        ))
        .await;
    assert_eq!(conflicts["items"], json!([]));
    let dead = office
        .ok(&format!("/v1/office/connections/{id}/dead-letters"))
        .await;
    assert_eq!(dead["items"], json!([]));
    let report = office
        .send(
            Method::POST,
            &format!("/v1/office/connections/{id}/verify"),
            Some(&json!({})),
            &[],
        )
        .await;
    assert_eq!(
        report.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&report.bytes)
    );
    assert_eq!(report.json()["connection_id"], id.as_str());
    assert!(
        report.json()["compared"].as_i64().unwrap() >= 2,
        "{}",
        report.json()
    );

    // A conflict that does not exist is 404; a side that is not one, 400.
    let nobody = Uuid::now_v7();
    office
        .send(
            Method::POST,
            &format!("/v1/office/connections/conflicts/{nobody}/resolve"),
            Some(&json!({ "winner": "shop" })),
            &[],
        )
        .await
        .problem(404, "not-found");
    let a = office
        .send(
            Method::POST,
            &format!("/v1/office/connections/conflicts/{nobody}/resolve"),
            Some(&json!({ "winner": "both" })),
            &[],
        )
        .await;
    assert_eq!(a.bad_fields(), ["winner"]);

    // Tariff mappings: a service of the tenant mapped, then removed.
    let cleaning = stack.service("MENAGE", "Ménage à domicile").await;
    let path = format!("/v1/office/connections/{id}/tariff-mappings/{cleaning}");
    let a = office
        .send(
            Method::PUT,
            &path,
            Some(&json!({ "tariff_id": "T-MENAGE" })),
            &[],
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    let mappings = office
        .ok(&format!("/v1/office/connections/{id}/tariff-mappings"))
        .await;
    assert_eq!(
        mappings["items"],
        json!([{ "service_id": cleaning, "tariff_id": "T-MENAGE" }])
    );
    let other = Uuid::now_v7();
    let a = office
        .send(
            Method::PUT,
            &format!("/v1/office/connections/{id}/tariff-mappings/{other}"),
            Some(&json!({ "tariff_id": "T-X" })),
            &[],
        )
        .await;
    assert_eq!(a.bad_fields(), ["service_id"]);
    let a = office.send(Method::DELETE, &path, None, &[]).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let mappings = office
        .ok(&format!("/v1/office/connections/{id}/tariff-mappings"))
        .await;
    assert_eq!(mappings["items"], json!([]));
}

#[tokio::test]
async fn only_the_office_of_the_tenant_reaches_its_connections() {
    let stack = stack_with(false).await;
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let claire = customer(&stack, "Claire", "claire@example.org").await;
    let id = connect(&stack, &office).await;

    // A customer and residence staff: the connector's refusal, 403, on
    // reads, writes and a run alike.
    for token in [customer_token(&stack, &claire), stack.token(Role::Staff)] {
        let them = Api::new(&stack, Some(token.clone()));
        them.get("/v1/office/connections")
            .await
            .problem(403, "forbidden");
        them.get(&format!("/v1/office/connections/{id}/runs"))
            .await
            .problem(403, "forbidden");
        them.get(&format!("/v1/office/connections/{id}/bindings"))
            .await
            .problem(403, "forbidden");
        them.get(&format!("/v1/office/connections/{id}/dead-letters"))
            .await
            .problem(403, "forbidden");
        them.post(
            "/v1/office/connections",
            &key(),
            &connection_body(&stack, "theirs"),
        )
        .await
        .problem(403, "forbidden");
        let res = run_now(&stack, &token, &id, &json!({ "family": "customers" })).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }

    // Another tenant's office: the connection does not exist for it.
    let elsewhere = relais_testkit::sign(&Claims {
        tenant: Uuid::now_v7(),
        ..stack.claims(Role::Admin)
    });
    let them = Api::new(&stack, Some(elsewhere.clone()));
    assert_eq!(them.ok("/v1/office/connections").await["items"], json!([]));
    them.get(&format!("/v1/office/connections/{id}"))
        .await
        .problem(404, "not-found");
    them.get(&format!("/v1/office/connections/{id}/runs"))
        .await
        .problem(404, "not-found");
    them.get(&format!("/v1/office/connections/{id}/bindings"))
        .await
        .problem(404, "not-found");
    them.get(&format!("/v1/office/connections/{id}/conflicts"))
        .await
        .problem(404, "not-found");
    them.send(
        Method::PUT,
        &format!("/v1/office/connections/{id}"),
        Some(&connection_body(&stack, "erp-lyon")),
        &[],
    )
    .await
    .problem(404, "not-found");
    let res = run_now(&stack, &elsewhere, &id, &json!({ "family": "customers" })).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A bad body names each bad field as the client sent it.
    let mut bad = connection_body(&stack, "erp lyon!");
    bad["endpoint"] = json!("ftp://erp");
    bad["families"][0]["family"] = json!("gossip");
    let a = office.post("/v1/office/connections", &key(), &bad).await;
    let mut fields = a.bad_fields();
    fields.sort();
    fields.dedup();
    assert_eq!(fields, ["endpoint", "families[0].family", "name"]);
    let mut bad = connection_body(&stack, "erp-2");
    bad["adapter"] = json!("sap");
    let a = office.post("/v1/office/connections", &key(), &bad).await;
    assert_eq!(a.bad_fields(), ["adapter"]);
    let mut bad = connection_body(&stack, "erp-2");
    bad["password"] = json!("x");
    let a = office.post("/v1/office/connections", &key(), &bad).await;
    assert_eq!(a.bad_fields(), ["password"]);
    let a = office
        .send(
            Method::POST,
            "/v1/office/connections",
            Some(&connection_body(&stack, "erp-2")),
            &[],
        )
        .await;
    assert_eq!(a.bad_fields(), ["Idempotency-Key"]);
    let a = office.get("/v1/office/connections/not-an-id/runs").await;
    assert_eq!(a.bad_fields(), ["id"]);
    let a = office
        .get(&format!("/v1/office/connections/{id}/runs?limit=0"))
        .await;
    assert_eq!(a.bad_fields(), ["limit"]);
    // A second connection of the same name is a conflict.
    office
        .post(
            "/v1/office/connections",
            &key(),
            &connection_body(&stack, "erp-lyon"),
        )
        .await
        .problem(409, "conflict");
}

/// The reference ERP's injected faults.
async fn faults(stack: &Stack, faults: Value) {
    http()
        .post(format!("{}/_faults", stack.erp_base()))
        .json(&faults)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

#[tokio::test]
async fn a_write_the_erp_keeps_refusing_is_a_dead_letter_the_office_replays() {
    let stack = stack_with(true).await;
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let id = connect(&stack, &office).await;
    faults(&stack, json!({ "down": true })).await;
    let paul = customer(&stack, "Paul", "paul@example.org").await;

    let letter = eventually("a dead letter", || async {
        let list = office
            .ok(&format!("/v1/office/connections/{id}/dead-letters"))
            .await;
        list["items"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(letter["entity"], "customer");
    assert_eq!(letter["internal_id"], paul.as_str());
    assert_eq!(letter["attempts"], 3);
    assert_eq!(letter["connection_id"], id.as_str());
    let letter_id = letter["id"].as_str().unwrap();

    // A run while the ERP is down streams to its end: a failed result.
    let res = run_now(
        &stack,
        &stack.token(Role::Admin),
        &id,
        &json!({ "family": "customers" }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let evs = events(res).await;
    let last = evs.last().unwrap();
    assert_eq!(last.name, "result", "{evs:?}");
    assert_eq!(last.data["status"], "failed", "{evs:?}");
    assert!(
        !last.data["errors"].as_array().unwrap().is_empty(),
        "{evs:?}"
    );

    // Staff may not replay it; the office does, once the ERP is back.
    let staff = Api::new(&stack, Some(stack.token(Role::Staff)));
    staff
        .send(
            Method::POST,
            &format!("/v1/office/connections/dead-letters/{letter_id}/replay"),
            None,
            &[],
        )
        .await
        .problem(403, "forbidden");
    faults(&stack, json!({})).await;
    let a = office
        .send(
            Method::POST,
            &format!("/v1/office/connections/dead-letters/{letter_id}/replay"),
            None,
            &[],
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    eventually("Paul bound once written", || async {
        let b = office
            .ok(&format!(
                "/v1/office/connections/{id}/bindings?entity=customer"
            ))
            .await;
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["internal_id"] == paul.as_str())
            .then_some(())
    })
    .await;
    let left = office
        .ok(&format!("/v1/office/connections/{id}/dead-letters"))
        .await;
    assert_eq!(left["items"], json!([]));
    office
        .send(
            Method::POST,
            &format!("/v1/office/connections/dead-letters/{letter_id}/replay"),
            None,
            &[],
        )
        .await
        .problem(404, "not-found");
}

#[tokio::test]
async fn the_office_settles_a_conflict_left_to_it() {
    let stack = stack_with(false).await;
    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let mut body = connection_body(&stack, "erp-lyon");
    body["families"] = json!([{ "family": "workers", "direction": "both" }]);
    body["conflict_policy"] = json!("manual");
    let a = office.post("/v1/office/connections", &key(), &body).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let id = a.json()["id"].as_str().unwrap().to_owned();
    let run = |family: &'static str| {
        let office = office.clone();
        let path = format!("/v1/office/connections/{id}/runs");
        async move {
            let a = office
                .send(Method::POST, &path, Some(&json!({ "family": family })), &[])
                .await;
            assert_eq!(
                a.status,
                StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&a.bytes)
            );
            assert_eq!(a.json()["status"], "succeeded", "{}", a.json());
        }
    };

    // Nina, pulled from the ERP, then given another e-mail on each side.
    let erp = stack.erp();
    let object = |v: Value| v.as_object().unwrap().clone();
    let employee = erp
        .upsert(
            "employee",
            None,
            "erp-nina",
            &object(json!({ "first_name": "Nina", "last_name": "Petit", "active": true })),
        )
        .await
        .unwrap();
    run("workers").await;
    let worker = stack
        .planning()
        .list_workers(stack.admin(ListWorkersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .workers
        .pop()
        .unwrap();
    erp.upsert(
        "employee",
        Some(&employee.id),
        "",
        &object(json!({ "email": "nina@erp.example" })),
    )
    .await
    .unwrap();
    let mut f = worker.fields.clone().unwrap();
    f.email = "nina@shop.example".into();
    stack
        .planning()
        .update_worker(stack.admin(UpdateWorkerRequest {
            id: worker.id.clone(),
            expected_version: worker.version,
            fields: Some(f),
        }))
        .await
        .unwrap();
    run("workers").await;

    // Held for the office, each side's value shown.
    let open = eventually("the conflict waits for the office", || async {
        let c = office
            .ok(&format!(
                "/v1/office/connections/{id}/conflicts?open_only=true"
            ))
            .await;
        c["items"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(open["entity"], "worker");
    assert_eq!(open["internal_id"], worker.id.as_str());
    assert_eq!(open["policy"], "manual");
    assert_eq!(open["winner"], json!(null));
    let email = open["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["field"] == "email")
        .unwrap_or_else(|| panic!("{open}"));
    assert!(
        email["shop"]
            .as_str()
            .unwrap()
            .contains("nina@shop.example"),
        "{email}"
    );
    assert!(
        email["erp"].as_str().unwrap().contains("nina@erp.example"),
        "{email}"
    );

    // Settled for the shop: the ERP takes the shop's e-mail.
    let path = format!(
        "/v1/office/connections/conflicts/{}/resolve",
        open["id"].as_str().unwrap()
    );
    let a = office
        .send(Method::POST, &path, Some(&json!({ "winner": "shop" })), &[])
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    let settled = a.json();
    assert_eq!(settled["winner"], "shop");
    assert_eq!(settled["resolved_by"], "tester");
    assert!(settled["resolved_at"].is_string());
    let written = erp.get("employee", &employee.id).await.unwrap();
    assert_eq!(written.text("email"), "nina@shop.example");
    office
        .send(Method::POST, &path, Some(&json!({ "winner": "erp" })), &[])
        .await
        .problem(409, "conflict");
    let open = office
        .ok(&format!(
            "/v1/office/connections/{id}/conflicts?open_only=true"
        ))
        .await;
    assert_eq!(open["items"], json!([]));
    let all = office
        .ok(&format!("/v1/office/connections/{id}/conflicts"))
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "{all}");
}
