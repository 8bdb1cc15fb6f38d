//! The tenant's catalogue services by code, for mapping them to ERP
//! tariffs.

use anyhow::Context;
use relais_proto::{
    catalogue::{ListServicesRequest, catalogue_service_client::CatalogueServiceClient},
    types::PageRequest,
};

use super::show::refused;
use crate::client::{authed, connect};

pub(crate) async fn services(
    catalogue: &str,
    token: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    Ok(CatalogueServiceClient::new(connect(catalogue).await?)
        .list_services(authed(
            token,
            ListServicesRequest {
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                ..Default::default()
            },
        )?)
        .await
        .map_err(refused)?
        .into_inner()
        .services
        .into_iter()
        .map(|s| (s.code, s.id))
        .collect())
}

pub(crate) async fn service_id(catalogue: &str, token: &str, code: &str) -> anyhow::Result<String> {
    services(catalogue, token)
        .await?
        .into_iter()
        .find(|(c, id)| c == code || id == code)
        .map(|(_, id)| id)
        .with_context(|| format!("no service {code:?}"))
}
