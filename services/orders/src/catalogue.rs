//! The catalogue, asked over gRPC for prices, VAT rates and stock at the
//! moment an order is placed. Calls carry a short-lived `service` token for
//! the caller's tenant and the current trace context.

use std::time::Duration;

use relais_platform::{
    auth::{Authenticator, Role},
    error::Error,
    telemetry,
};
use relais_proto::catalogue::{
    GetPricesRequest, ItemPrice, catalogue_service_client::CatalogueServiceClient,
};
use tonic::{Code, transport::Channel};
use uuid::Uuid;

#[derive(Clone)]
pub struct Catalogue {
    client: CatalogueServiceClient<Channel>,
    auth: Authenticator,
}

impl Catalogue {
    /// Connects lazily: the orders service starts even while catalogue is
    /// down, and calls fail with UNAVAILABLE until it is back.
    pub fn new(addr: &str, auth: Authenticator) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(addr.to_owned())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(Self {
            client: CatalogueServiceClient::new(channel),
            auth,
        })
    }

    /// What `family` pays for each of `ids`, in order. An id the catalogue
    /// does not know is `Err(NotFound)` naming it.
    pub async fn prices(
        &self,
        tenant: Uuid,
        family: &str,
        ids: &[Uuid],
    ) -> Result<Vec<ItemPrice>, Error> {
        let token = self
            .auth
            .mint_for(tenant, Role::Service, "orders", Duration::from_secs(60))?;
        let mut req = tonic::Request::new(GetPricesRequest {
            customer_family: family.to_owned(),
            item_ids: ids.iter().map(Uuid::to_string).collect(),
        });
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .map_err(|e| Error::Unexpected(anyhow::anyhow!("token header: {e}")))?,
        );
        telemetry::inject_into_request(&mut req);
        match self.client.clone().get_prices(req).await {
            Ok(r) => Ok(r.into_inner().prices),
            Err(s) if s.code() == Code::NotFound => Err(Error::NotFound(
                s.message().trim_end_matches(" not found").to_owned(),
            )),
            Err(s) => {
                tracing::warn!(code = ?s.code(), message = s.message(), "catalogue call failed");
                Err(Error::Unavailable(format!("catalogue: {}", s.message())))
            }
        }
    }
}
