use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use relais_platform::{
    consumer::{Delivery, Handler, HandlerError},
    dead_letters,
};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

/// Fails the first `fail_first` attempts of every event, then records it.
struct Flaky {
    fail_first: i64,
    calls: AtomicUsize,
}

impl Handler for Flaky {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // The effect is written before failing: the rollback must undo it.
        record(tx, "flaky", event).await?;
        if event.attempt <= self.fail_first {
            return Err(HandlerError::Retry(anyhow::anyhow!(
                "peer unavailable (attempt {})",
                event.attempt
            )));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_failing_twice_then_succeeding_applies_its_effect_once() {
    let env = env().await;
    let handler = Arc::new(Flaky {
        fail_first: 2,
        calls: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    let c = tokio::spawn(env.consumer("flaky", handler.clone()).run(stop.clone()));
    let (stop_relay, relay) = env.spawn_relay();
    env.change("one").await;
    wait_for("effect", async || env.effects("flaky").await == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.effects("flaky").await, 1);
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        3,
        "two failures, one success"
    );
    assert!(
        dead_letters::pending_dead_letters(&env.pool, "flaky")
            .await
            .unwrap()
            .is_empty()
    );
    stop.cancel();
    stop_relay.cancel();
    c.await.unwrap();
    relay.await.unwrap();
}

/// Records each event after a pause, counting how many it holds at once.
struct Slow {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Handler for Slow {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        record(tx, "slow", event).await?;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_concurrent_consumer_handles_several_events_at_once_and_each_once() {
    let env = env().await;
    let handler = Arc::new(Slow {
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    let c = tokio::spawn(
        env.consumer("slow", handler.clone())
            .concurrent(4)
            .run(stop.clone()),
    );
    let (stop_relay, relay) = env.spawn_relay();
    for i in 0..12 {
        env.change(&format!("agg-{i}")).await;
    }
    wait_for("effects", async || env.effects("slow").await == 12).await;
    let most = handler.most.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&most),
        "at most 4 at once, and more than one: {most}"
    );
    stop.cancel();
    stop_relay.cancel();
    c.await.unwrap();
    relay.await.unwrap();
    assert_eq!(env.effects("slow").await, 12, "each event once");
}

/// Refuses events whose aggregate is "poison" until `fixed` is set.
struct Picky {
    fixed: std::sync::atomic::AtomicBool,
}

impl Handler for Picky {
    async fn handle(&self, tx: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        if event.subject.ends_with(".poison") && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandlerError::Poison(anyhow::anyhow!(
                "cannot apply a poison event"
            )));
        }
        if event.subject.ends_with(".stubborn") && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandlerError::Retry(anyhow::anyhow!("still failing")));
        }
        record(tx, "picky", event).await
    }
}

#[tokio::test]
async fn poison_and_exhausted_events_become_dead_letters_and_the_consumer_goes_on() {
    let env = env().await;
    let handler = Arc::new(Picky {
        fixed: false.into(),
    });
    let stop = CancellationToken::new();
    let c = tokio::spawn(env.consumer("picky", handler.clone()).run(stop.clone()));
    let (stop_relay, relay) = env.spawn_relay();
    let poison = env.change("poison").await;
    let stubborn = env.change("stubborn").await;
    env.change("fine").await;

    wait_for("the good event handled", async || {
        env.effects("picky").await == 1
    })
    .await;
    wait_for("two dead letters", async || {
        dead_letters::pending_dead_letters(&env.pool, "picky")
            .await
            .unwrap()
            .len()
            == 2
    })
    .await;
    let dead = dead_letters::pending_dead_letters(&env.pool, "picky")
        .await
        .unwrap();
    let p = dead
        .iter()
        .find(|d| d.event_id == poison)
        .expect("poison dead-lettered");
    assert_eq!(p.attempts, 1, "poison is not retried");
    assert!(p.error.contains("poison"), "{}", p.error);
    let s = dead
        .iter()
        .find(|d| d.event_id == stubborn)
        .expect("stubborn dead-lettered");
    assert_eq!(s.attempts, 3, "retried up to the last attempt");
    assert!(s.error.contains("still failing"));

    // The dead-letter stream carries them too, with the error.
    let mut dl = env
        .js
        .get_stream(env.ns.dead_letter_stream())
        .await
        .unwrap();
    assert_eq!(dl.info().await.unwrap().state.messages, 2);

    // Once the cause is fixed, a replay applies them, once.
    handler.fixed.store(true, Ordering::SeqCst);
    for d in &dead {
        dead_letters::replay_dead_letter(&env.pool, "test", handler.as_ref(), d.id)
            .await
            .unwrap();
    }
    assert_eq!(env.effects("picky").await, 3);
    assert!(
        dead_letters::pending_dead_letters(&env.pool, "picky")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        dead_letters::replay_dead_letter(&env.pool, "test", handler.as_ref(), dead[0].id)
            .await
            .is_err(),
        "a replayed letter is not replayed twice"
    );
    stop.cancel();
    stop_relay.cancel();
    c.await.unwrap();
    relay.await.unwrap();
}

#[tokio::test]
async fn trace_context_travels_from_the_writer_to_the_consumer() {
    let _telemetry = relais_platform::telemetry::init("messaging-test").unwrap();
    let env = env().await;
    let stop = CancellationToken::new();
    let c = tokio::spawn(
        env.consumer(
            "tracer",
            Arc::new(Recorder {
                name: "tracer".into(),
            }),
        )
        .run(stop.clone()),
    );
    let (stop_relay, relay) = env.spawn_relay();
    let span = tracing::info_span!("place_order");
    let trace_id = {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        span.context().span().span_context().trace_id().to_string()
    };
    {
        let _entered = span.enter();
        env.change("traced").await;
    }
    wait_for("effect", async || env.effects("tracer").await == 1).await;
    let traceparent: Option<String> =
        sqlx::query_scalar("select traceparent from effects where consumer = 'tracer'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    let traceparent = traceparent.expect("the consumer received a traceparent header");
    assert!(
        traceparent.contains(&trace_id),
        "{traceparent} carries trace {trace_id}"
    );
    stop.cancel();
    stop_relay.cancel();
    c.await.unwrap();
    relay.await.unwrap();
}
