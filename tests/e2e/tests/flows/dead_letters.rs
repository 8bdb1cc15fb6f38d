//! A consumer's dead letter, as the office and an operator reach it through
//! the service's MessagingService: listed for its tenant only, replayed
//! (and kept, with the new error, when the replay fails again), counted in
//! the backlog and in the metrics; another tenant sees nothing of it and
//! staff may not look.

use std::time::Duration;

use relais_platform::{
    auth::{Claims, Role},
    testing::{self, with_token},
};
use relais_proto::messaging::{
    GetBacklogRequest, ListDeadLettersRequest, ReplayDeadLetterRequest,
    messaging_service_client::MessagingServiceClient,
};
use relais_testkit::{channel, sign};
use tonic::Code;
use uuid::Uuid;

#[tokio::test]
async fn a_poison_event_is_a_dead_letter_its_tenant_lists_and_replays() {
    let stack = relais_testkit::Stack::builder()
        .planning()
        .spawn()
        .await
        .unwrap();
    let planning = stack.planning_part();
    let messaging = MessagingServiceClient::new(channel(planning.grpc_addr));

    // An order.confirmed planning cannot decode: a dead letter at once.
    let (subject, event_id) = stack.publish_unreadable_order_event().await;

    let list = |token: String| {
        let mut m = messaging.clone();
        async move {
            m.list_dead_letters(with_token(&token, ListDeadLettersRequest::default()))
                .await
                .map(|r| r.into_inner().dead_letters)
        }
    };
    let admin = stack.token(Role::Admin);
    let dead = testing::eventually(Duration::from_secs(20), || async {
        list(admin.clone()).await.ok().filter(|d| !d.is_empty())
    })
    .await
    .expect("planning's dead letter is listed for its tenant");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].consumer, "planning-bookings");
    assert_eq!(dead[0].subject, subject);
    assert_eq!(dead[0].event_id, event_id.to_string());
    assert!(dead[0].replayed_at.is_none());

    // Another tenant's admin sees none of it, not even by its id; staff
    // may not look at dead letters at all.
    let other = sign(&Claims {
        tenant: Uuid::now_v7(),
        ..stack.claims(Role::Admin)
    });
    assert!(list(other.clone()).await.unwrap().is_empty());
    let replayed = messaging
        .clone()
        .replay_dead_letter(with_token(
            &other,
            ReplayDeadLetterRequest {
                id: dead[0].id.clone(),
            },
        ))
        .await;
    assert_eq!(replayed.unwrap_err().code(), Code::NotFound);
    let staff = list(stack.token(Role::Staff)).await;
    assert_eq!(staff.unwrap_err().code(), Code::PermissionDenied);

    // Replayed while still undecodable: refused, kept, one attempt more.
    let again = messaging
        .clone()
        .replay_dead_letter(with_token(
            &admin,
            ReplayDeadLetterRequest {
                id: dead[0].id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    let kept = list(admin.clone()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].attempts, dead[0].attempts + 1);

    // The backlog names each consumer and what waits there.
    let backlog = messaging
        .clone()
        .get_backlog(with_token(&admin, GetBacklogRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(backlog.service, "planning");
    let bookings = backlog
        .consumers
        .iter()
        .find(|c| c.consumer == "planning-bookings")
        .expect("planning-bookings in the backlog");
    assert_eq!(
        (bookings.source_service.as_str(), bookings.dead_letters),
        ("orders", 1)
    );
    let other_backlog = messaging
        .clone()
        .get_backlog(with_token(&other, GetBacklogRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(other_backlog.consumers.iter().all(|c| c.dead_letters == 0));

    // And an operator's dashboard sees it: the dead letter by service and
    // consumer, the refused call by its code.
    let metrics = relais_platform::http::client(Duration::from_secs(5))
        .unwrap()
        .get(format!("http://{}/metrics", planning.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("relais_dead_letters_total")
                && l.contains(r#"service="planning""#)
                && l.contains(r#"consumer="planning-bookings""#)),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("relais_grpc_requests_total")
                && l.contains("MessagingService/ListDeadLetters")
                && l.contains(r#"code="PERMISSION_DENIED""#)),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("relais_grpc_request_duration_seconds_bucket")),
        "latencies are histograms: {metrics}"
    );
}
