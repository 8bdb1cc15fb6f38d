//! What every order command shares: where the services are by default,
//! their clients, and how a refusal reads.

use relais_proto::{
    catalogue::catalogue_service_client::CatalogueServiceClient,
    orders::orders_service_client::OrdersServiceClient,
};
use tonic::transport::Channel;

use crate::client::connect;

pub(super) const CATALOGUE_ADDR: &str = "http://127.0.0.1:50051";
pub(super) const ORDERS_ADDR: &str = "http://127.0.0.1:50052";

pub(super) use crate::client::refused;

pub(super) async fn orders_client(addr: &str) -> anyhow::Result<OrdersServiceClient<Channel>> {
    Ok(OrdersServiceClient::new(connect(addr).await?))
}

pub(super) async fn catalogue_client(
    addr: &str,
) -> anyhow::Result<CatalogueServiceClient<Channel>> {
    Ok(CatalogueServiceClient::new(connect(addr).await?))
}
