//! Test harness (feature `testing`): a fresh database per test on the
//! Postgres of `DATABASE_URL`, a unique NATS namespace per test on the
//! shared `NATS_URL`, or a private nats-server (from `NATS_SERVER_BIN`) that
//! a fault test can kill and restart, or a cluster of them
//! ([`NatsCluster`]). `make test` brings the stack up and exports these
//! variables; see `scripts/stack.sh`.

use std::{
    net::TcpListener as StdListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    str::FromStr,
    time::Duration,
};

use anyhow::Context;
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use uuid::Uuid;

use crate::{
    auth::{Authenticator, Claims, Role},
    config::PlatformConfig,
};

/// Logs to stderr when `TEST_LOG` is set; quiet otherwise.
pub fn init_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_test_writer()
            .try_init();
    }
}

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://relais:relais@127.0.0.1:55432/relais".into())
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:54222".into())
}

/// Creates an empty database named by a UUID; returns its admin URL.
pub async fn fresh_database() -> anyhow::Result<String> {
    let admin = admin_url();
    let opts = PgConnectOptions::from_str(&admin)?;
    let mut conn = PgConnection::connect_with(&opts)
        .await
        .context("tests need Postgres: run them with `make test` (or set DATABASE_URL)")?;
    let name = format!("test_{}", Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await?;
    let url = opts.database(&name);
    Ok(url_of(&admin, &name).unwrap_or_else(|| format!("{:?}", url)))
}

fn url_of(admin: &str, db: &str) -> Option<String> {
    let (base, _) = admin.rsplit_once('/')?;
    Some(format!("{base}/{db}"))
}

/// The seed every service's test passwords derive from: the local stack's
/// (`RELAIS_DEV_SEED` in `.local/env`, which its nats-server's passwords
/// come from too), or a fixed one without a stack. The same in every test
/// process: database roles are cluster-wide, so two tests provisioning
/// `relais_orders` with different passwords would lock each other out.
pub fn dev_seed() -> String {
    std::env::var("RELAIS_DEV_SEED")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "relais-test-seed".to_owned())
}

/// The NATS user of the test harness (`k8s/base/shared/nats/dev.conf`): may publish
/// any service's events and manage streams. Services under test connect as
/// themselves.
pub const HARNESS_USER: &str = "test";

/// The test harness's NATS credentials.
pub fn harness_auth() -> crate::nats::NatsAuth {
    crate::nats::NatsAuth {
        user: HARNESS_USER.to_owned(),
        password: crate::config::derive_secret(&dev_seed(), "nats", HARNESS_USER),
    }
}

/// The credentials of `user` (a service, `operator` or `test`) on the
/// local stack's or a private test server.
pub fn nats_auth_of(user: &str) -> crate::nats::NatsAuth {
    crate::nats::NatsAuth {
        user: user.to_owned(),
        password: crate::config::derive_secret(&dev_seed(), "nats", user),
    }
}

/// The password `service`'s database role gets in tests (what
/// [`config`]'s services derive).
pub fn db_password(service: &str) -> String {
    crate::config::derive_secret(&dev_seed(), "db", service)
}

/// A client of the shared NATS (`NATS_URL`) as the test harness.
pub async fn nats_client() -> async_nats::Client {
    nats_client_on(&nats_url()).await
}

/// A client of the NATS at `url` as the test harness (anonymous clients
/// are refused by the local stack and private test servers).
pub async fn nats_client_on(url: &str) -> async_nats::Client {
    crate::nats::connect_as(url, "relais-test", Some(&harness_auth()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// A namespace no other test uses.
pub fn namespace() -> String {
    format!("t{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// A config for a service under test: fresh database, ports 0, fast polls.
pub async fn config(nats_url: &str) -> anyhow::Result<PlatformConfig> {
    let database_url = fresh_database().await?;
    let namespace = namespace();
    Ok(PlatformConfig {
        database_url,
        db_provision: true,
        db_migrate: true,
        // Each service derives its own from the stack's seed.
        db_password: String::new(),
        db_max_connections: 8,
        nats_url: nats_url.to_owned(),
        nats_user: String::new(),
        nats_password: String::new(),
        dev_seed: dev_seed(),
        mail: crate::mail::MailConfig {
            from: "Relais test <no-reply@relais.test>".into(),
            smtp_url: None,
            dir: std::env::temp_dir().join("relais-mail").join(&namespace),
            max_attempts: 3,
        },
        namespace,
        stream_replicas: 1,
        grpc_addr: "127.0.0.1:0".parse()?,
        admin_addr: "127.0.0.1:0".parse()?,
        tokens: crate::auth::TokenSettings::dev(&dev_seed(), true),
        outbox_poll: Duration::from_millis(50),
        outbox_retention: Duration::from_secs(600),
        consumer_max_deliver: 3,
    })
}

/// What the tests sign with: the tests' own issuer, which the test
/// configuration (and only it) trusts for every role.
pub fn authenticator() -> Authenticator {
    Authenticator::new(
        &crate::auth::TokenSettings::dev(&dev_seed(), true),
        crate::keys::TEST_ISSUER,
    )
    .unwrap_or_else(|e| panic!("the tests' keys: {e}"))
}

/// A token for `role` in `tenant` signed with the tests' key.
pub fn token(tenant: Uuid, role: Role) -> String {
    authenticator()
        .mint_for(
            tenant,
            role,
            &format!("test-{role:?}"),
            Duration::from_secs(3600),
        )
        .unwrap_or_default()
}

/// A token with every claim chosen by the test.
pub fn token_with(claims: &Claims) -> String {
    authenticator().mint(claims).unwrap_or_default()
}

/// The users and permissions a private test server loads, as the local
/// stack does (`k8s/base/shared/nats/`).
const NATS_USERS_CONF: &str = include_str!("../../../k8s/base/shared/nats/users.conf");
const NATS_DEV_CONF: &str = include_str!("../../../k8s/base/shared/nats/dev.conf");

mod cluster;
pub use cluster::NatsCluster;

/// Writes the users and permissions into `dir`, where a server's config
/// `include "dev.conf"` finds them (`include` paths are relative to the
/// including file).
fn write_nats_auth(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("users.conf"), NATS_USERS_CONF)?;
    std::fs::write(dir.join("dev.conf"), NATS_DEV_CONF)?;
    Ok(())
}

/// Starts `NATS_SERVER_BIN` with `conf`, each user's password in its
/// environment as the config reads them.
fn spawn_nats(conf: &std::path::Path) -> anyhow::Result<Child> {
    let bin = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into());
    let seed = dev_seed();
    Command::new(&bin)
        .arg("-c")
        .arg(conf)
        .envs(crate::nats::NATS_USERS.iter().map(|user| {
            (
                format!("RELAIS_NATS_PASSWORD_{}", user.to_uppercase()),
                crate::config::derive_secret(&seed, "nats", user),
            )
        }))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!("failed to start {bin}: run tests with `make test` (sets NATS_SERVER_BIN)")
        })
}

/// Waits (5 s at most) until something accepts connections on `port`.
fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("nats-server did not start on port {port}")
}

/// A private nats-server with JetStream, on a free port, that a test can
/// kill and restart (same port, same store). It has the local stack's
/// users and permissions: services connect as themselves, the harness as
/// [`HARNESS_USER`] ([`nats_client_on`]), and anonymous clients are refused.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    store: PathBuf,
    conf: PathBuf,
}

impl NatsServer {
    pub fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let store = std::env::temp_dir().join(format!("relais-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&store)?;
        // The config sits beside the store.
        let conf = store.join("conf");
        write_nats_auth(&conf)?;
        let main = format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: {:?} }}\ninclude \"dev.conf\"\n",
            store.join("js").display().to_string()
        );
        std::fs::write(conf.join("nats.conf"), main)?;
        let mut server = Self {
            child: None,
            port,
            store,
            conf,
        };
        server.spawn()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.child = Some(spawn_nats(&self.conf.join("nats.conf"))?);
        wait_for_port(self.port)
    }

    /// Kills the server at once (SIGKILL): no graceful flush.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message of `stream` from the start, as a new subscriber would see
/// them: waits until at least `at_least` arrived (or `timeout`), then takes
/// whatever else is already there (a duplicate would be).
pub async fn read_stream(
    js: &async_nats::jetstream::Context,
    stream: &str,
    at_least: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<async_nats::jetstream::Message>> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    use futures::StreamExt;
    let stream = js
        .get_stream(stream)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut messages = consumer.messages().await.map_err(|e| anyhow::anyhow!(e))?;
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < at_least {
        match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(Ok(m))) => out.push(m),
            _ => break,
        }
    }
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(Duration::from_millis(300), messages.next()).await
    {
        out.push(m);
    }
    Ok(out)
}

/// `msg` with `authorization: Bearer <token>`.
pub fn with_token<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Ok(value) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert("authorization", value);
    }
    req
}

/// Panics unless `status` is INVALID_ARGUMENT naming `field` in its
/// BadRequest detail: what a client shows next to the field.
pub fn assert_bad_field(status: &tonic::Status, field: &str) {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let fields: Vec<String> = status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert!(
        fields.iter().any(|f| f == field),
        "expected a violation on {field}, got {fields:?} ({})",
        status.message()
    );
}

/// The mails a service wrote to its folder (`cfg.mail.dir`), raw, oldest
/// first.
pub fn mails_in(dir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| {
                    let at = e.metadata().and_then(|m| m.modified()).ok()?;
                    Some((at, std::fs::read_to_string(e.path()).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort_by_key(|(at, _)| *at);
    files.into_iter().map(|(_, m)| m).collect()
}

/// A local SMTP server that accepts every mail and keeps it: enough of
/// RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for a real
/// client to deliver to it over a real connection.
pub struct SmtpSink {
    pub addr: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> anyhow::Result<Self> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut data: Option<String> = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(body) = data.as_mut() {
                            if line == "." {
                                if let Ok(mut s) = store.lock() {
                                    s.push(std::mem::take(body));
                                }
                                data = None;
                                let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                            } else {
                                body.push_str(line.strip_prefix('.').unwrap_or(&line));
                                body.push('\n');
                            }
                            continue;
                        }
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let answer: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                data = Some(String::new());
                                b"354 end with .\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        let _ = write.write_all(answer).await;
                    }
                });
            }
        });
        Ok(Self { addr, received })
    }

    /// `smtp://` URL of the sink (no TLS, as on a local relay).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn received(&self) -> Vec<String> {
        self.received.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
