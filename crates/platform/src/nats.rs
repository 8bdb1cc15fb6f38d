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

/// Connects, retrying until the server answers (it may start after us).
pub async fn connect(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .with_context(|| format!("failed to connect to NATS at {url}"))
}

/// Names subjects and streams for one namespace.
#[derive(Clone, Debug)]
pub struct Namespace(pub String);

impl Namespace {
    pub fn new(ns: impl Into<String>) -> Self {
        Self(ns.into())
    }

    /// `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`.
    pub fn subject(&self, service: &str, tenant: Uuid, aggregate: &str, event: &str) -> String {
        format!("{}.{service}.v1.{tenant}.{aggregate}.{event}", self.0)
    }

    /// Every tenant's `<aggregate>.<event>` of `service`, for a consumer's
    /// filter.
    pub fn event_filter(&self, service: &str, aggregate: &str, event: &str) -> String {
        format!("{}.{service}.v1.*.{aggregate}.{event}", self.0)
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

    pub fn dead_letter_subject(&self, service: &str, consumer: &str) -> String {
        format!("{}.deadletter.{service}.{consumer}", self.0)
    }

    pub fn dead_letter_stream(&self) -> String {
        self.stream("deadletter")
    }

    /// Creates (or keeps) the stream a service publishes to. The duplicate
    /// window matches JetStream's default; the outbox retention is longer.
    pub async fn ensure_stream(
        &self,
        js: &jetstream::Context,
        service: &str,
    ) -> anyhow::Result<stream::Stream> {
        js.get_or_create_stream(stream::Config {
            name: self.stream(service),
            subjects: vec![self.service_subjects(service)],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("failed to provision stream {}", self.stream(service)))
    }

    pub async fn ensure_dead_letter_stream(
        &self,
        js: &jetstream::Context,
    ) -> anyhow::Result<stream::Stream> {
        js.get_or_create_stream(stream::Config {
            name: self.dead_letter_stream(),
            subjects: vec![format!("{}.deadletter.>", self.0)],
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(30 * 24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("failed to provision the dead-letter stream")
    }
}
