use std::{collections::HashMap, time::Duration};

use relais_platform::outbox::{self, Outbox};

use crate::helpers::*;

fn version(m: &async_nats::jetstream::Message) -> i64 {
    i64::from_be_bytes(m.payload.as_ref().try_into().unwrap())
}

fn msg_id(m: &async_nats::jetstream::Message) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_transaction_that_commits_after_later_ones_is_still_published() {
    let env = env().await;
    let (stop, relay) = env.spawn_relay();

    // The slow transaction takes its outbox sequence first...
    let mut slow = env.pool.begin().await.unwrap();
    let slow_id = change_in(&mut slow, &env, "slow").await;
    // ...then later ones commit and are published.
    let fast_ids = [env.change("fast-1").await, env.change("fast-2").await];
    let seen = env.stream_messages(2).await;
    assert_eq!(seen.len(), 2, "the committed events are published first");
    // Only now does the slow one commit: a relay reading "seq > last seen"
    // would skip it forever.
    env.outbox.commit(slow).await.unwrap();
    let seen = env.stream_messages(3).await;
    let ids: Vec<String> = seen.iter().map(msg_id).collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.contains(&slow_id.to_string()),
        "late commit published: {ids:?}"
    );
    for id in fast_ids {
        assert!(ids.contains(&id.to_string()));
    }
    assert_eq!(env.unpublished().await, 0);
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test]
async fn events_committed_while_no_relay_runs_are_published_once_it_starts() {
    let env = env().await;
    for i in 0..20 {
        env.change(&format!("a{}", i % 3)).await;
    }
    assert_eq!(env.stream_count().await, 0);
    assert_eq!(env.unpublished().await, 20);
    let (stop, relay) = env.spawn_relay();
    let seen = env.stream_messages(20).await;
    assert_eq!(seen.len(), 20);
    wait_for("rows marked published", async || {
        env.unpublished().await == 0
    })
    .await;
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test]
async fn a_relay_killed_after_publishing_but_before_marking_publishes_once() {
    let env = env().await;
    for i in 0..30 {
        env.change(&format!("k{i}")).await;
    }
    let (stop, relay) = env.spawn_relay();
    wait_for("all published", async || env.unpublished().await == 0).await;
    stop.cancel();
    relay.await.unwrap();
    // The crash: acks were in, the mark never committed.
    sqlx::query("update outbox set published_at = null")
        .execute(&env.pool)
        .await
        .unwrap();
    let (stop, relay) = env.spawn_relay();
    wait_for("republished", async || env.unpublished().await == 0).await;
    let seen = env.stream_messages(30).await;
    assert_eq!(
        seen.len(),
        30,
        "JetStream dropped the duplicates by Nats-Msg-Id"
    );
    assert_eq!(env.stream_count().await, 30);
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test]
async fn each_aggregates_events_arrive_in_order_under_concurrent_writers() {
    let env = env().await;
    let (stop, relay) = env.spawn_relay();
    let writers = (0..8).map(|w| {
        let pool = env.pool.clone();
        let outbox = env.outbox.clone();
        let env_subjects: Vec<String> = (0..5).map(|a| env.subject(&format!("agg{a}"))).collect();
        tokio::spawn(async move {
            for i in 0..40 {
                let a = (w + i) % 5;
                let mut tx = pool.begin().await.unwrap();
                let version: i64 = sqlx::query_scalar(
                    "insert into aggregates (id, version) values ($1, 1)
                     on conflict (id) do update set version = aggregates.version + 1 returning version",
                )
                .bind(format!("agg{a}"))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                let e = outbox::OutboxEvent::new(env_subjects[a].clone(), format!("agg{a}"), version.to_be_bytes().to_vec());
                outbox::enqueue(&mut tx, &e).await.unwrap();
                outbox.commit(tx).await.unwrap();
            }
        })
    });
    futures::future::join_all(writers)
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
    let seen = env.stream_messages(320).await;
    assert_eq!(seen.len(), 320);
    let mut last: HashMap<String, i64> = HashMap::new();
    for m in &seen {
        let v = version(m);
        let prev = last.insert(m.subject.to_string(), v).unwrap_or(0);
        assert_eq!(v, prev + 1, "{} went from version {prev} to {v}", m.subject);
    }
    assert_eq!(last.len(), 5);
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test]
async fn of_two_relays_one_publishes_and_the_other_takes_over_when_it_stops() {
    let env = env().await;
    // Two processes: each has its own wake-up signal.
    let other = Outbox::new();
    let stop_a = tokio_util::sync::CancellationToken::new();
    let stop_b = tokio_util::sync::CancellationToken::new();
    let a = tokio::spawn(env.relay().run(stop_a.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = tokio::spawn(env.relay_with(env.pool.clone(), other).run(stop_b.clone()));
    for i in 0..50 {
        env.change(&format!("x{i}")).await;
    }
    wait_for("published", async || env.unpublished().await == 0).await;
    let holders: i64 = sqlx::query_scalar(
        "select count(*) from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(holders, 1, "one relay holds the lock");
    assert_eq!(env.stream_count().await, 50);

    // The leader stops: the standby takes over.
    stop_a.cancel();
    a.await.unwrap();
    for i in 0..10 {
        env.change(&format!("y{i}")).await;
    }
    wait_for("published by the standby", async || {
        env.unpublished().await == 0
    })
    .await;
    assert_eq!(env.stream_count().await, 60);
    stop_b.cancel();
    b.await.unwrap();
}

#[tokio::test]
async fn republish_since_sends_kept_events_again_and_inboxes_ignore_them() {
    let env = env().await;
    let consumer = env.consumer(
        "recorder",
        std::sync::Arc::new(Recorder {
            name: "recorder".into(),
        }),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    // A stream whose duplicate window is short, so the republished events
    // really reach the consumer again (as after a broker lost them).
    env.js.delete_stream(env.ns.stream(SERVICE)).await.unwrap();
    env.js
        .create_stream(async_nats::jetstream::stream::Config {
            name: env.ns.stream(SERVICE),
            subjects: vec![env.ns.service_subjects(SERVICE)],
            duplicate_window: Duration::from_millis(100),
            ..Default::default()
        })
        .await
        .unwrap();
    let c = tokio::spawn(consumer.run(stop.clone()));
    let (stop_relay, relay) = env.spawn_relay();
    let since = chrono::Utc::now();
    for i in 0..10 {
        env.change(&format!("r{i}")).await;
    }
    wait_for("handled", async || env.effects("recorder").await == 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let again = outbox::republish_since(&env.pool, since).await.unwrap();
    assert_eq!(again, 10);
    env.outbox.wake();
    wait_for("republished", async || env.stream_count().await == 20).await;
    let mut info = env
        .js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            "recorder",
            env.ns.stream(SERVICE),
        )
        .await
        .unwrap();
    wait_for("all 20 delivered and acked", async || {
        let i = info.info().await.unwrap();
        i.num_pending == 0 && i.num_ack_pending == 0 && i.delivered.stream_sequence == 20
    })
    .await;
    assert_eq!(
        env.effects("recorder").await,
        10,
        "each effect happened once"
    );
    stop.cancel();
    stop_relay.cancel();
    c.await.unwrap();
    relay.await.unwrap();
}

#[tokio::test]
async fn a_standby_relay_reports_the_backlog_as_it_is() {
    // The relay runs on this thread (a current-thread runtime), where this
    // recorder takes its metrics.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let env = env().await;
    // Another relay leads: this test holds its lock, and publishes nothing.
    let mut leader = env.pool.acquire().await.unwrap().detach();
    let key = outbox::RelayConfig::new(SERVICE, Duration::ZERO, Duration::ZERO).lock_key();
    sqlx::query("select pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut leader)
        .await
        .unwrap();
    let (stop, relay) = env.spawn_relay();
    let backlog = |n: usize| {
        let metrics = metrics.clone();
        move || {
            let text = metrics.render();
            let standby = text.contains(&format!(
                "relais_outbox_relay_active{{service=\"{SERVICE}\"}} 0"
            ));
            let line = format!("relais_outbox_backlog{{service=\"{SERVICE}\"}} {n}");
            (standby && text.lines().any(|l| l == line)).then_some(())
        }
    };
    for n in [0, 3] {
        for i in 0..n {
            env.change(&format!("waiting{i}")).await;
        }
        let seen = backlog(n);
        relais_platform::testing::eventually(Duration::from_secs(5), || async { seen() })
            .await
            .unwrap_or_else(|| panic!("the standby reports {n} waiting:\n{}", metrics.render()));
    }
    assert_eq!(env.unpublished().await, 3, "the standby published nothing");
    stop.cancel();
    relay.await.unwrap();
}
