//! A JetStream cluster of private nats-servers on loopback, as production
//! runs NATS (three nodes, streams with three replicas,
//! `RELAIS_STREAM_REPLICAS`), for tests that kill a node and bring it back.

use std::{net::TcpListener as StdListener, path::PathBuf, process::Child, time::Duration};

use async_nats::jetstream::{self, stream};
use uuid::Uuid;

use super::{spawn_nats, wait_for_port, write_nats_auth};

/// One node: its name in the cluster and its ports.
struct Node {
    name: String,
    port: u16,
    child: Option<Child>,
}

/// `n` nats-servers with JetStream forming one cluster, each with its own
/// store and the local stack's users and permissions ([`super::NatsServer`]
/// has the same). A node can be killed (SIGKILL) and restarted with the
/// same name, ports and store, as a crashed pod comes back. The servers'
/// logs are kept when the test fails (the path is printed).
pub struct NatsCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

impl NatsCluster {
    /// Starts `n` nodes on free ports; [`NatsCluster::ready`] waits until
    /// they elected their leaders.
    pub fn start(n: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(n >= 1, "a cluster needs a node");
        // All ports held at once, so that no two are the same.
        let listeners = (0..2 * n)
            .map(|_| StdListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<Vec<_>, _>>()?;
        drop(listeners);
        let (client_ports, route_ports) = ports.split_at(n);
        let dir =
            std::env::temp_dir().join(format!("relais-nats-cluster-{}", Uuid::new_v4().simple()));
        let conf = dir.join("conf");
        write_nats_auth(&conf)?;
        let routes = route_ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::with_capacity(n);
        for (i, (port, route)) in client_ports.iter().zip(route_ports).enumerate() {
            let name = format!("n{i}");
            let store = dir.join(&name);
            // A node's own route in the list is skipped by the server.
            let text = format!(
                "server_name: {name}\n\
                 listen: \"127.0.0.1:{port}\"\n\
                 log_file: {log:?}\n\
                 jetstream {{ store_dir: {store:?} }}\n\
                 cluster {{\n  name: relais-test\n  listen: \"127.0.0.1:{route}\"\n  routes: [{routes}]\n}}\n\
                 include \"dev.conf\"\n",
                log = dir.join(format!("{name}.log")).display().to_string(),
                store = store.display().to_string(),
            );
            std::fs::write(conf.join(format!("{name}.conf")), text)?;
            nodes.push(Node {
                name,
                port: *port,
                child: None,
            });
        }
        let mut cluster = Self { nodes, dir };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let conf = self
            .dir
            .join("conf")
            .join(format!("{}.conf", self.nodes[i].name));
        self.nodes[i].child = Some(spawn_nats(&conf)?);
        wait_for_port(self.nodes[i].port)
    }

    /// Every node's client URL, comma-separated, as `NATS_URL` takes them.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node's `server_name` (what stream info names a leader by).
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// The node named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Waits (`timeout` at most) until the cluster can place a stream on
    /// every node: the nodes found each other and elected a meta leader.
    pub async fn ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let js = jetstream::new(super::nats_client_on(&self.url()).await);
        let probe = format!("PROBE_{}", Uuid::new_v4().simple());
        let config = stream::Config {
            name: probe.clone(),
            subjects: vec![format!("probe.{}", Uuid::new_v4().simple())],
            num_replicas: self.nodes.len(),
            ..Default::default()
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match js.get_or_create_stream(config.clone()).await {
                Ok(_) => {
                    let _ = js.delete_stream(&probe).await;
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    anyhow::bail!(
                        "the NATS cluster did not form within {timeout:?}: {e} (logs in {})",
                        self.dir.display()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// The node leading `stream` now, if it has a leader.
    pub async fn stream_leader(
        &self,
        js: &jetstream::Context,
        stream: &str,
    ) -> anyhow::Result<Option<usize>> {
        let info = js
            .get_stream(stream)
            .await
            .map_err(|e| anyhow::anyhow!(e))?
            .info()
            .await
            .map_err(|e| anyhow::anyhow!(e))?
            .clone();
        Ok(info
            .cluster
            .and_then(|c| c.leader)
            .and_then(|l| self.index_of(&l)))
    }

    /// Waits (`timeout` at most) until `stream` has a leader and every
    /// replica is online and current: a restarted node caught up.
    pub async fn stream_healthy(
        &self,
        js: &jetstream::Context,
        stream: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let healthy = match js.get_stream(stream).await {
                Ok(mut s) => s.info().await.ok().and_then(|i| i.cluster.clone()),
                Err(_) => None,
            }
            .is_some_and(|c| {
                c.leader.is_some()
                    && c.replicas.len() + 1 == self.nodes.len()
                    && c.replicas.iter().all(|r| r.current && !r.offline)
            });
            if healthy {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "stream {stream} did not get all its replicas current within {timeout:?} (logs in {})",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Kills node `i` at once (SIGKILL): no graceful shutdown, no leader
    /// handed over, nothing flushed.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` again (killing it first if it runs), with its store.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.spawn(i)
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            eprintln!("NATS cluster logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
