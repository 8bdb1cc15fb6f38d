//! The office's view of a service's events through the API: a consumer's
//! dead letter listed for its company only, replayed (409 while it still
//! fails, and kept), counted in every service's backlog; staff may not
//! look, another company sees nothing, an unknown service is 404.

use std::time::Duration;

use relais_platform::{
    auth::{Claims, Role},
    testing,
};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Api, stack};

#[tokio::test]
async fn the_office_lists_and_replays_a_services_dead_letters() {
    let stack = stack().await;
    // An order.confirmed planning cannot read: a dead letter at once.
    let (subject, _) = stack.publish_unreadable_order_event().await;

    let office = Api::new(&stack, Some(stack.token(Role::Admin)));
    let page = testing::eventually(Duration::from_secs(20), || async {
        let page = office
            .ok("/v1/office/messaging/planning/dead-letters")
            .await;
        (page["items"].as_array().is_some_and(|i| !i.is_empty())).then_some(page)
    })
    .await
    .expect("planning's dead letter, listed");
    let dead = &page["items"][0];
    assert_eq!(dead["consumer"], "planning-bookings");
    assert_eq!(dead["subject"], subject.as_str());
    assert_eq!(dead["replayed_at"], json!(null));
    let id = dead["id"].as_str().unwrap().to_owned();
    let narrowed = office
        .ok("/v1/office/messaging/planning/dead-letters?consumer=planning-bookings&limit=1")
        .await;
    assert_eq!(narrowed["items"][0]["id"], id.as_str());
    assert_eq!(
        office
            .get("/v1/office/messaging/planning/dead-letters?consumer=nobody")
            .await
            .bad_fields(),
        ["consumer"]
    );

    // Every service answers for its own; planning's consumer holds it. The
    // connector does not run in this stack: listed unreachable, and the
    // others still answer.
    let backlog = office.ok("/v1/office/messaging/backlog").await;
    let services = backlog["services"].as_array().unwrap();
    assert_eq!(services.len(), 5, "{backlog}");
    for s in services {
        assert_eq!(s["reachable"], s["service"] != "connector", "{s}");
    }
    let planning = services
        .iter()
        .find(|s| s["service"] == "planning")
        .unwrap();
    let bookings = planning["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["consumer"] == "planning-bookings")
        .unwrap();
    assert_eq!(bookings["dead_letters"], 1);

    // Still unreadable: the replay is refused and the dead letter stays.
    let replay = format!("/v1/office/messaging/planning/dead-letters/{id}/replay");
    office
        .post(&replay, "replay-1", &json!({}))
        .await
        .problem(409, "conflict");
    let again = office
        .ok("/v1/office/messaging/planning/dead-letters")
        .await;
    assert_eq!(
        again["items"][0]["attempts"],
        dead["attempts"].as_i64().unwrap() + 1
    );

    // Another company sees nothing of it, not even by its id; staff may
    // not look; a service that does not exist is 404.
    let other = Api::new(
        &stack,
        Some(relais_testkit::sign(&Claims {
            tenant: Uuid::now_v7(),
            ..stack.claims(Role::Admin)
        })),
    );
    let theirs = other.ok("/v1/office/messaging/planning/dead-letters").await;
    assert_eq!(theirs["items"], json!([]));
    other
        .post(&replay, "replay-2", &json!({}))
        .await
        .problem(404, "not-found");
    Api::new(&stack, Some(stack.token(Role::Staff)))
        .get("/v1/office/messaging/planning/dead-letters")
        .await
        .problem(403, "forbidden");
    office
        .get("/v1/office/messaging/payroll/dead-letters")
        .await
        .problem(404, "not-found");
}
