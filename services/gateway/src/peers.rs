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
    pub deadline: Duration,
}

impl Peers {
    pub fn new(cfg: &GatewayConfig) -> anyhow::Result<Self> {
        // The channel's own timeout is a backstop a little past the
        // deadline each call carries (grpc-timeout, which the service sees).
        let timeout = cfg.deadline + Duration::from_secs(1);
        Ok(Self {
            catalogue: CatalogueServiceClient::new(peer_channel(&cfg.catalogue_addr, timeout)?),
            orders: OrdersServiceClient::new(peer_channel(&cfg.orders_addr, timeout)?),
            planning: PlanningServiceClient::new(peer_channel(&cfg.planning_addr, timeout)?),
            billing: BillingServiceClient::new(peer_channel(&cfg.billing_addr, timeout)?),
            connector: ConnectorServiceClient::new(peer_channel(&cfg.connector_addr, timeout)?),
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
