//! The catalogue, asked over gRPC whether a worker's skills are services
//! (prestations) of the caller's tenant.
//!
//! A skill is a catalogue service id. Planning used to store any UUID it was
//! given, so one tenant's admin could give a worker another tenant's service
//! (and ListWorkers / FindAvailableWorkers then showed it), or an id that
//! exists nowhere. Every CreateWorker and UpdateWorker now asks the
//! catalogue, with a `service` token for the caller's tenant, before the
//! write; the catalogue answers from that tenant's rows only.
//!
//! Why a synchronous call rather than a local copy of each tenant's services
//! fed by `catalogue.*` events: a copy lags its stream, so a worker created
//! right after its service (the connector applies an ERP's tariffs, then its
//! workers; an admin creates a service, then a worker) would be refused for
//! a while, and the refusal would depend on consumer lag. The call is
//! always current, costs one round trip per worker write (workers change
//! rarely), and its failure is explicit: when the catalogue is down, worker
//! writes fail with UNAVAILABLE and everything else in planning keeps
//! working (the channel connects lazily, and readiness does not depend on
//! it). Services are never deleted nor moved between tenants, so a skill
//! that was checked stays a service of the tenant; an inactive service is
//! still accepted (an ERP may sync a worker whose tariff is paused).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use relais_platform::{
    auth::Authenticator,
    error::{Error, Result, Violations},
    grpc,
};
use relais_proto::catalogue::{
    GetPricesRequest, GetServiceRequest, catalogue_service_client::CatalogueServiceClient,
};
use tonic::{Code, transport::Channel};
use uuid::Uuid;

/// What a skill that is no service of the tenant is told.
pub const NOT_A_SERVICE: &str = "is not a service of the tenant";

#[derive(Clone)]
pub struct Catalogue {
    client: CatalogueServiceClient<Channel>,
    auth: Authenticator,
}

impl Catalogue {
    /// Connects lazily: planning starts (and serves everything but worker
    /// writes) while the catalogue is down.
    pub fn new(addr: &str, auth: Authenticator) -> anyhow::Result<Self> {
        let channel = relais_platform::grpc::peer_channel(addr, Duration::from_secs(5))?;
        Ok(Self {
            client: CatalogueServiceClient::new(channel),
            auth,
        })
    }

    fn request<T>(&self, tenant: Uuid, body: T) -> Result<tonic::Request<T>> {
        grpc::service_request(&self.auth, tenant, crate::SERVICE, body)
    }

    /// Ok when every id of `skills` is a service of `tenant`; otherwise
    /// INVALID_ARGUMENT on `fields.skill_service_ids[i]` for each one that
    /// is not (another tenant's, a product, or nothing at all).
    pub async fn check_skills(&self, tenant: Uuid, skills: &[Uuid]) -> Result<()> {
        if skills.is_empty() {
            return Ok(());
        }
        // One call for the usual case, all of them known: GetPrices reads
        // the tenant's products and services by id and says which is which.
        let req = self.request(
            tenant,
            GetPricesRequest {
                customer_family: String::new(),
                item_ids: skills.iter().map(Uuid::to_string).collect(),
            },
        )?;
        let known = match self.client.clone().get_prices(req).await {
            Ok(r) => r
                .into_inner()
                .prices
                .into_iter()
                .map(|p| p.kind == "service")
                .collect::<Vec<_>>(),
            // GetPrices names only the first unknown id; ask for each one
            // so that the caller hears of every bad skill at once (an
            // error path: at most a worker's 200 skills, 8 at a time).
            Err(s) if s.code() == Code::NotFound => {
                futures::stream::iter(skills.iter().copied().map(|id| self.is_service(tenant, id)))
                    .buffered(8)
                    .try_collect()
                    .await?
            }
            Err(s) => return Err(failure(s)),
        };
        // The catalogue answers one price per id asked, in order; anything
        // else is its fault, not the caller's.
        if known.len() != skills.len() {
            return Err(Error::Unavailable(
                "catalogue: an answer that does not match the question".into(),
            ));
        }
        let mut v = Violations::new();
        for (i, ok) in known.iter().enumerate() {
            v.check(
                !ok,
                &format!("fields.skill_service_ids[{i}]"),
                NOT_A_SERVICE,
            );
        }
        Ok(v.into_result()?)
    }

    async fn is_service(&self, tenant: Uuid, id: Uuid) -> Result<bool> {
        let req = self.request(tenant, GetServiceRequest { id: id.to_string() })?;
        match self.client.clone().get_service(req).await {
            Ok(_) => Ok(true),
            Err(s) if s.code() == Code::NotFound => Ok(false),
            Err(s) => Err(failure(s)),
        }
    }
}

fn failure(s: tonic::Status) -> Error {
    grpc::peer_failure("catalogue", s)
}
