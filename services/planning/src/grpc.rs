//! `relais.planning.v1.PlanningService`: authenticate, parse, run the
//! domain function in a transaction with its events, commit through the
//! outbox.
//!
//! One file though it is past 500 lines: tonic wants the service as one
//! `impl` block, and each method is only the call's own checks (who may,
//! which fields) around one domain call. Split by method, every method
//! would become a forwarder to another file; the domain work is already
//! elsewhere (workers, absences, interventions, free_workers, changes,
//! ledger, exports).

use chrono::{DateTime, Utc};
use relais_platform::{
    access::{self, Membership, Scope},
    auth::{self, Caller, Role},
    context::Ctx,
    error::{Error, Result, Violations},
    nats::Namespace,
    outbox::Outbox,
    validate,
    write::{Writer, cut_page, reply},
};
use relais_proto::planning::{self as pb, planning_service_server::PlanningService};
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use std::pin::Pin;

use futures::Stream;

use crate::{
    SERVICE, absences, catalogue::Catalogue, changes, exports, free_workers, interventions, ledger,
    workers,
};

type Reply<T> = std::result::Result<Response<T>, Status>;

pub struct PlanningApi {
    pool: PgPool,
    writer: Writer,
    ns: Namespace,
    catalogue: Catalogue,
}

impl PlanningApi {
    pub fn new(pool: PgPool, outbox: Outbox, ns: Namespace, catalogue: Catalogue) -> Self {
        Self {
            writer: Writer::new(pool.clone(), outbox),
            pool,
            ns,
            catalogue,
        }
    }

    /// Workers are managed by the shop's staff, admins, services and the
    /// connector (ERP workers); customers only read their interventions.
    fn manager<T>(&self, req: &Request<T>) -> Result<(Caller, Ctx)> {
        let caller = auth::caller(req)?;
        caller.require(Caller::WRITERS)?;
        let ctx = Ctx::new(SERVICE, &caller, &self.ns);
        Ok((caller, ctx))
    }
}

/// The caller's scope over customers (relais_platform::access), staff
/// membership from planning's copy of the orders service's.
async fn scope(conn: &mut PgConnection, caller: &Caller) -> Result<Scope> {
    access::scope(conn, caller, Membership::Replica).await
}

/// A worker as `caller` may see them: customers choose a worker by name,
/// photo and skills, and never see their private e-mail and phone.
fn shown(caller: &Caller, mut w: pb::Worker) -> pb::Worker {
    if caller.role == Role::Customer
        && let Some(f) = w.fields.as_mut()
    {
        f.email.clear();
        f.phone.clear();
    }
    w
}

fn time(
    v: &mut Violations,
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    let Some(t) = t else {
        v.add(field, "is required");
        return None;
    };
    let parsed = DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX));
    v.check(parsed.is_none(), field, "is not a valid time");
    parsed
}

fn optional_time(
    v: &mut Violations,
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    t.is_some().then(|| time(v, field, t)).flatten()
}

/// A period `[start, end)`: both given, start before end, at most a year.
fn period(
    v: &mut Violations,
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (s, e) = (time(v, "start", start), time(v, "end", end));
    let (s, e) = (s?, e?);
    if e <= s {
        v.add("end", "must be after start");
        return None;
    }
    if e - s > chrono::Duration::days(366) {
        v.add("end", "a period of at most a year");
        return None;
    }
    Some((s, e))
}

#[tonic::async_trait]
impl PlanningService for PlanningApi {
    async fn create_worker(
        &self,
        req: Request<pb::CreateWorkerRequest>,
    ) -> Reply<pb::CreateWorkerResponse> {
        reply(
            async {
                let (_, ctx) = self.manager(&req)?;
                let r = req.get_ref();
                let input = workers::Input::parse(r.fields.as_ref())?;
                // Before the transaction: no connection is held while the
                // catalogue answers.
                self.catalogue
                    .check_skills(ctx.tenant, input.skills())
                    .await?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateWorker",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let worker = workers::create(tx, &ctx, input).await?;
                            Ok(pb::CreateWorkerResponse {
                                worker: Some(worker),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn update_worker(
        &self,
        req: Request<pb::UpdateWorkerRequest>,
    ) -> Reply<pb::UpdateWorkerResponse> {
        reply(
            async {
                let (_, ctx) = self.manager(&req)?;
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                let input = workers::Input::parse(r.fields.as_ref())?;
                // Every skill, kept or new: one stored before skills were
                // checked is refused until it is removed.
                self.catalogue
                    .check_skills(ctx.tenant, input.skills())
                    .await?;
                self.writer
                    .change(async |tx| {
                        let worker =
                            workers::update(tx, &ctx, id, r.expected_version, input).await?;
                        Ok(pb::UpdateWorkerResponse {
                            worker: Some(worker),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_worker(&self, req: Request<pb::GetWorkerRequest>) -> Reply<pb::GetWorkerResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let mut conn = self.pool.acquire().await?;
                let worker = workers::get(&mut conn, caller.tenant, id).await?;
                Ok(pb::GetWorkerResponse {
                    worker: Some(shown(&caller, worker)),
                })
            }
            .await,
        )
    }

    async fn list_workers(
        &self,
        req: Request<pb::ListWorkersRequest>,
    ) -> Reply<pb::ListWorkersResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let mut v = Violations::new();
                let skill = validate::optional_id(&mut v, "skill_service_id", &r.skill_service_id);
                v.into_result()?;
                let mut conn = self.pool.acquire().await?;
                let items =
                    workers::list(&mut conn, caller.tenant, skill, r.active_only, after, limit)
                        .await?;
                let (workers, next_page_token) = cut_page(items, limit, |w| w.id.clone());
                Ok(pb::ListWorkersResponse {
                    workers: workers.into_iter().map(|w| shown(&caller, w)).collect(),
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn add_absence(
        &self,
        req: Request<pb::AddAbsenceRequest>,
    ) -> Reply<pb::AddAbsenceResponse> {
        reply(
            async {
                let (_, ctx) = self.manager(&req)?;
                let r = req.get_ref();
                let mut v = Violations::new();
                v.check(r.worker_id.trim().is_empty(), "worker_id", "is required");
                let worker = validate::optional_id(&mut v, "worker_id", &r.worker_id);
                let during = period(&mut v, r.start.as_ref(), r.end.as_ref());
                let reason = validate::description(&mut v, "reason", &r.reason);
                v.into_result()?;
                let (Some(worker), Some((start, end))) = (worker, during) else {
                    return Err(Error::invalid("worker_id", "is required"));
                };
                self.writer
                    .change(async |tx| {
                        let absence =
                            absences::add_absence(tx, &ctx, worker, start, end, &reason).await?;
                        Ok(pb::AddAbsenceResponse {
                            absence: Some(absence),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn remove_absence(
        &self,
        req: Request<pb::RemoveAbsenceRequest>,
    ) -> Reply<pb::RemoveAbsenceResponse> {
        reply(
            async {
                let (_, ctx) = self.manager(&req)?;
                let r = req.get_ref();
                let worker = validate::id("worker_id", &r.worker_id)?;
                let id = validate::id("absence_id", &r.absence_id)?;
                self.writer
                    .change(async |tx| {
                        absences::remove_absence(tx, &ctx, worker, id).await?;
                        Ok(pb::RemoveAbsenceResponse {})
                    })
                    .await
            }
            .await,
        )
    }

    async fn list_absences(
        &self,
        req: Request<pb::ListAbsencesRequest>,
    ) -> Reply<pb::ListAbsencesResponse> {
        reply(
            async {
                let (caller, _) = self.manager(&req)?;
                let worker = validate::id("worker_id", &req.get_ref().worker_id)?;
                let mut conn = self.pool.acquire().await?;
                let absences = absences::absences(&mut conn, caller.tenant, worker).await?;
                Ok(pb::ListAbsencesResponse { absences })
            }
            .await,
        )
    }

    async fn list_interventions(
        &self,
        req: Request<pb::ListInterventionsRequest>,
    ) -> Reply<pb::ListInterventionsResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let mut v = Violations::new();
                let mut filter = interventions::Filter {
                    worker: validate::optional_id(&mut v, "worker_id", &r.worker_id),
                    customer: validate::optional_id(&mut v, "customer_id", &r.customer_id),
                    order: validate::optional_id(&mut v, "order_id", &r.order_id),
                    from: optional_time(&mut v, "from", r.from.as_ref()),
                    to: optional_time(&mut v, "to", r.to.as_ref()),
                    residences: None,
                    unassigned_only: r.unassigned_only,
                };
                // Customers read their own interventions, nobody else's.
                if let Some(me) = caller.own_customer(&r.customer_id)? {
                    filter.customer = Some(me);
                }
                v.check(
                    filter.worker.is_none()
                        && filter.customer.is_none()
                        && filter.order.is_none()
                        && !filter.unassigned_only,
                    "worker_id",
                    "name a worker, a customer or an order, or ask for the unassigned ones",
                );
                v.into_result()?;
                let mut conn = self.pool.acquire().await?;
                // Staff: only their residences' residents.
                filter.residences = scope(&mut conn, &caller).await?.only_residences();
                let items =
                    interventions::list(&mut conn, caller.tenant, &filter, after, limit).await?;
                let (interventions, next_page_token) = cut_page(items, limit, |i| i.id.clone());
                Ok(pb::ListInterventionsResponse {
                    interventions,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn find_available_workers(
        &self,
        req: Request<pb::FindAvailableWorkersRequest>,
    ) -> Reply<pb::FindAvailableWorkersResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let mut v = Violations::new();
                v.check(r.service_id.trim().is_empty(), "service_id", "is required");
                let service = validate::optional_id(&mut v, "service_id", &r.service_id);
                let slot = period(&mut v, r.start.as_ref(), r.end.as_ref());
                v.into_result()?;
                let (Some(service), Some((start, end))) = (service, slot) else {
                    return Err(Error::invalid("service_id", "is required"));
                };
                let mut conn = self.pool.acquire().await?;
                let workers =
                    free_workers::available(&mut conn, caller.tenant, service, start, end).await?;
                Ok(pb::FindAvailableWorkersResponse {
                    workers: workers.into_iter().map(|w| shown(&caller, w)).collect(),
                })
            }
            .await,
        )
    }

    async fn check_slots(
        &self,
        req: Request<pb::CheckSlotsRequest>,
    ) -> Reply<pb::CheckSlotsResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let mut v = Violations::new();
                v.check(r.service_id.trim().is_empty(), "service_id", "is required");
                let service = validate::optional_id(&mut v, "service_id", &r.service_id);
                let chosen = validate::optional_id(&mut v, "worker_id", &r.worker_id);
                v.check(r.slots.is_empty(), "slots", "is required");
                v.check(r.slots.len() > 1000, "slots", "at most 1000");
                let mut slots = Vec::with_capacity(r.slots.len());
                for (i, s) in r.slots.iter().enumerate().take(1000) {
                    let mut one = Violations::new();
                    if let Some((start, end)) = period(&mut one, s.start.as_ref(), s.end.as_ref()) {
                        one.check(
                            end - start > chrono::Duration::days(1),
                            "end",
                            "a slot of at most a day",
                        );
                        slots.push((start, end));
                    }
                    if let Err(bad) = one.into_result() {
                        for f in bad.into_fields() {
                            v.add(format!("slots[{i}].{}", f.field), f.description);
                        }
                    }
                }
                v.into_result()?;
                let Some(service) = service else {
                    return Err(Error::invalid("service_id", "is required"));
                };
                let mut conn = self.pool.acquire().await?;
                let (checks, next) = free_workers::check_slots(
                    &mut conn,
                    caller.tenant,
                    service,
                    chosen,
                    &slots,
                    chrono::Utc::now(),
                )
                .await?;
                let slot = |(s, e): (DateTime<Utc>, DateTime<Utc>)| pb::TimeSlot {
                    start: Some(relais_platform::context::timestamp(s)),
                    end: Some(relais_platform::context::timestamp(e)),
                };
                Ok(pb::CheckSlotsResponse {
                    slots: slots
                        .iter()
                        .zip(checks)
                        .map(|(s, c)| pb::SlotCheck {
                            slot: Some(slot(*s)),
                            free_worker_ids: c.free.iter().map(Uuid::to_string).collect(),
                            reason: c.reason,
                        })
                        .collect(),
                    next_free: next.into_iter().map(slot).collect(),
                })
            }
            .await,
        )
    }

    async fn change_interventions(
        &self,
        req: Request<pb::ChangeInterventionsRequest>,
    ) -> Reply<pb::ChangeInterventionsResponse> {
        reply(
            async {
                // Staff and the office change any of theirs; a customer
                // moves or cancels their own, within the notice.
                let caller = auth::caller(&req)?;
                let by_customer = caller.role == Role::Customer;
                if !by_customer {
                    caller.require(Caller::WRITERS)?;
                }
                let ctx = Ctx::new(SERVICE, &caller, &self.ns);
                let change = changes::Change::parse(req.get_ref())?;
                if by_customer {
                    change.customer_may()?;
                }
                {
                    let mut conn = self.pool.acquire().await?;
                    let what = format!("intervention {}", change.id());
                    let customer = interventions::customer_of(&mut conn, ctx.tenant, change.id())
                        .await?
                        .ok_or_else(|| Error::not_found(what.clone()))?;
                    scope(&mut conn, &caller)
                        .await?
                        .read(&mut conn, ctx.tenant, customer, Membership::Replica, what)
                        .await?;
                }
                self.writer
                    .change(async |tx| {
                        let interventions = changes::apply(tx, &ctx, change, by_customer).await?;
                        Ok(pb::ChangeInterventionsResponse { interventions })
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_pack_balance(
        &self,
        req: Request<pb::GetPackBalanceRequest>,
    ) -> Reply<pb::GetPackBalanceResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let pack = validate::id("pack_order_id", &req.get_ref().pack_order_id)?;
                let mut conn = self.pool.acquire().await?;
                let balance = ledger::get(&mut conn, caller.tenant, pack).await?;
                let customer = Uuid::parse_str(&balance.customer_id).unwrap_or_default();
                scope(&mut conn, &caller)
                    .await?
                    .read(
                        &mut conn,
                        caller.tenant,
                        customer,
                        Membership::Replica,
                        format!("pack {pack}"),
                    )
                    .await?;
                let interventions = interventions::of_pack(&mut conn, caller.tenant, pack).await?;
                Ok(pb::GetPackBalanceResponse {
                    balance: Some(balance),
                    interventions,
                })
            }
            .await,
        )
    }

    async fn list_pack_balances(
        &self,
        req: Request<pb::ListPackBalancesRequest>,
    ) -> Reply<pb::ListPackBalancesResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let customer = match caller.own_customer(&r.customer_id)? {
                    Some(me) => me,
                    None => validate::id("customer_id", &r.customer_id)?,
                };
                let mut conn = self.pool.acquire().await?;
                // A customer out of the caller's scope has no packs to show.
                let balances = if scope(&mut conn, &caller)
                    .await?
                    .sees(&mut conn, caller.tenant, customer, Membership::Replica)
                    .await?
                {
                    ledger::of_customer(&mut conn, caller.tenant, customer).await?
                } else {
                    vec![]
                };
                Ok(pb::ListPackBalancesResponse { balances })
            }
            .await,
        )
    }

    type ExportInterventionsStream = Pin<
        Box<dyn Stream<Item = std::result::Result<pb::ExportInterventionsResponse, Status>> + Send>,
    >;

    async fn export_interventions(
        &self,
        req: Request<pb::ExportInterventionsRequest>,
    ) -> Reply<Self::ExportInterventionsStream> {
        let (caller, filter) = reply(
            async {
                let (caller, _) = self.manager(&req)?;
                let r = req.get_ref();
                let mut v = Violations::new();
                let (from, to) = (
                    time(&mut v, "from", r.from.as_ref()),
                    time(&mut v, "to", r.to.as_ref()),
                );
                if let (Some(f), Some(t)) = (from, to) {
                    v.check(t <= f, "to", "must be after from");
                    v.check(
                        t - f > chrono::Duration::days(366),
                        "to",
                        "a period of at most a year",
                    );
                }
                let worker = validate::optional_id(&mut v, "worker_id", &r.worker_id);
                v.check(
                    r.provider.chars().count() > validate::MAX_TEXT,
                    "provider",
                    "at most 200 characters",
                );
                v.into_result()?;
                let (Some(from), Some(to)) = (from, to) else {
                    return Err(Error::invalid("from", "is required"));
                };
                let provider =
                    (!r.provider.trim().is_empty()).then(|| r.provider.trim().to_owned());
                // Staff: only their residences' residents.
                let residences = scope(&mut *self.pool.acquire().await?, &caller)
                    .await?
                    .only_residences();
                Ok((
                    caller,
                    exports::Filter {
                        from,
                        to,
                        provider,
                        worker,
                        done_only: r.done_only,
                        residences,
                    },
                ))
            }
            .await,
        )?
        .into_inner();
        let filter = std::sync::Arc::new(filter);
        let stream = relais_platform::grpc::page_stream(
            self.pool.clone(),
            0,
            move |mut conn, offset: i64| {
                let filter = filter.clone();
                async move {
                    let (data, more) =
                        exports::page(&mut conn, caller.tenant, &filter, offset).await?;
                    let next = more.then_some(offset + exports::PAGE);
                    Ok((pb::ExportInterventionsResponse { data }, next))
                }
            },
        );
        Ok(Response::new(stream))
    }
}
