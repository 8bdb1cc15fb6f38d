//! The catalogue, asked over gRPC for prices, VAT rates and stock at the
//! moment an order is placed. Calls carry a short-lived `service` token for
//! the caller's tenant and the current trace context.

use std::time::Duration;

use relais_platform::{auth::Authenticator, error::Error, grpc};
use relais_proto::catalogue::{
    GetHourPackRequest, GetPricesRequest, HourPack, ItemPrice,
    catalogue_service_client::CatalogueServiceClient,
};
use tonic::transport::Channel;
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
        let channel = relais_platform::grpc::peer_channel(addr, Duration::from_secs(5))?;
        Ok(Self {
            client: CatalogueServiceClient::new(channel),
            auth,
        })
    }

    fn request<T>(&self, tenant: Uuid, body: T) -> Result<tonic::Request<T>, Error> {
        grpc::service_request(&self.auth, tenant, "orders", body)
    }

    /// What `family` pays for each of `ids`, in order. An id the catalogue
    /// does not know is `Err(NotFound)` naming it.
    pub async fn prices(
        &self,
        tenant: Uuid,
        family: &str,
        ids: &[Uuid],
    ) -> Result<Vec<ItemPrice>, Error> {
        let req = self.request(
            tenant,
            GetPricesRequest {
                customer_family: family.to_owned(),
                item_ids: ids.iter().map(Uuid::to_string).collect(),
            },
        )?;
        self.client
            .clone()
            .get_prices(req)
            .await
            .map(|r| r.into_inner().prices)
            .map_err(failure)
    }

    /// An hour pack's definition; `Err(NotFound)` when there is none.
    pub async fn hour_pack(&self, tenant: Uuid, id: Uuid) -> Result<HourPack, Error> {
        let req = self.request(tenant, GetHourPackRequest { id: id.to_string() })?;
        self.client
            .clone()
            .get_hour_pack(req)
            .await
            .map_err(failure)?
            .into_inner()
            .hour_pack
            .ok_or_else(|| Error::not_found(format!("hour pack {id}")))
    }
}

fn failure(s: tonic::Status) -> Error {
    grpc::peer_failure("catalogue", s)
}
