//! What starting and stopping a service takes, once: database (role, schema,
//! migrations), NATS and the service's stream, the gRPC and admin listeners
//! (bound at build time, so tests pass port 0 and read the real port), the
//! outbox relay, the mail relay for a service that sends mail
//! ([`Runtime::with_mail`]), background tasks such as consumers, and one
//! shutdown for all.

use std::{net::SocketAddr, sync::Arc};

use async_nats::jetstream;
use futures::future::BoxFuture;
use sqlx::{PgPool, migrate::Migrator};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    admin,
    auth::Authenticator,
    config::PlatformConfig,
    consumer::{ConsumerRunner, ConsumerSpec, Handler},
    db,
    dead_letters::Consumers,
    grpc,
    mail::MailRelay,
    messaging::MessagingApi,
    nats::{self, Namespace},
    outbox::{Outbox, Relay, RelayConfig},
};

pub struct Runtime {
    pub name: &'static str,
    pub cfg: PlatformConfig,
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub ns: Namespace,
    pub outbox: Outbox,
    pub auth: Authenticator,
    /// Whether the service sends mail: then its mail relay runs.
    mail: bool,
    /// The consumers made by [`Runtime::consumer`], for MessagingService.
    consumers: Consumers,
    grpc_listener: TcpListener,
    admin_listener: TcpListener,
}

impl Runtime {
    pub async fn start(
        name: &'static str,
        cfg: PlatformConfig,
        migrations: &Migrator,
    ) -> anyhow::Result<Self> {
        let pool = db::connect(&cfg, name, migrations).await?;
        let nats = nats::connect_as(&cfg.nats_url, name, cfg.nats_auth_for(name).as_ref()).await?;
        let js = jetstream::new(nats.clone());
        let ns = Namespace::new(cfg.namespace.clone()).with_replicas(cfg.stream_replicas);
        ns.ensure_stream(&js, name).await?;
        let grpc_listener = TcpListener::bind(cfg.grpc_addr).await?;
        let admin_listener = TcpListener::bind(cfg.admin_addr).await?;
        let auth = Authenticator::new(&cfg.tokens, name)?;
        Ok(Self {
            name,
            cfg,
            pool,
            nats,
            js,
            ns,
            outbox: Outbox::new(),
            auth,
            mail: false,
            consumers: Consumers::default(),
            grpc_listener,
            admin_listener,
        })
    }

    /// For a service that queues mail (crate::mail::enqueue): its mail
    /// relay runs and its sent mails are pruned. Others have neither.
    pub fn with_mail(mut self) -> Self {
        self.mail = true;
        self
    }

    /// A durable consumer of this service, registered so that its dead
    /// letters are listed and replayed through `handler`
    /// (MessagingService). Run it among [`Runtime::serve`]'s tasks.
    pub fn consumer<H: Handler>(&self, spec: ConsumerSpec, handler: Arc<H>) -> ConsumerRunner<H> {
        self.consumers.register(&spec, handler.clone());
        ConsumerRunner::new(
            self.pool.clone(),
            self.js.clone(),
            self.ns.clone(),
            spec,
            handler,
        )
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener
            .local_addr()
            .unwrap_or(self.cfg.grpc_addr)
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener
            .local_addr()
            .unwrap_or(self.cfg.admin_addr)
    }

    /// Serves until `shutdown`, then waits for in-flight calls, the relay's
    /// batch and every task in `tasks` (which must watch `shutdown` too).
    pub async fn serve<S>(
        self,
        service: S,
        descriptors: &[&'static [u8]],
        tasks: Vec<BoxFuture<'static, ()>>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()>
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        let relay = Relay::new(
            self.pool.clone(),
            self.js.clone(),
            self.outbox.clone(),
            RelayConfig {
                prunes_mail: self.mail,
                ..RelayConfig::new(self.name, self.cfg.outbox_poll, self.cfg.outbox_retention)
            },
        );
        let mut handles = vec![tokio::spawn(relay.run(shutdown.clone()))];
        if self.mail {
            let mail = MailRelay::new(
                self.name,
                self.pool.clone(),
                &self.cfg.mail,
                self.cfg.outbox_poll,
            )?;
            handles.push(tokio::spawn(mail.run(shutdown.clone())));
        }
        handles.extend(tasks.into_iter().map(tokio::spawn));
        let admin = tokio::spawn(admin::serve(
            self.admin_listener,
            admin::router(self.pool.clone(), self.nats.clone()),
            shutdown.clone(),
        ));
        tracing::info!(
            service = self.name,
            grpc = %self.grpc_listener.local_addr()?,
            "serving"
        );
        let health = grpc::Health::new();
        handles.push(tokio::spawn(watch_readiness::<S>(
            health.reporter.clone(),
            self.pool.clone(),
            self.nats.clone(),
            shutdown.clone(),
        )));
        let messaging = tonic::service::interceptor::InterceptedService::new(
            relais_proto::messaging::messaging_service_server::MessagingServiceServer::new(
                MessagingApi::new(self.name, self.pool.clone(), self.consumers.clone()),
            ),
            self.auth.clone(),
        );
        let served = grpc::serve(
            self.name,
            self.grpc_listener,
            service,
            messaging,
            health,
            descriptors,
            shutdown.clone(),
        )
        .await;
        // The gRPC server only returns on shutdown or failure: either way,
        // stop the rest and let each finish what it holds.
        shutdown.cancel();
        for h in handles {
            let _ = h.await;
        }
        let _ = admin.await;
        let _ = self.nats.flush().await;
        self.pool.close().await;
        tracing::info!(service = self.name, "stopped");
        served
    }
}

/// Keeps the service's gRPC health status in step with `/readyz`: SERVING
/// only while Postgres and NATS answer, so a readiness probe takes a replica
/// out of rotation instead of sending it calls it would fail.
async fn watch_readiness<S: tonic::server::NamedService>(
    reporter: tonic_health::server::HealthReporter,
    pool: PgPool,
    nats: async_nats::Client,
    shutdown: CancellationToken,
) {
    let mut serving = true;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {},
        }
        let ready = admin::ready(&pool, &nats).await;
        if ready != serving {
            serving = ready;
            if ready {
                reporter.set_serving::<S>().await;
                tracing::info!("ready again");
            } else {
                reporter.set_not_serving::<S>().await;
                tracing::warn!("not ready: Postgres or NATS unreachable");
            }
        }
    }
}
