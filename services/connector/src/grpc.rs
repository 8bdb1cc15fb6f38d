//! `relais.connector.v1.ConnectorService`: authenticate, parse, act.

use std::pin::Pin;

use futures::Stream;
use relais_platform::{
    auth::{self, Caller, Role},
    error::{Error, Result},
    idempotency::{self, Claim},
    validate,
    write::{cut_page, reply},
};
use relais_proto::connector::{self as pb, connector_service_server::ConnectorService};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{bindings, connections, pull, queue, runs, shared::Shared};

type Reply<T> = std::result::Result<Response<T>, Status>;

pub struct ConnectorApi {
    shared: Shared,
}

impl ConnectorApi {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared }
    }

    /// Connections, mappings and runs are the admins' to manage.
    fn admin<T>(&self, req: &Request<T>) -> Result<Caller> {
        let caller = auth::caller(req)?;
        caller.require(&[Role::Admin])?;
        Ok(caller)
    }

    /// The office (admins) follows the sync. Not residence staff: bindings,
    /// dead letters and conflicts hold customers' fields from every
    /// residence, and staff see only their own residents (docs/access.md).
    fn reader<T>(&self, req: &Request<T>) -> Result<Caller> {
        let caller = auth::caller(req)?;
        caller.require(&[Role::Admin])?;
        Ok(caller)
    }

    /// A connection reaches only what its tenant may: a CSV folder inside
    /// the tenant's exchange folder, an ERP at an address the egress policy
    /// allows.
    async fn check_endpoint(&self, caller: &Caller, f: &connections::Fields) -> Result<()> {
        let checked = if f.adapter == connections::AdapterKind::Csv {
            crate::adapters::csv_exchange::tenant_folder(
                self.shared.erps.exchange_root(),
                caller.tenant,
                &f.endpoint,
            )
            .map(drop)
        } else {
            self.shared.erps.egress().check_url(&f.endpoint).await
        };
        checked.map_err(|e| Error::invalid("fields.endpoint", e))
    }

    /// The credentials given with the call, sealed for connection `id`.
    fn seal(
        &self,
        caller: &Caller,
        id: Uuid,
        f: &connections::Fields,
    ) -> Result<Option<crate::secrets::Sealed>> {
        if f.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.shared.erps.keys().seal(
            caller.tenant,
            id,
            &f.secret,
        )?))
    }

    async fn connection(&self, caller: &Caller, id: &str) -> Result<connections::Connection> {
        let id = validate::id("connection_id", id)?;
        connections::get(&self.shared.pool, caller.tenant, id).await
    }
}

type RunStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::RunSyncResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ConnectorService for ConnectorApi {
    async fn create_connection(
        &self,
        req: Request<pb::CreateConnectionRequest>,
    ) -> Reply<pb::CreateConnectionResponse> {
        reply(
            async {
                let caller = self.admin(&req)?;
                let r = req.get_ref();
                let fields = connections::parse(r.fields.as_ref(), true)?;
                self.check_endpoint(&caller, &fields).await?;
                let keys = idempotency::KeyOwner::of(&caller);
                let mut tx = self.shared.pool.begin().await?;
                if let Claim::Replay(resp) = idempotency::claim(
                    &mut tx,
                    &keys,
                    "CreateConnection",
                    &r.idempotency_key,
                    r,
                )
                .await?
                {
                    return Ok(resp);
                }
                let id = Uuid::now_v7();
                let sealed = self.seal(&caller, id, &fields)?;
                let c =
                    connections::create(&mut tx, caller.tenant, id, &fields, sealed.as_ref())
                        .await?;
                let resp = pb::CreateConnectionResponse {
                    connection: Some(c.to_pb()),
                };
                idempotency::complete(
                    &mut tx,
                    &keys,
                    "CreateConnection",
                    &r.idempotency_key,
                    &resp,
                )
                .await?;
                tx.commit().await?;
                if c.adapter == connections::AdapterKind::Csv {
                    // The exchange's folders exist at once, for the ERP's
                    // first export; if they cannot be made now, the first
                    // sync says why.
                    if let Err(e) = self.shared.erps.get(&c, self.shared.push.erp_timeout).await {
                        tracing::warn!(connection = %c.name, error = %e, "exchange folders not made");
                    }
                }
                Ok(resp)
            }
            .await,
        )
    }

    async fn update_connection(
        &self,
        req: Request<pb::UpdateConnectionRequest>,
    ) -> Reply<pb::UpdateConnectionResponse> {
        reply(
            async {
                let caller = self.admin(&req)?;
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                let fields = connections::parse(r.fields.as_ref(), false)?;
                self.check_endpoint(&caller, &fields).await?;
                let sealed = self.seal(&caller, id, &fields)?;
                let mut tx = self.shared.pool.begin().await?;
                let c = connections::update(
                    &mut tx,
                    caller.tenant,
                    id,
                    r.expected_version,
                    &fields,
                    sealed.as_ref(),
                )
                .await?;
                tx.commit().await?;
                Ok(pb::UpdateConnectionResponse {
                    connection: Some(c.to_pb()),
                })
            }
            .await,
        )
    }

    async fn list_connections(
        &self,
        req: Request<pb::ListConnectionsRequest>,
    ) -> Reply<pb::ListConnectionsResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let list = connections::list(&self.shared.pool, caller.tenant).await?;
                Ok(pb::ListConnectionsResponse {
                    connections: list.iter().map(connections::Connection::to_pb).collect(),
                })
            }
            .await,
        )
    }

    async fn set_tariff_mapping(
        &self,
        req: Request<pb::SetTariffMappingRequest>,
    ) -> Reply<pb::SetTariffMappingResponse> {
        reply(
            async {
                let caller = self.admin(&req)?;
                let r = req.get_ref();
                let c = self.connection(&caller, &r.connection_id).await?;
                let service = validate::id("service_id", &r.service_id)?;
                let tariff = r.tariff_id.trim();
                if tariff.len() > 100 {
                    return Err(Error::invalid("tariff_id", "at most 100 characters"));
                }
                // The mapping turns ERP tariffs into workers' skills and
                // bookings into ERP tariffs: it may name only a service of
                // the caller's tenant, never another tenant's or none.
                match self.shared.peers.is_service(caller.tenant, service).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(Error::invalid(
                            "service_id",
                            "is not a service of the tenant",
                        ));
                    }
                    Err(e) => return Err(Error::Unavailable(e.to_string())),
                }
                bindings::set_tariff(&self.shared.pool, c.id, service, tariff).await?;
                Ok(pb::SetTariffMappingResponse {})
            }
            .await,
        )
    }

    async fn list_tariff_mappings(
        &self,
        req: Request<pb::ListTariffMappingsRequest>,
    ) -> Reply<pb::ListTariffMappingsResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let c = self
                    .connection(&caller, &req.get_ref().connection_id)
                    .await?;
                let mappings = bindings::tariffs(&self.shared.pool, c.id)
                    .await?
                    .into_iter()
                    .map(|(s, t)| pb::TariffMapping {
                        service_id: s.to_string(),
                        tariff_id: t,
                    })
                    .collect();
                Ok(pb::ListTariffMappingsResponse { mappings })
            }
            .await,
        )
    }

    type RunSyncStream = RunStream;

    async fn run_sync(&self, req: Request<pb::RunSyncRequest>) -> Reply<Self::RunSyncStream> {
        let (c, family, full) = reply(
            async {
                let caller = self.admin(&req)?;
                let r = req.get_ref();
                let c = self.connection(&caller, &r.connection_id).await?;
                let family = r.family.trim().to_owned();
                pull::check(&c, &family, r.full)?;
                Ok((c, family, r.full))
            }
            .await,
        )?
        .into_inner();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<runs::Run>(16);
        let (out_tx, out_rx) = tokio::sync::mpsc::channel(16);
        let shared = self.shared.clone();
        // The run is its own task: it goes on to its end (and is recorded)
        // if the caller goes away; the service waits for it when stopping.
        let runs = self.shared.runs.clone();
        let running = runs
            .spawn(async move { pull::run(&shared, &c, &family, full, "manual", Some(tx)).await });
        tokio::spawn(async move {
            let mut listening = true;
            while let Some(run) = rx.recv().await {
                let msg = pb::RunSyncResponse {
                    finished: run.finished_at.is_some(),
                    run: Some(run.to_pb()),
                };
                listening = listening && out_tx.send(Ok(msg)).await.is_ok();
            }
            match running.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    let _ = out_tx.send(Err(Status::from(e))).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "sync run task failed");
                    let _ = out_tx.send(Err(Status::internal("internal error"))).await;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out_rx),
        )))
    }

    async fn list_runs(&self, req: Request<pb::ListRunsRequest>) -> Reply<pb::ListRunsResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let r = req.get_ref();
                let c = self.connection(&caller, &r.connection_id).await?;
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let before = validate::page_token(&page.page_token)?;
                let list = runs::list(&self.shared.pool, c.id, before, limit).await?;
                let (list, next) = cut_page(list, limit, |r| r.id.to_string());
                Ok(pb::ListRunsResponse {
                    runs: list.iter().map(runs::Run::to_pb).collect(),
                    next_page_token: next,
                })
            }
            .await,
        )
    }

    async fn list_bindings(
        &self,
        req: Request<pb::ListBindingsRequest>,
    ) -> Reply<pb::ListBindingsResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let r = req.get_ref();
                let c = self.connection(&caller, &r.connection_id).await?;
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = bindings::page_key(&page.page_token)?;
                let list =
                    bindings::list(&self.shared.pool, c.id, r.entity.trim(), after, limit).await?;
                let (list, next) = cut_page(list, limit, bindings::page_token);
                Ok(pb::ListBindingsResponse {
                    bindings: list.iter().map(bindings::Binding::to_pb).collect(),
                    next_page_token: next,
                })
            }
            .await,
        )
    }

    async fn list_dead_letters(
        &self,
        req: Request<pb::ListDeadLettersRequest>,
    ) -> Reply<pb::ListDeadLettersResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let r = req.get_ref();
                let c = self.connection(&caller, &r.connection_id).await?;
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let list = queue::dead_letters(&self.shared.pool, c.id, after, limit).await?;
                let (list, next) = cut_page(list, limit, |d| d.id.clone());
                Ok(pb::ListDeadLettersResponse {
                    dead_letters: list,
                    next_page_token: next,
                })
            }
            .await,
        )
    }

    async fn replay_dead_letter(
        &self,
        req: Request<pb::ReplayDeadLetterRequest>,
    ) -> Reply<pb::ReplayDeadLetterResponse> {
        reply(
            async {
                let caller = self.admin(&req)?;
                let id: Uuid = validate::id("id", &req.get_ref().id)?;
                let mut tx = self.shared.pool.begin().await?;
                queue::replay(&mut tx, caller.tenant, id).await?;
                tx.commit().await?;
                self.shared.wake.notify_one();
                Ok(pb::ReplayDeadLetterResponse {})
            }
            .await,
        )
    }

    async fn list_conflicts(
        &self,
        req: Request<pb::ListConflictsRequest>,
    ) -> Reply<pb::ListConflictsResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let r = req.get_ref();
                let c = self.connection(&caller, &r.connection_id).await?;
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let before = validate::page_token(&page.page_token)?;
                let list =
                    runs::conflicts(&self.shared.pool, c.id, r.open_only, before, limit).await?;
                let (list, next) = cut_page(list, limit, |c| c.id.clone());
                Ok(pb::ListConflictsResponse {
                    conflicts: list,
                    next_page_token: next,
                })
            }
            .await,
        )
    }

    async fn resolve_conflict(
        &self,
        req: Request<pb::ResolveConflictRequest>,
    ) -> Reply<pb::ResolveConflictResponse> {
        reply(
            async {
                let caller = self.admin(&req)?;
                let r = req.get_ref();
                let id: Uuid = validate::id("id", &r.id)?;
                let side = match pb::ConflictSide::try_from(r.winner) {
                    Ok(pb::ConflictSide::Shop) => crate::resolve::Side::Shop,
                    Ok(pb::ConflictSide::Erp) => crate::resolve::Side::Erp,
                    _ => {
                        return Err(Error::invalid(
                            "winner",
                            "CONFLICT_SIDE_SHOP or CONFLICT_SIDE_ERP",
                        ));
                    }
                };
                Ok(pb::ResolveConflictResponse {
                    conflict: Some(crate::resolve::resolve(&self.shared, &caller, id, side).await?),
                })
            }
            .await,
        )
    }

    async fn verify(&self, req: Request<pb::VerifyRequest>) -> Reply<pb::VerifyResponse> {
        reply(
            async {
                let caller = self.admin(&req)?;
                let r = req.get_ref();
                let id: Uuid = validate::id("connection_id", &r.connection_id)?;
                let c = crate::connections::get(&self.shared.pool, caller.tenant, id).await?;
                if !c.enabled {
                    return Err(Error::FailedPrecondition(format!(
                        "connection {} is disabled",
                        c.name
                    )));
                }
                Ok(pb::VerifyResponse {
                    report: Some(
                        crate::verify::verify(&self.shared, &c, r.repair, "manual").await?,
                    ),
                })
            }
            .await,
        )
    }
}
