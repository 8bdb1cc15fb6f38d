//! The faults: the orders stream's leader killed with SIGKILL and brought
//! back, Postgres restarted as after a crash. Each says when it happened,
//! from the start of the load.

use std::time::Duration;

use relais_platform::testing::NatsCluster;
use tokio::time::Instant;

/// The faults made so far, for the summary.
pub struct Faults {
    pub cluster: NatsCluster,
    js: async_nats::jetstream::Context,
    /// The stream whose leader is killed.
    stream: String,
    /// What restarts Postgres (`RELAIS_CHAOS_RESTART_PG`).
    restart_pg: String,
    t0: Instant,
    pub leader_kills: u32,
    pub pg_restarts: u32,
}

impl Faults {
    pub fn new(
        cluster: NatsCluster,
        js: async_nats::jetstream::Context,
        stream: String,
        restart_pg: String,
    ) -> Self {
        Self {
            cluster,
            js,
            stream,
            restart_pg,
            t0: Instant::now(),
            leader_kills: 0,
            pg_restarts: 0,
        }
    }

    /// Times are said from now on.
    pub fn start_clock(&mut self) {
        self.t0 = Instant::now();
    }

    pub fn say(&self, what: &str) {
        eprintln!("chaos: t+{:5.1} s  {what}", self.t0.elapsed().as_secs_f64());
    }

    /// Kills the stream's leader, leaves it down for `down`, starts it
    /// again and waits until every replica is current.
    pub async fn kill_leader(&mut self, down: Duration) {
        let leader = relais_platform::testing::eventually(Duration::from_secs(30), || async {
            self.cluster
                .stream_leader(&self.js, &self.stream)
                .await
                .ok()
                .flatten()
        })
        .await
        .unwrap_or_else(|| panic!("{} has no leader", self.stream));
        // The child's kill and wait block, for a moment.
        tokio::task::block_in_place(|| self.cluster.kill(leader));
        self.leader_kills += 1;
        self.say(&format!(
            "killed {} (SIGKILL), the leader of {}",
            self.cluster.name(leader),
            self.stream
        ));
        tokio::time::sleep(down).await;
        tokio::task::block_in_place(|| self.cluster.restart(leader))
            .unwrap_or_else(|e| panic!("restarting {}: {e:#}", self.cluster.name(leader)));
        self.say(&format!("restarted {}", self.cluster.name(leader)));
        self.cluster
            .stream_healthy(&self.js, &self.stream, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let now = self
            .cluster
            .stream_leader(&self.js, &self.stream)
            .await
            .ok()
            .flatten()
            .map_or("none", |i| self.cluster.name(i));
        self.say(&format!(
            "{} has its {} replicas current again, led by {now}",
            self.stream,
            self.cluster.len()
        ));
    }

    /// Restarts Postgres at once (`-m immediate`: no checkpoint, every
    /// connection cut, crash recovery at start), as the stack's script
    /// does it.
    pub async fn restart_postgres(&mut self) {
        self.say("restarting Postgres (immediate)");
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.restart_pg)
            .status()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.restart_pg));
        assert!(status.success(), "{} failed: {status}", self.restart_pg);
        self.pg_restarts += 1;
        self.say("Postgres accepts connections again");
    }
}
