//! The shop's services as the connector calls them: reading a record to
//! write it to the ERP (as a `service`), and applying an ERP change (as the
//! connection: a `connector` token naming it, so the change carries the
//! origin `erp:<name>` and is never echoed back).

use std::time::Duration;

use relais_platform::{
    auth::{Authenticator, Role},
    error::Error,
    grpc,
};
use relais_proto::{
    catalogue::{
        BulkUpsertRequest, BulkUpsertResponse, GetServiceRequest,
        catalogue_service_client::CatalogueServiceClient,
    },
    orders::{
        ChangeOrderStatusRequest, CreateCustomerRequest, Customer, CustomerFields,
        GetCustomerRequest, GetOrderRequest, ListCustomersRequest, Order, UpdateCustomerRequest,
        orders_service_client::OrdersServiceClient,
    },
    planning::{
        ChangeInterventionsRequest, CreateWorkerRequest, GetWorkerRequest, Intervention,
        ListInterventionsRequest, ListWorkersRequest, UpdateWorkerRequest, Worker, WorkerFields,
        planning_service_client::PlanningServiceClient,
    },
    types::PageRequest,
};
use tonic::{Code, Status, transport::Channel};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{0} not found")]
    NotFound(String),
    /// The service refused the change itself (invalid, conflicting).
    #[error("{peer} refused: {message}")]
    Refused { peer: &'static str, message: String },
    /// Down or busy: try again.
    #[error("{0}")]
    Unavailable(String),
}

impl PeerError {
    fn from_status(peer: &'static str, s: Status) -> Self {
        match s.code() {
            Code::NotFound => PeerError::NotFound(s.message().to_owned()),
            Code::InvalidArgument
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated => PeerError::Refused {
                peer,
                message: s.message().to_owned(),
            },
            _ => PeerError::Unavailable(format!("{peer}: {:?} {}", s.code(), s.message())),
        }
    }
}

type PeerResult<T> = Result<T, PeerError>;

#[derive(Clone)]
pub struct Peers {
    catalogue: CatalogueServiceClient<Channel>,
    orders: OrdersServiceClient<Channel>,
    planning: PlanningServiceClient<Channel>,
    auth: Authenticator,
}

fn channel(addr: &str) -> anyhow::Result<Channel> {
    relais_platform::grpc::peer_channel(addr, Duration::from_secs(10))
}

/// Who the call is made as.
pub enum As<'a> {
    /// Reading the shop's records.
    Service,
    /// Applying a change from this connection's ERP.
    Connection(&'a str),
}

impl Peers {
    pub fn new(
        catalogue: &str,
        orders: &str,
        planning: &str,
        auth: Authenticator,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            catalogue: CatalogueServiceClient::new(channel(catalogue)?),
            orders: OrdersServiceClient::new(channel(orders)?),
            planning: PlanningServiceClient::new(channel(planning)?),
            auth,
        })
    }

    fn request<T>(&self, tenant: Uuid, who: As<'_>, body: T) -> PeerResult<tonic::Request<T>> {
        let (role, connection) = match who {
            As::Service => (Role::Service, None),
            As::Connection(name) => (Role::Connector, Some(name)),
        };
        grpc::request_as(
            &self.auth,
            tenant,
            crate::config::SERVICE,
            role,
            connection,
            body,
        )
        .map_err(|e| PeerError::Unavailable(format!("request: {e}")))
    }

    /// Whether `id` is a service of `tenant`'s catalogue: another tenant's
    /// service, a product or an unknown id is not (the catalogue reads the
    /// tenant's rows only).
    pub async fn is_service(&self, tenant: Uuid, id: Uuid) -> PeerResult<bool> {
        let req = self.request(
            tenant,
            As::Service,
            GetServiceRequest { id: id.to_string() },
        )?;
        match self.catalogue.clone().get_service(req).await {
            Ok(_) => Ok(true),
            Err(s) if s.code() == Code::NotFound => Ok(false),
            Err(s) => Err(PeerError::from_status("catalogue", s)),
        }
    }

    /// The ERP's catalogue items applied through the catalogue's bulk
    /// import, each on its own (a refused item is answered with why, the
    /// others go on); the answers in the items' order.
    pub async fn bulk_catalogue(
        &self,
        tenant: Uuid,
        connection: &str,
        items: Vec<BulkUpsertRequest>,
    ) -> PeerResult<Vec<BulkUpsertResponse>> {
        let n = items.len();
        let req = self.request(
            tenant,
            As::Connection(connection),
            tokio_stream::iter(items),
        )?;
        let mut answers = self
            .catalogue
            .clone()
            .bulk_upsert(req)
            .await
            .map_err(|s| PeerError::from_status("catalogue", s))?
            .into_inner();
        let mut out = Vec::with_capacity(n);
        while let Some(a) = answers
            .message()
            .await
            .map_err(|s| PeerError::from_status("catalogue", s))?
        {
            out.push(a);
        }
        if out.len() != n {
            return Err(PeerError::Unavailable(format!(
                "catalogue answered {} of {n} items",
                out.len()
            )));
        }
        Ok(out)
    }

    pub async fn customer(&self, tenant: Uuid, id: &str) -> PeerResult<Customer> {
        let req = self.request(tenant, As::Service, GetCustomerRequest { id: id.into() })?;
        self.orders
            .clone()
            .get_customer(req)
            .await
            .map_err(|s| PeerError::from_status("orders", s))?
            .into_inner()
            .customer
            .ok_or_else(|| PeerError::NotFound(format!("customer {id}")))
    }

    pub async fn order(&self, tenant: Uuid, id: &str) -> PeerResult<Order> {
        let req = self.request(tenant, As::Service, GetOrderRequest { id: id.into() })?;
        self.orders
            .clone()
            .get_order(req)
            .await
            .map_err(|s| PeerError::from_status("orders", s))?
            .into_inner()
            .order
            .ok_or_else(|| PeerError::NotFound(format!("order {id}")))
    }

    /// Creates the ERP's customer in the shop (read-only there: only the
    /// connector changes it); `key` makes a retry find it.
    pub async fn create_customer(
        &self,
        tenant: Uuid,
        connection: &str,
        key: String,
        fields: CustomerFields,
    ) -> PeerResult<Customer> {
        let req = self.request(
            tenant,
            As::Connection(connection),
            CreateCustomerRequest {
                idempotency_key: key,
                fields: Some(fields),
            },
        )?;
        self.orders
            .clone()
            .create_customer(req)
            .await
            .map_err(|s| PeerError::from_status("orders", s))?
            .into_inner()
            .customer
            .ok_or_else(|| PeerError::Unavailable("orders answered no customer".into()))
    }

    pub async fn update_customer(
        &self,
        tenant: Uuid,
        connection: &str,
        id: &str,
        expected_version: i64,
        fields: CustomerFields,
    ) -> PeerResult<Customer> {
        let req = self.request(
            tenant,
            As::Connection(connection),
            UpdateCustomerRequest {
                id: id.into(),
                expected_version,
                fields: Some(fields),
            },
        )?;
        self.orders
            .clone()
            .update_customer(req)
            .await
            .map_err(|s| PeerError::from_status("orders", s))?
            .into_inner()
            .customer
            .ok_or_else(|| PeerError::Unavailable("orders answered no customer".into()))
    }

    /// An order's status as the ERP moved it (preparing, shipped...), as
    /// the connection.
    pub async fn change_order_status(
        &self,
        tenant: Uuid,
        connection: &str,
        change: ChangeOrderStatusRequest,
    ) -> PeerResult<Order> {
        let req = self.request(tenant, As::Connection(connection), change)?;
        self.orders
            .clone()
            .change_order_status(req)
            .await
            .map_err(|s| PeerError::from_status("orders", s))?
            .into_inner()
            .order
            .ok_or_else(|| PeerError::Unavailable("orders answered no order".into()))
    }

    /// A page of the tenant's customers (batch transfer).
    pub async fn customers(
        &self,
        tenant: Uuid,
        page_token: String,
    ) -> PeerResult<(Vec<Customer>, String)> {
        let req = self.request(
            tenant,
            As::Service,
            ListCustomersRequest {
                page: Some(PageRequest {
                    page_size: 200,
                    page_token,
                }),
                ..Default::default()
            },
        )?;
        let r = self
            .orders
            .clone()
            .list_customers(req)
            .await
            .map_err(|s| PeerError::from_status("orders", s))?
            .into_inner();
        Ok((r.customers, r.next_page_token))
    }

    pub async fn worker(&self, tenant: Uuid, id: &str) -> PeerResult<Worker> {
        let req = self.request(tenant, As::Service, GetWorkerRequest { id: id.into() })?;
        self.planning
            .clone()
            .get_worker(req)
            .await
            .map_err(|s| PeerError::from_status("planning", s))?
            .into_inner()
            .worker
            .ok_or_else(|| PeerError::NotFound(format!("worker {id}")))
    }

    /// A page of the tenant's workers (batch transfer).
    pub async fn workers(
        &self,
        tenant: Uuid,
        page_token: String,
    ) -> PeerResult<(Vec<Worker>, String)> {
        let req = self.request(
            tenant,
            As::Service,
            ListWorkersRequest {
                page: Some(PageRequest {
                    page_size: 200,
                    page_token,
                }),
                ..Default::default()
            },
        )?;
        let r = self
            .planning
            .clone()
            .list_workers(req)
            .await
            .map_err(|s| PeerError::from_status("planning", s))?
            .into_inner();
        Ok((r.workers, r.next_page_token))
    }

    /// Every intervention of a booking.
    pub async fn interventions_of_order(
        &self,
        tenant: Uuid,
        order_id: &str,
    ) -> PeerResult<Vec<Intervention>> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let req = self.request(
                tenant,
                As::Service,
                ListInterventionsRequest {
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token,
                    }),
                    order_id: order_id.into(),
                    ..Default::default()
                },
            )?;
            let r = self
                .planning
                .clone()
                .list_interventions(req)
                .await
                .map_err(|s| PeerError::from_status("planning", s))?
                .into_inner();
            all.extend(r.interventions);
            if r.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = r.next_page_token;
        }
    }

    /// A planning change from the ERP, as the connection.
    pub async fn change_intervention(
        &self,
        tenant: Uuid,
        connection: &str,
        change: ChangeInterventionsRequest,
    ) -> PeerResult<Vec<Intervention>> {
        let req = self.request(tenant, As::Connection(connection), change)?;
        Ok(self
            .planning
            .clone()
            .change_interventions(req)
            .await
            .map_err(|s| PeerError::from_status("planning", s))?
            .into_inner()
            .interventions)
    }

    /// Creates the ERP's worker in the shop; `key` makes a retry find it.
    pub async fn create_worker(
        &self,
        tenant: Uuid,
        connection: &str,
        key: String,
        fields: WorkerFields,
    ) -> PeerResult<Worker> {
        let req = self.request(
            tenant,
            As::Connection(connection),
            CreateWorkerRequest {
                idempotency_key: key,
                fields: Some(fields),
            },
        )?;
        self.planning
            .clone()
            .create_worker(req)
            .await
            .map_err(|s| PeerError::from_status("planning", s))?
            .into_inner()
            .worker
            .ok_or_else(|| PeerError::Unavailable("planning answered no worker".into()))
    }

    pub async fn update_worker(
        &self,
        tenant: Uuid,
        connection: &str,
        id: &str,
        expected_version: i64,
        fields: WorkerFields,
    ) -> PeerResult<Worker> {
        let req = self.request(
            tenant,
            As::Connection(connection),
            UpdateWorkerRequest {
                id: id.into(),
                expected_version,
                fields: Some(fields),
            },
        )?;
        self.planning
            .clone()
            .update_worker(req)
            .await
            .map_err(|s| PeerError::from_status("planning", s))?
            .into_inner()
            .worker
            .ok_or_else(|| PeerError::Unavailable("planning answered no worker".into()))
    }
}

/// A peer's error as the API's: unavailable stays so, anything else is
/// a precondition the caller must fix.
pub(crate) fn peer(e: PeerError) -> Error {
    match e {
        PeerError::Unavailable(m) => Error::Unavailable(m),
        other => Error::FailedPrecondition(other.to_string()),
    }
}
