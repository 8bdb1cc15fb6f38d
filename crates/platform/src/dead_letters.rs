//! Dead letters once stored (crate::consumer records them): listed, and
//! replayed through the handler that failed them, which each service's
//! consumers register ([`Consumers`]) for its MessagingService.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use sqlx::PgPool;
use uuid::Uuid;

use crate::consumer::{ConsumerSpec, Delivery, Handler, handle_in_inbox};

/// A dead letter as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: Uuid,
    pub consumer: String,
    pub event_id: Uuid,
    pub subject: String,
    pub error: String,
    pub attempts: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub replayed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Dead letters of `consumer` not yet replayed, oldest first.
pub async fn pending_dead_letters(pool: &PgPool, consumer: &str) -> sqlx::Result<Vec<DeadLetter>> {
    sqlx::query_as(
        "select id, consumer, event_id, subject, error, attempts, created_at, replayed_at
         from dead_letters where consumer = $1 and replayed_at is null order by created_at",
    )
    .bind(consumer)
    .fetch_all(pool)
    .await
}

/// Why a replay did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no dead letter {0} is waiting to be replayed")]
    NotWaiting(Uuid),
    /// The handler failed again: the dead letter stays, with this error.
    #[error("the replay failed again: {0}")]
    Failed(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Runs a dead letter through `handler` again (once its cause is fixed), in
/// the inbox transaction, and marks it replayed. When the handler fails
/// again, the dead letter stays waiting with the new error and one more
/// attempt counted.
pub async fn replay_dead_letter<H: Handler>(
    pool: &PgPool,
    service: &str,
    handler: &H,
    id: Uuid,
) -> Result<(), ReplayError> {
    let row: Option<(String, Uuid, String, Vec<u8>, serde_json::Value, i32)> = sqlx::query_as(
        "select consumer, event_id, subject, payload, headers, attempts from dead_letters
         where id = $1 and replayed_at is null",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((consumer, event_id, subject, payload, headers, attempts)) = row else {
        return Err(ReplayError::NotWaiting(id));
    };
    let delivery = Delivery {
        event_id,
        subject,
        payload: Bytes::from(payload),
        headers: serde_json::from_value(headers).unwrap_or_default(),
        attempt: i64::from(attempts) + 1,
    };
    if let Err(e) = handle_in_inbox(pool, service, &consumer, handler, &delivery).await {
        let error = e.to_string();
        sqlx::query("update dead_letters set error = $2, attempts = attempts + 1 where id = $1")
            .bind(id)
            .bind(&error)
            .execute(pool)
            .await?;
        return Err(ReplayError::Failed(error));
    }
    sqlx::query("update dead_letters set replayed_at = now() where id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// A consumer's handler as its service's MessagingService replays through
/// it: the object-safe face of a [`Handler`].
trait Replay: Send + Sync {
    fn replay<'a>(
        &'a self,
        pool: &'a PgPool,
        id: Uuid,
    ) -> futures::future::BoxFuture<'a, Result<(), ReplayError>>;
}

struct Replayer<H> {
    service: String,
    handler: Arc<H>,
}

impl<H: Handler> Replay for Replayer<H> {
    fn replay<'a>(
        &'a self,
        pool: &'a PgPool,
        id: Uuid,
    ) -> futures::future::BoxFuture<'a, Result<(), ReplayError>> {
        replay_dead_letter(pool, &self.service, self.handler.as_ref(), id).boxed()
    }
}

/// A consumer a service runs, as its MessagingService shows it.
#[derive(Clone)]
pub struct Registered {
    pub name: String,
    /// The producing service whose stream it reads.
    pub source_service: String,
    replay: Arc<dyn Replay>,
}

impl Registered {
    pub async fn replay(&self, pool: &PgPool, id: Uuid) -> Result<(), ReplayError> {
        self.replay.replay(pool, id).await
    }
}

/// The consumers a service runs, by durable name: registered as they are
/// made ([`crate::runtime::Runtime::consumer`]), so that the service's
/// dead letters are listed per consumer and replayed through the handler
/// that failed them.
#[derive(Clone, Default)]
pub struct Consumers(Arc<std::sync::RwLock<std::collections::BTreeMap<String, Registered>>>);

impl Consumers {
    pub fn register<H: Handler>(&self, spec: &ConsumerSpec, handler: Arc<H>) {
        let registered = Registered {
            name: spec.name.clone(),
            source_service: spec.source_service.clone(),
            replay: Arc::new(Replayer {
                service: spec.service.clone(),
                handler,
            }),
        };
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(spec.name.clone(), registered);
    }

    pub fn get(&self, name: &str) -> Option<Registered> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every registered consumer, by name.
    pub fn all(&self) -> Vec<Registered> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}
