//! Calls cancelled in the middle of a transaction (a client's deadline
//! drops the handler's future) must never hand the next borrower of the
//! pool a connection that is still inside a transaction: its statements
//! would silently run in someone else's transaction ("there is already a
//! transaction in progress" was seen in the orders log under deadlines).
//!
//! sqlx 0.9.0 did exactly that when the future was dropped while `BEGIN`
//! was in flight: its guard only queued a `ROLLBACK` once the depth had
//! been raised, which happened after the server's answer (sqlx issue 4393).
//! 0.9.1 raises the depth before the round trip (pull request 4394); these
//! tests fail on 0.9.0 and keep the workspace from going back to it.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll},
    time::Duration,
};

use rand::Rng;
use relais_platform::{db, testing};
use sqlx::{Connection, PgPool, postgres::PgConnection};

use crate::helpers::{MIGRATIONS, SERVICE};

/// The pool a service runs on (same options as `db::connect`).
async fn pool() -> PgPool {
    testing::init_logging();
    let cfg = testing::config(&testing::nats_url()).await.expect("config");
    db::connect(&cfg, SERVICE, &MIGRATIONS).await.expect("db")
}

/// Whether the server has `conn` inside a transaction block. `SAVEPOINT`
/// is refused outside one (25P01); inside one it succeeds. Timestamps
/// (`now() = statement_timestamp()`) can tie within a microsecond and
/// `pg_current_xact_id_if_assigned()` is null for a read-only transaction,
/// so neither tells reliably.
async fn in_transaction(conn: &mut PgConnection) -> bool {
    match sqlx::raw_sql("savepoint relais_probe").execute(conn).await {
        Ok(_) => true,
        Err(e) => {
            let code = e.as_database_error().and_then(|d| d.code());
            assert_eq!(
                code.as_deref(),
                Some("25P01"),
                "unexpected answer to the probe: {e}"
            );
            false
        }
    }
}

/// Checks out every connection the pool holds at once (so none is missed)
/// and returns how many of them are inside a transaction.
async fn connections_in_transaction(pool: &PgPool) -> usize {
    let size = pool.size().max(1) as usize;
    let mut conns = Vec::with_capacity(size);
    for _ in 0..size {
        conns.push(pool.acquire().await.expect("acquire"));
    }
    let mut stray = 0;
    for conn in &mut conns {
        if in_transaction(conn).await {
            stray += 1;
        }
    }
    stray
}

/// Polls `fut` exactly `polls` times, then drops it unfinished (if it has
/// not finished): a cancellation at a chosen await point rather than at a
/// timer tick, which is a millisecond, far longer than a local `BEGIN`.
async fn poll_then_drop<F: Future>(fut: F, polls: usize) {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        let done = std::future::poll_fn(|cx: &mut Context<'_>| {
            Poll::Ready(fut.as_mut().poll(cx).is_ready())
        })
        .await;
        if done {
            return;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_call_cancelled_during_begin_leaves_no_transaction_open() {
    let pool = pool().await;
    // The exact path of sqlx issue 4393: `BEGIN` written to the server, its
    // answer not yet read, the future dropped. One poll sends it (the write
    // to a local socket completes at once) and parks on the answer.
    for round in 0..20 {
        let mut conn = pool.acquire().await.expect("acquire");
        poll_then_drop(conn.begin(), 1).await;
        drop(conn);
        let stray = connections_in_transaction(&pool).await;
        assert_eq!(
            stray, 0,
            "round {round}: a connection came back in a transaction"
        );
    }
}

#[tokio::test]
async fn calls_cancelled_at_random_points_leave_every_connection_idle() {
    let pool = pool().await;
    sqlx::query("create table if not exists cancelled_work (n int)")
        .execute(&pool)
        .await
        .expect("create");
    // Rounds of concurrent calls, each a transaction (begin, a write, a
    // read, commit) cancelled after a random number of polls or by a
    // timer: mid-acquire, mid-BEGIN, mid-statement, mid-COMMIT, or not at
    // all. A round is twice the pool's size, so calls queue for
    // connections too; every connection is checked after each round.
    for round in 0..30 {
        let mut calls = Vec::new();
        for i in 0..16 {
            let pool = pool.clone();
            let (polls, timer) = {
                let mut rng = rand::rng();
                (rng.random_range(1..8usize), rng.random_range(0..2000u64))
            };
            calls.push(tokio::spawn(async move {
                let work = async {
                    let mut tx = pool.begin().await?;
                    sqlx::query("insert into cancelled_work values ($1)")
                        .bind(i)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("select pg_sleep(0.001)")
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                };
                if i % 2 == 0 {
                    poll_then_drop(work, polls).await;
                } else {
                    let _ = tokio::time::timeout(Duration::from_micros(timer), work).await;
                }
            }));
        }
        for call in calls {
            call.await.expect("call panicked");
        }
        let stray = connections_in_transaction(&pool).await;
        assert_eq!(
            stray, 0,
            "round {round}: {stray} connection(s) handed out inside a transaction"
        );
    }
    // A transaction begun now is a fresh one: BEGIN, a write, COMMIT, and
    // the write is visible from a connection of its own.
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("insert into cancelled_work values (-1)")
        .execute(&mut *tx)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let mut fresh = PgConnection::connect_with(&pool.connect_options().as_ref().clone())
        .await
        .expect("connect");
    let seen: i64 = sqlx::query_scalar("select count(*) from cancelled_work where n = -1")
        .fetch_one(&mut fresh)
        .await
        .expect("count");
    assert_eq!(seen, 1);
}
