//! Planning, asked over gRPC whether the worker a customer chose can do the
//! service they book: the worker exists, is active and has the skill.
//! Whether they are free is planning's to settle when it plans the booking
//! (an occurrence they cannot take stays unassigned, with the reason).

use std::time::Duration;

use chrono::{DateTime, Utc};
use relais_platform::context::timestamp;
use relais_platform::{
    auth::Authenticator,
    error::{Error, Result},
    grpc,
};
use relais_proto::planning::{
    CheckSlotsRequest, CheckSlotsResponse, FindAvailableWorkersRequest, GetPackBalanceRequest,
    GetWorkerRequest, ListPackBalancesRequest, PackBalance, PackStatus, TimeSlot,
    planning_service_client::PlanningServiceClient,
};
use tonic::transport::Channel;
use uuid::Uuid;

#[derive(Clone)]
pub struct Planning {
    client: PlanningServiceClient<Channel>,
    auth: Authenticator,
}

impl Planning {
    /// Connects lazily, like the catalogue client: bookings with a chosen
    /// worker fail with UNAVAILABLE while planning is down; the rest go on.
    pub fn new(addr: &str, auth: Authenticator) -> anyhow::Result<Self> {
        let channel = relais_platform::grpc::peer_channel(addr, Duration::from_secs(5))?;
        Ok(Self {
            client: PlanningServiceClient::new(channel),
            auth,
        })
    }

    pub async fn check_worker(
        &self,
        tenant: Uuid,
        worker: Uuid,
        service: Uuid,
        service_ref: &str,
    ) -> Result<()> {
        let req = grpc::service_request(
            &self.auth,
            tenant,
            "orders",
            GetWorkerRequest {
                id: worker.to_string(),
            },
        )?;
        let found = match self.client.clone().get_worker(req).await {
            Ok(r) => r.into_inner().worker,
            Err(s) => match grpc::peer_failure("planning", s) {
                Error::NotFound(_) => None,
                other => return Err(other),
            },
        };
        let Some(fields) = found.and_then(|w| w.fields) else {
            return Err(Error::invalid("worker_id", "no such worker"));
        };
        let name = format!("{} {}", fields.first_name, fields.last_name);
        if !fields.active {
            return Err(Error::invalid(
                "worker_id",
                format!("{name} is not taking bookings"),
            ));
        }
        if !fields.skill_service_ids.contains(&service.to_string()) {
            return Err(Error::invalid(
                "worker_id",
                format!("{name} does not do {service_ref}: choose another worker or any"),
            ));
        }
        Ok(())
    }

    /// Whether `worker` is free for `[start, end)`: within their hours, not
    /// away, not booked (planning's FindAvailableWorkers).
    pub async fn is_free(
        &self,
        tenant: Uuid,
        worker: Uuid,
        service: Uuid,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<bool> {
        let req = grpc::service_request(
            &self.auth,
            tenant,
            "orders",
            FindAvailableWorkersRequest {
                service_id: service.to_string(),
                start: Some(timestamp(start)),
                end: Some(timestamp(end)),
            },
        )?;
        let free = self
            .client
            .clone()
            .find_available_workers(req)
            .await
            .map_err(|s| grpc::peer_failure("planning", s))?
            .into_inner()
            .workers;
        Ok(free.iter().any(|w| w.id == worker.to_string()))
    }

    /// For each occurrence, who could take it (only `worker` when chosen)
    /// or why nobody can, and the next free slots after the first nobody
    /// can take (planning's CheckSlots).
    pub async fn check_slots(
        &self,
        tenant: Uuid,
        service: Uuid,
        worker: Option<Uuid>,
        slots: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<CheckSlotsResponse> {
        let req = grpc::service_request(
            &self.auth,
            tenant,
            "orders",
            CheckSlotsRequest {
                service_id: service.to_string(),
                worker_id: worker.map(|w| w.to_string()).unwrap_or_default(),
                slots: slots
                    .iter()
                    .map(|(s, e)| TimeSlot {
                        start: Some(timestamp(*s)),
                        end: Some(timestamp(*e)),
                    })
                    .collect(),
            },
        )?;
        Ok(self
            .client
            .clone()
            .check_slots(req)
            .await
            .map_err(|s| grpc::peer_failure("planning", s))?
            .into_inner())
    }

    /// The ledger's balance of a pack purchase; None while planning has not
    /// opened it yet (the purchase's confirmation is still on its way).
    pub async fn pack_balance(
        &self,
        tenant: Uuid,
        pack_order: Uuid,
    ) -> Result<Option<PackBalance>> {
        let req = grpc::service_request(
            &self.auth,
            tenant,
            "orders",
            GetPackBalanceRequest {
                pack_order_id: pack_order.to_string(),
            },
        )?;
        match self.client.clone().get_pack_balance(req).await {
            Ok(r) => Ok(r.into_inner().balance),
            Err(s) => match grpc::peer_failure("planning", s) {
                Error::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The customer's open packs, oldest first, as the ledger has them.
    pub async fn open_packs(&self, tenant: Uuid, customer: Uuid) -> Result<Vec<PackBalance>> {
        let req = grpc::service_request(
            &self.auth,
            tenant,
            "orders",
            ListPackBalancesRequest {
                customer_id: customer.to_string(),
            },
        )?;
        Ok(self
            .client
            .clone()
            .list_pack_balances(req)
            .await
            .map_err(|s| grpc::peer_failure("planning", s))?
            .into_inner()
            .balances
            .into_iter()
            .filter(|b| b.status == PackStatus::Open as i32)
            .collect())
    }
}
