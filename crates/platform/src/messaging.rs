//! MessagingService (proto/relais/messaging/v1): what every service answers
//! about its own messaging, for the caller's tenant: its consumers' dead
//! letters, listed and replayed through the handler that failed them, and
//! its outbox backlog. Served by [`crate::runtime::Runtime::serve`] beside
//! each service's API, so it is written once for all of them.

use chrono::{DateTime, Utc};
use relais_proto::messaging::{self as pb, messaging_service_server::MessagingService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    auth::{Caller, Role, caller},
    context::timestamp,
    dead_letters::{Consumers, ReplayError},
    error::{Error, Result},
    outbox, validate,
    write::{cut_page, reply},
};

#[derive(Clone)]
pub struct MessagingApi {
    service: &'static str,
    pool: PgPool,
    consumers: Consumers,
}

#[derive(sqlx::FromRow)]
struct DeadLetterRow {
    id: Uuid,
    consumer: String,
    event_id: Uuid,
    subject: String,
    error: String,
    attempts: i32,
    created_at: DateTime<Utc>,
    replayed_at: Option<DateTime<Utc>>,
}

impl DeadLetterRow {
    fn to_pb(&self) -> pb::DeadLetter {
        pb::DeadLetter {
            id: self.id.to_string(),
            consumer: self.consumer.clone(),
            event_id: self.event_id.to_string(),
            subject: self.subject.clone(),
            error: self.error.clone(),
            attempts: self.attempts,
            failed_at: Some(timestamp(self.created_at)),
            replayed_at: self.replayed_at.map(timestamp),
        }
    }
}

impl MessagingApi {
    pub fn new(service: &'static str, pool: PgPool, consumers: Consumers) -> Self {
        Self {
            service,
            pool,
            consumers,
        }
    }

    /// Dead letters and backlogs are the office's (docs/access.md): they
    /// hold events of every residence.
    fn admin<T>(req: &Request<T>) -> Result<Caller> {
        let caller = caller(req)?;
        caller.require(&[Role::Admin])?;
        Ok(caller)
    }

    /// The tenant's dead letter `id`, as if absent when it is another's.
    async fn dead_letter(&self, tenant: Uuid, id: Uuid) -> Result<DeadLetterRow> {
        sqlx::query_as(
            "select id, consumer, event_id, subject, error, attempts, created_at, replayed_at
             from dead_letters where id = $1 and tenant = $2",
        )
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::not_found(format!("dead letter {id}")))
    }

    fn known_consumer(&self, field: &str, name: &str) -> Result<()> {
        if self.consumers.get(name).is_some() {
            return Ok(());
        }
        let names: Vec<String> = self.consumers.all().into_iter().map(|c| c.name).collect();
        Err(Error::invalid(
            field,
            if names.is_empty() {
                format!("{} runs no consumer", self.service)
            } else {
                format!(
                    "is not a consumer of {}: one of {}",
                    self.service,
                    names.join(", ")
                )
            },
        ))
    }
}

#[tonic::async_trait]
impl MessagingService for MessagingApi {
    async fn list_dead_letters(
        &self,
        req: Request<pb::ListDeadLettersRequest>,
    ) -> std::result::Result<Response<pb::ListDeadLettersResponse>, Status> {
        reply(
            async {
                let caller = Self::admin(&req)?;
                let r = req.get_ref();
                let consumer = r.consumer.trim();
                if !consumer.is_empty() {
                    self.known_consumer("consumer", consumer)?;
                }
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let rows: Vec<DeadLetterRow> = sqlx::query_as(
                    "select id, consumer, event_id, subject, error, attempts, created_at, replayed_at
                     from dead_letters
                     where tenant = $1 and ($2 = '' or consumer = $2) and ($3 or replayed_at is null)
                       and ($4::uuid is null or id > $4)
                     order by id limit $5",
                )
                .bind(caller.tenant)
                .bind(consumer)
                .bind(r.include_replayed)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let (rows, next_page_token) = cut_page(rows, limit, |d| d.id.to_string());
                Ok(pb::ListDeadLettersResponse {
                    dead_letters: rows.iter().map(DeadLetterRow::to_pb).collect(),
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn replay_dead_letter(
        &self,
        req: Request<pb::ReplayDeadLetterRequest>,
    ) -> std::result::Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        reply(
            async {
                let caller = Self::admin(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let dead = self.dead_letter(caller.tenant, id).await?;
                if dead.replayed_at.is_some() {
                    return Err(Error::FailedPrecondition(format!(
                        "dead letter {id} was already replayed"
                    )));
                }
                // A consumer no longer run by this version of the service
                // has no handler to replay through.
                let consumer = self.consumers.get(&dead.consumer).ok_or_else(|| {
                    Error::FailedPrecondition(format!(
                        "{} no longer runs the consumer {}",
                        self.service, dead.consumer
                    ))
                })?;
                match consumer.replay(&self.pool, id).await {
                    Ok(()) => {}
                    Err(ReplayError::NotWaiting(_)) => {
                        return Err(Error::FailedPrecondition(format!(
                            "dead letter {id} was already replayed"
                        )));
                    }
                    Err(ReplayError::Failed(e)) => {
                        return Err(Error::FailedPrecondition(format!(
                            "the replay failed again, the dead letter stays: {e}"
                        )));
                    }
                    Err(ReplayError::Db(e)) => return Err(e.into()),
                }
                let dead = self.dead_letter(caller.tenant, id).await?;
                tracing::info!(dead_letter = %id, consumer = %dead.consumer, by = %caller.identity(), "dead letter replayed");
                Ok(pb::ReplayDeadLetterResponse {
                    dead_letter: Some(dead.to_pb()),
                })
            }
            .await,
        )
    }

    async fn get_backlog(
        &self,
        req: Request<pb::GetBacklogRequest>,
    ) -> std::result::Result<Response<pb::GetBacklogResponse>, Status> {
        reply(
            async {
                let caller = Self::admin(&req)?;
                let (unpublished, oldest) =
                    outbox::tenant_backlog(&self.pool, caller.tenant).await?;
                let waiting: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
                    "select consumer, count(*), min(created_at) from dead_letters
                     where tenant = $1 and replayed_at is null group by consumer",
                )
                .bind(caller.tenant)
                .fetch_all(&self.pool)
                .await?;
                let consumers = self
                    .consumers
                    .all()
                    .into_iter()
                    .map(|c| {
                        let (count, oldest) = waiting
                            .iter()
                            .find(|(name, _, _)| *name == c.name)
                            .map(|(_, n, at)| (*n, *at))
                            .unwrap_or((0, None));
                        pb::ConsumerBacklog {
                            consumer: c.name,
                            source_service: c.source_service,
                            dead_letters: count,
                            oldest_dead_letter_at: oldest.map(timestamp),
                        }
                    })
                    .collect();
                Ok(pb::GetBacklogResponse {
                    service: self.service.to_owned(),
                    outbox_unpublished: unpublished,
                    outbox_oldest_seconds: oldest,
                    consumers,
                })
            }
            .await,
        )
    }
}
