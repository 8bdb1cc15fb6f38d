use std::{sync::Arc, time::Duration};

use relais_platform::testing::NatsServer;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

#[tokio::test]
async fn nothing_is_lost_when_the_broker_dies_and_comes_back() {
    let mut nats = NatsServer::start().unwrap();
    let env = env_on(&nats.url()).await;
    let stop = CancellationToken::new();
    let c = tokio::spawn(
        env.consumer(
            "survivor",
            Arc::new(Recorder {
                name: "survivor".into(),
            }),
        )
        .run(stop.clone()),
    );
    let (stop_relay, relay) = env.spawn_relay();
    for i in 0..20 {
        env.change(&format!("before{i}")).await;
    }
    wait_for("first batch handled", async || {
        env.effects("survivor").await == 20
    })
    .await;

    nats.kill();
    // Writes go on while the broker is down: they wait in the outbox.
    for i in 0..20 {
        env.change(&format!("during{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        env.unpublished().await > 0,
        "nothing can be published while the broker is down"
    );
    nats.restart().unwrap();

    wait_for("backlog drained", async || env.unpublished().await == 0).await;
    wait_for("every event handled", async || {
        env.effects("survivor").await == 40
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.effects("survivor").await, 40, "once each");
    assert_eq!(env.stream_count().await, 40);
    stop.cancel();
    stop_relay.cancel();
    c.await.unwrap();
    relay.await.unwrap();
}

#[tokio::test]
async fn a_relay_restarted_mid_batch_leaves_each_effect_applied_once() {
    let env = env().await;
    let stop = CancellationToken::new();
    let c = tokio::spawn(
        env.consumer(
            "midway",
            Arc::new(Recorder {
                name: "midway".into(),
            }),
        )
        .run(stop.clone()),
    );
    for i in 0..300 {
        env.change(&format!("m{}", i % 7)).await;
    }
    let (stop_relay, relay) = env.spawn_relay();
    wait_for("some published", async || env.stream_count().await >= 64).await;
    stop_relay.cancel();
    relay.await.unwrap();
    // As if the relay crashed before marking its last batches.
    sqlx::query(
        "update outbox set published_at = null where seq > (select min(seq) + 32 from outbox)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let (stop_relay, relay) = env.spawn_relay();
    wait_for("drained", async || env.unpublished().await == 0).await;
    wait_for("all handled", async || env.effects("midway").await == 300).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.effects("midway").await, 300);
    stop.cancel();
    stop_relay.cancel();
    c.await.unwrap();
    relay.await.unwrap();
}

#[tokio::test]
async fn a_client_given_a_clusters_servers_connects_to_one_that_answers() {
    // A port nothing listens on, first: a node that is down.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "nats://127.0.0.1:{down}, {}",
        relais_platform::testing::nats_url()
    );
    let client = relais_platform::nats::connect_as(
        &url,
        "relais-test",
        Some(&relais_platform::testing::harness_auth()),
    )
    .await
    .unwrap();
    client.flush().await.unwrap();
    assert_eq!(
        client.connection_state(),
        async_nats::connection::State::Connected
    );
}
