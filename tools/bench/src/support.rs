//! What the benchmarks share: fresh databases they drop afterwards, spawned
//! tasks that are always cancelled, random payloads, waiting for the relay
//! to publish everything.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stats::{Latencies, Run};

/// A task spawned with its own cancellation token; dropping it cancels the
/// task, [`Task::stop`] cancels it and waits for its result.
pub struct Task<T> {
    shutdown: CancellationToken,
    handle: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Task<T> {
    pub fn spawn<F>(make: impl FnOnce(CancellationToken) -> F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(make(shutdown.clone()));
        Self {
            shutdown,
            handle: Some(handle),
        }
    }

    pub async fn stop(mut self) -> anyhow::Result<T> {
        self.shutdown.cancel();
        let handle = self.handle.take().context("task already stopped")?;
        handle.await.context("task panicked")
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A database created for this run (`testing::config` makes one per call),
/// dropped by [`BenchDb::drop_now`] unless kept.
pub struct BenchDb {
    /// Superuser URL of the database itself.
    pub url: String,
    name: String,
}

impl BenchDb {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let opts = PgConnectOptions::from_str(url).context("invalid database URL")?;
        let name = opts
            .get_database()
            .context("the benchmark database URL names no database")?
            .to_owned();
        anyhow::ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "unexpected database name {name:?}"
        );
        Ok(Self {
            url: url.to_owned(),
            name,
        })
    }

    /// A superuser connection to this database (for `checkpoint`).
    pub async fn admin(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(&self.url)
            .await
            .with_context(|| format!("failed to connect to {}", self.name))
    }

    /// Flushes dirty buffers so that a checkpoint triggered by the previous
    /// phase does not land inside the next measurement.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        let mut conn = self.admin().await?;
        sqlx::query("checkpoint")
            .execute(&mut conn)
            .await
            .context("checkpoint failed")?;
        conn.close().await.ok();
        Ok(())
    }

    /// Waits until no session holds an advisory lock on this database, so a
    /// relay started next takes the outbox lock at once instead of standing
    /// by for its retry interval.
    pub async fn wait_until_unlocked(&self) -> anyhow::Result<()> {
        let mut conn = self.admin().await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let held: i64 = sqlx::query_scalar(
                "select count(*) from pg_locks l join pg_database d on d.oid = l.database
                 where l.locktype = 'advisory' and d.datname = current_database()",
            )
            .fetch_one(&mut conn)
            .await
            .context("failed to read pg_locks")?;
            if held == 0 {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the previous relay still holds its lock after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        conn.close().await.ok();
        Ok(())
    }

    /// Drops the database (closing any connection left to it).
    pub async fn drop_now(self, keep: bool) -> anyhow::Result<()> {
        if keep {
            eprintln!("bench: kept database {}", self.name);
            return Ok(());
        }
        let mut conn = PgConnection::connect(&relais_platform::testing::admin_url())
            .await
            .context("failed to connect to Postgres to drop the benchmark database")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "drop database if exists {} with (force)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .with_context(|| format!("failed to drop database {}", self.name))?;
        conn.close().await.ok();
        Ok(())
    }
}

/// `count` calls spread over the clients, each client making its next
/// call when the previous one is answered; every call's latency.
pub async fn drive<C, F, Fut>(clients: &[C], count: usize, call: F) -> anyhow::Result<Run>
where
    C: Clone + Send + 'static,
    F: Fn(C, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients.len());
    let share = count / clients.len().max(1) + 1;
    for client in clients {
        let client = client.clone();
        let next = next.clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                call(client.clone(), i).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    let mut failure = None;
    for t in tasks {
        match t.await.context("a client task panicked") {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) | Err(e) => {
                // Stop the other clients early: they take no new index.
                next.store(count, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Run {
        ops: all.len() as u64,
        elapsed: start.elapsed(),
        latencies: Some(Latencies::new(all)),
    })
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::fill(bytes.as_mut_slice());
    bytes
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Waits until the relay has published everything; how long it took.
pub async fn drain(pool: &sqlx::PgPool, timeout: Duration) -> anyhow::Result<Option<Duration>> {
    let start = Instant::now();
    loop {
        let (count, _) = relais_platform::outbox::backlog(pool)
            .await
            .context("failed to read the outbox backlog")?;
        if count == 0 {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() > timeout {
            eprintln!("bench: warning: {count} events still unpublished after {timeout:?}");
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_database_of_a_url() {
        let db = BenchDb::new("postgres://u:p@127.0.0.1:5432/test_abc123").expect("parses");
        assert_eq!(db.name, "test_abc123");
        assert!(BenchDb::new("postgres://u:p@127.0.0.1:5432/bad;name").is_err());
    }

    #[test]
    fn hex_encodes() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(random_bytes(300).len(), 300);
    }
}
