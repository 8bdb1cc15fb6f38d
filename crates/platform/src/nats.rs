//! NATS: connection, subjects and stream provisioning under a namespace
//! (`RELAIS_NAMESPACE`), so environments and test runs share one server.
//!
//! Subjects: `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`; one stream per
//! producing service, `<NS>_<SERVICE>`; dead letters on
//! `<ns>.deadletter.<service>.<consumer>` in the stream `<NS>_DEADLETTER`.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use uuid::Uuid;

/// The NATS users of `k8s/base/shared/nats/users.conf` and `dev.conf`: one per
/// service, the read-only `operator`, and `test`, the test harness (local
/// stack and tests only). `scripts/stack.sh` has the same list.
pub const NATS_USERS: &[&str] = &[
    "catalogue",
    "orders",
    "planning",
    "billing",
    "connector",
    "operator",
    "test",
];

/// A NATS user and password (see `PlatformConfig::nats_auth_for`).
#[derive(Clone)]
pub struct NatsAuth {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for NatsAuth {
    // Never print the password (configs are logged at debug level).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAuth")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Connects without credentials, retrying until the server answers (it may
/// start after us).
pub async fn connect(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    connect_as(url, name, None).await
}

/// Connects as `auth` (none: anonymously), retrying until the server
/// answers (it may start after us). A refused user or password fails at
/// once: retrying would hide it behind a service that never gets ready.
///
/// `url` may list a cluster's servers separated by commas
/// (`nats://a:4222,nats://b:4222`): the client connects to any that
/// answers, so a service starts while one node is down, and reconnects to
/// another when its node goes away.
pub async fn connect_as(
    url: &str,
    name: &str,
    auth: Option<&NatsAuth>,
) -> anyhow::Result<async_nats::Client> {
    let servers: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let options = || {
        let opts = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(5));
        match auth {
            Some(a) => opts.user_and_password(a.user.clone(), a.password.clone()),
            None => opts,
        }
    };
    let user = auth.map_or("no credentials", |a| a.user.as_str());
    let context = || format!("failed to connect to NATS at {url} as {user}");
    match options().connect(servers.as_slice()).await {
        Ok(client) => Ok(client),
        Err(e)
            if matches!(
                e.kind(),
                async_nats::ConnectErrorKind::Authentication
                    | async_nats::ConnectErrorKind::AuthorizationViolation
            ) =>
        {
            Err(anyhow::Error::new(e).context(context()))
        }
        Err(_) => options()
            .retry_on_initial_connect()
            .connect(servers.as_slice())
            .await
            .with_context(context),
    }
}

/// Names subjects and streams for one namespace.
#[derive(Clone, Debug)]
pub struct Namespace(pub String, usize);

impl Namespace {
    pub fn new(ns: impl Into<String>) -> Self {
        Self(ns.into(), 1)
    }

    /// Streams made from here are kept on `replicas` servers of a
    /// JetStream cluster (`RELAIS_STREAM_REPLICAS`: 3 in production, 1 on
    /// a single server).
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.1 = replicas.max(1);
        self
    }

    /// `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`.
    pub fn subject(&self, service: &str, tenant: Uuid, aggregate: &str, event: &str) -> String {
        self.subject_with(service, &tenant.to_string(), aggregate, event)
    }

    /// The same with the tenant token as text: `*` in a consumer's filter,
    /// `{tenant}` in docs/asyncapi.yaml.
    pub fn subject_with(
        &self,
        service: &str,
        tenant: &str,
        aggregate: &str,
        event: &str,
    ) -> String {
        format!("{}.{service}.v1.{tenant}.{aggregate}.{event}", self.0)
    }

    /// Every tenant's `<aggregate>.<event>` of `service`, for a consumer's
    /// filter.
    pub fn event_filter(&self, service: &str, aggregate: &str, event: &str) -> String {
        self.subject_with(service, "*", aggregate, event)
    }

    /// Every subject a service publishes.
    pub fn service_subjects(&self, service: &str) -> String {
        format!("{}.{service}.v1.>", self.0)
    }

    pub fn stream(&self, service: &str) -> String {
        format!("{}_{}", self.0, service)
            .to_uppercase()
            .replace(['.', '-'], "_")
    }

    /// The tenant a subject of [`Namespace::subject`] names: the third
    /// token from the end (`<tenant>.<aggregate>.<event>`), whatever dots
    /// the namespace holds.
    pub fn tenant_of(subject: &str) -> Option<Uuid> {
        subject
            .rsplit('.')
            .nth(2)
            .and_then(|t| Uuid::parse_str(t).ok())
    }

    /// The `<aggregate>.<event>` a subject of [`Namespace::subject`] ends
    /// with: a name for what it carries without its tenant (span names).
    pub fn event_of(subject: &str) -> &str {
        let mut dots = subject.rmatch_indices('.').map(|(i, _)| i);
        match dots.nth(1) {
            Some(i) => &subject[i + 1..],
            None => subject,
        }
    }

    pub fn dead_letter_subject(&self, service: &str, consumer: &str) -> String {
        format!("{}.deadletter.{service}.{consumer}", self.0)
    }

    pub fn dead_letter_stream(&self) -> String {
        self.stream("deadletter")
    }

    /// The stream a service publishes to. The duplicate window matches
    /// JetStream's default; the outbox retention is longer.
    pub fn stream_config(&self, service: &str) -> stream::Config {
        stream::Config {
            name: self.stream(service),
            subjects: vec![self.service_subjects(service)],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            num_replicas: self.1,
            ..Default::default()
        }
    }

    /// Creates (or keeps) the stream a service publishes to
    /// ([`Self::stream_config`]).
    pub async fn ensure_stream(
        &self,
        js: &jetstream::Context,
        service: &str,
    ) -> anyhow::Result<stream::Stream> {
        let stream = js
            .get_or_create_stream(self.stream_config(service))
            .await
            .map_err(|e| anyhow::anyhow!(e))
            .with_context(|| format!("failed to provision stream {}", self.stream(service)))?;
        self.check_replicas(&stream);
        Ok(stream)
    }

    /// The dead-letter stream, every service's.
    pub fn dead_letter_stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.dead_letter_stream(),
            subjects: vec![format!("{}.deadletter.>", self.0)],
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(30 * 24 * 3600),
            num_replicas: self.1,
            ..Default::default()
        }
    }

    pub async fn ensure_dead_letter_stream(
        &self,
        js: &jetstream::Context,
    ) -> anyhow::Result<stream::Stream> {
        let stream = js
            .get_or_create_stream(self.dead_letter_stream_config())
            .await
            .map_err(|e| anyhow::anyhow!(e))
            .context("failed to provision the dead-letter stream")?;
        self.check_replicas(&stream);
        Ok(stream)
    }

    /// A stream made before the setting was raised keeps its replicas:
    /// services never edit a stream, so an operator does (docs/deploy-prod.md).
    fn check_replicas(&self, stream: &stream::Stream) {
        let info = stream.cached_info();
        if info.config.num_replicas < self.1 {
            tracing::warn!(
                stream = %info.config.name,
                replicas = info.config.num_replicas,
                wanted = self.1,
                "stream has fewer replicas than RELAIS_STREAM_REPLICAS: nats stream edit {} --replicas {}",
                info.config.name,
                self.1
            );
        }
    }
}
