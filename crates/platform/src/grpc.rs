//! gRPC server wiring shared by every service: health (grpc.health.v1),
//! reflection, a span per call joined to the caller's trace, request
//! metrics, and graceful shutdown (stop accepting, finish in-flight calls).

use std::{convert::Infallible, time::Duration};

use http::Request;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{
    body::Body,
    server::NamedService,
    transport::{Server, server::TcpIncoming},
};
use tower::Service;
use tower_http::trace::TraceLayer;

use crate::{auth::Authenticator, messaging::MessagingApi, rpc_metrics::MetricsLayer, telemetry};

/// Every service's MessagingService, behind the same token check as its API.
pub type Messaging = tonic::service::interceptor::InterceptedService<
    relais_proto::messaging::messaging_service_server::MessagingServiceServer<MessagingApi>,
    Authenticator,
>;

/// The health service and the handle that sets its statuses.
pub struct Health {
    pub reporter: tonic_health::server::HealthReporter,
    service: tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>,
}

impl Health {
    pub fn new() -> Self {
        let reporter = tonic_health::server::HealthReporter::new();
        let service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
        );
        Self { reporter, service }
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `service` (the API of the Relais service `name`) and its
/// `messaging` on `listener` with health and reflection until `shutdown`.
/// `descriptors` are encoded file descriptor sets for reflection.
pub async fn serve<S>(
    name: &'static str,
    listener: TcpListener,
    service: S,
    messaging: Messaging,
    health: Health,
    descriptors: &[&'static [u8]],
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    S: Service<Request<Body>, Error = Infallible> + NamedService + Clone + Send + Sync + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let Health {
        reporter,
        service: health,
    } = health;
    reporter.set_serving::<S>().await;
    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for d in descriptors {
        reflection = reflection.register_encoded_file_descriptor_set(d);
    }
    let reflection = reflection.build_v1()?;

    let trace = TraceLayer::new_for_grpc().make_span_with(move |req: &Request<Body>| {
        let method = req.uri().path().to_owned();
        let span = tracing::info_span!(
            "grpc",
            otel.name = %method,
            otel.kind = "server",
            relais.service = %name,
            rpc.system = "grpc",
            rpc.method = %method,
            tenant = tracing::field::Empty,
        );
        telemetry::set_parent_from(&span, &telemetry::HttpHeaders(req.headers()));
        span
    });

    // The listener was bound by the runtime, so tonic does not set its own
    // socket options: without TCP_NODELAY a small response waits for the
    // peer's delayed ACK (~40 ms a call under load).
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let stop = shutdown.clone();
    let layers = tower::ServiceBuilder::new()
        .layer(trace)
        .layer(MetricsLayer { service: name });
    let result = Server::builder()
        .layer(layers)
        .add_service(health)
        .add_service(reflection)
        .add_service(service)
        .add_service(messaging)
        .serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await })
        .await;
    reporter.set_not_serving::<S>().await;
    result?;
    Ok(())
}

/// A channel to another service, connected on first use: the caller starts
/// (and serves whatever does not need the peer) while the peer is down, and
/// its calls fail with UNAVAILABLE until it is back. `timeout` per call.
pub fn peer_channel(addr: &str, timeout: Duration) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Channel::from_shared(addr.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .connect_lazy())
}

/// A call from one service to another on behalf of `tenant`: a short-lived
/// `service` token whose subject is the calling service, and the current
/// trace context, so the callee's span joins the caller's trace.
pub fn service_request<T>(
    auth: &crate::auth::Authenticator,
    tenant: uuid::Uuid,
    caller: &str,
    body: T,
) -> crate::error::Result<tonic::Request<T>> {
    request_as(auth, tenant, caller, crate::auth::Role::Service, None, body)
}

/// The same call as `role`; a connector acting for an ERP connection names
/// it (`connection`), so the callee stamps its changes `erp:<connection>`.
pub fn request_as<T>(
    auth: &crate::auth::Authenticator,
    tenant: uuid::Uuid,
    caller: &str,
    role: crate::auth::Role,
    connection: Option<&str>,
    body: T,
) -> crate::error::Result<tonic::Request<T>> {
    let token = auth.mint(&crate::auth::Claims {
        sub: caller.into(),
        tenant,
        role,
        customer_id: None,
        residences: vec![],
        connection: connection.map(str::to_owned),
        exp: chrono::Utc::now().timestamp() + 60,
    })?;
    let mut req = tonic::Request::new(body);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|e| crate::error::Error::Unexpected(anyhow::anyhow!("token header: {e}")))?,
    );
    telemetry::inject_into_request(&mut req);
    Ok(req)
}

/// A failed call to another service as this service's error: NOT_FOUND
/// stays NOT_FOUND (naming what was missing); anything else means the peer
/// is unavailable to us, whatever it said.
pub fn peer_failure(peer: &str, s: tonic::Status) -> crate::error::Error {
    if s.code() == tonic::Code::NotFound {
        return crate::error::Error::NotFound(
            s.message().trim_end_matches(" not found").to_owned(),
        );
    }
    tracing::warn!(peer, code = ?s.code(), message = s.message(), "call to another service failed");
    crate::error::Error::Unavailable(format!("{peer}: {}", s.message()))
}

/// A server stream produced a page at a time while the client reads it
/// (exports of any size hold one page in memory): `page(conn, cursor)`
/// returns the item to send and the cursor of the next page, or None after
/// the last. An error ends the stream with its status.
pub fn page_stream<T, C, F, Fut>(
    pool: sqlx::PgPool,
    first: C,
    page: F,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, tonic::Status>> + Send>>
where
    T: Send + 'static,
    C: Send + 'static,
    F: Fn(sqlx::pool::PoolConnection<sqlx::Postgres>, C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = crate::error::Result<(T, Option<C>)>> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let mut cursor = first;
        loop {
            let result = async {
                let conn = pool.acquire().await?;
                page(conn, cursor).await
            }
            .await;
            match result {
                Ok((item, next)) => {
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                    match next {
                        Some(c) => cursor = c,
                        None => return,
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(tonic::Status::from(e))).await;
                    return;
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
