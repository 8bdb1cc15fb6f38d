//! A service that is down, or too slow, is a 503 problem within the
//! gateway's deadline: the client is told to retry, never left waiting
//! or given a bare error.

use std::time::{Duration, Instant};

use relais_platform::auth::Role;
use relais_testkit::Stack;

use crate::support::Api;

#[tokio::test]
async fn a_service_down_or_past_the_deadline_is_503() {
    // A "catalogue" that accepts connections and never answers, and a
    // "planning" nobody listens for.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let stack = Stack::builder()
        .with_gateway(move |c| {
            c.catalogue_addr = format!("http://{silent_addr}");
            c.planning_addr = format!("http://{closed}");
            c.deadline = Duration::from_millis(500);
        })
        .spawn()
        .await
        .unwrap();
    let api = Api::new(&stack, Some(stack.token(Role::Admin)));

    let started = Instant::now();
    let p = api
        .get("/v1/shop/services")
        .await
        .problem(503, "unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(p["detail"].as_str().unwrap().contains("catalogue"), "{p}");
    let p = api
        .get("/v1/office/workers")
        .await
        .problem(503, "unavailable");
    assert!(p["detail"].as_str().unwrap().contains("planning"), "{p}");
    // The rest of the API still answers.
    assert!(api.ok("/v1/office/customers").await["items"].is_array());
    drop(silent);
}
