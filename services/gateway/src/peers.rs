//! The services the gateway calls, and how a call is made: with the
//! caller's own token (the services decide what it may do), a deadline,
//! and the current trace context, so the service's span joins the
//! request's trace.

use std::time::Duration;

use relais_platform::{grpc::peer_channel, telemetry};
use relais_proto::{
    billing::billing_service_client::BillingServiceClient,
    catalogue::catalogue_service_client::CatalogueServiceClient,
    connector::connector_service_client::ConnectorServiceClient,
    messaging::messaging_service_client::MessagingServiceClient,
    orders::orders_service_client::OrdersServiceClient,
    planning::planning_service_client::PlanningServiceClient,
};
use tonic::{metadata::MetadataValue, transport::Channel};

use crate::{config::GatewayConfig, extract::Bearer, problem::Problem};

/// Clients of each service, connected on first use: the gateway starts
/// (and answers what needs no service) while one is down, and a call to
/// it is a 503 until it is back.
#[derive(Clone)]
pub struct Peers {
    pub catalogue: CatalogueServiceClient<Channel>,
    pub orders: OrdersServiceClient<Channel>,
    pub planning: PlanningServiceClient<Channel>,
    pub billing: BillingServiceClient<Channel>,
    pub connector: ConnectorServiceClient<Channel>,
    /// Each service's MessagingService (its consumers' dead letters and its
    /// backlog), on the same connection as its API, by service name.
    pub messaging: Vec<(&'static str, MessagingServiceClient<Channel>)>,
    pub deadline: Duration,
}

impl Peers {
    pub fn new(cfg: &GatewayConfig) -> anyhow::Result<Self> {
        // The channel's own timeout is a backstop a little past the
        // deadline each call carries (grpc-timeout, which the service sees).
        let timeout = cfg.deadline + Duration::from_secs(1);
        let catalogue = peer_channel(&cfg.catalogue_addr, timeout)?;
        let orders = peer_channel(&cfg.orders_addr, timeout)?;
        let planning = peer_channel(&cfg.planning_addr, timeout)?;
        let billing = peer_channel(&cfg.billing_addr, timeout)?;
        let connector = peer_channel(&cfg.connector_addr, timeout)?;
        let messaging = [
            ("catalogue", &catalogue),
            ("orders", &orders),
            ("planning", &planning),
            ("billing", &billing),
            ("connector", &connector),
        ]
        .into_iter()
        .map(|(name, channel)| (name, MessagingServiceClient::new(channel.clone())))
        .collect();
        Ok(Self {
            catalogue: CatalogueServiceClient::new(catalogue),
            orders: OrdersServiceClient::new(orders),
            planning: PlanningServiceClient::new(planning),
            billing: BillingServiceClient::new(billing),
            connector: ConnectorServiceClient::new(connector),
            messaging,
            deadline: cfg.deadline,
        })
    }

    /// `body` as `who` sends it.
    pub fn request<T>(&self, who: &Bearer, body: T) -> Result<tonic::Request<T>, Problem> {
        let mut req = tonic::Request::new(body);
        let value: MetadataValue<_> = who.authorization.parse().map_err(|_| {
            Problem::unauthenticated("the bearer token is not a valid header value")
        })?;
        req.metadata_mut().insert("authorization", value);
        req.set_timeout(self.deadline);
        telemetry::inject_into_request(&mut req);
        Ok(req)
    }
}

/// A service's answer, or its status as a problem.
pub fn answer<T>(
    service: &str,
    result: Result<tonic::Response<T>, tonic::Status>,
) -> Result<T, Problem> {
    result
        .map(tonic::Response::into_inner)
        .map_err(|s| Problem::from_status(service, &s))
}
