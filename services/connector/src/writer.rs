//! What every write goes through: `Push`, one connection's writes (its
//! open adapter and what the service shares), used by the push worker,
//! pulls, reconciles, `verify` and staff settling a conflict; why a write
//! did not happen; the claim one writer takes on a creation.

use std::time::Duration;

use uuid::Uuid;

use crate::{
    adapter::ErpError, adapters::Erp, connections::Connection, merge::Side, peers::PeerError,
    shared::Shared,
};

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// May succeed later (the ERP or a service is down): retried.
    #[error("{0}")]
    Retry(String),
    /// Will fail the same way until someone acts: a dead letter at once.
    #[error("{0}")]
    Fatal(String),
    /// Another writer is making the record: tried again soon, the attempt
    /// not counted.
    #[error("{0}")]
    Busy(String),
    /// The bound record is gone from one side (deleted in the ERP, say):
    /// nothing to bring in step until someone acts.
    #[error("{1}")]
    Gone(Side, String),
}

impl From<ErpError> for PushError {
    fn from(e: ErpError) -> Self {
        if e.retryable() {
            PushError::Retry(e.to_string())
        } else {
            PushError::Fatal(e.to_string())
        }
    }
}

impl From<PeerError> for PushError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::Unavailable(m) => PushError::Retry(m),
            other => PushError::Fatal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for PushError {
    fn from(e: sqlx::Error) -> Self {
        PushError::Retry(format!("database: {e}"))
    }
}

impl From<relais_platform::error::Error> for PushError {
    fn from(e: relais_platform::error::Error) -> Self {
        PushError::Retry(format!("{e:#}"))
    }
}

/// One connection's writes.
pub struct Push<'a> {
    pub shared: &'a Shared,
    pub c: &'a Connection,
    pub erp: &'a Erp,
}

/// The creation of one reference, claimed (migration create_claims) by one
/// writer, which releases it when done; dropped unreleased (the write cut
/// short by its time budget), it is released in the background.
pub(crate) struct CreationClaim {
    pool: sqlx::PgPool,
    connection: Uuid,
    reference: String,
    token: Uuid,
    released: bool,
}

impl CreationClaim {
    /// None while another writer holds it; a claim older than `stale` (its
    /// writer died) is taken over.
    pub(crate) async fn take(
        pool: &sqlx::PgPool,
        connection: Uuid,
        reference: &str,
        stale: Duration,
    ) -> Result<Option<Self>, PushError> {
        let token = Uuid::now_v7();
        let claimed: Option<i32> = sqlx::query_scalar(
            "insert into create_claims (connection_id, reference, token) values ($1, $2, $4)
             on conflict (connection_id, reference) do update
             set claimed_at = now(), token = excluded.token
             where create_claims.claimed_at < now() - $3 * interval '1 millisecond'
             returning 1",
        )
        .bind(connection)
        .bind(reference)
        .bind(stale.as_millis() as i64)
        .bind(token)
        .fetch_optional(pool)
        .await
        .map_err(|e| PushError::Retry(format!("claiming {reference}: {e}")))?;
        Ok(claimed.map(|_| Self {
            pool: pool.clone(),
            connection,
            reference: reference.to_owned(),
            token,
            released: false,
        }))
    }

    pub(crate) async fn release(mut self) {
        self.released = true;
        release_claim(&self.pool, self.connection, &self.reference, self.token).await;
    }
}

impl Drop for CreationClaim {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (pool, connection, reference, token) = (
            self.pool.clone(),
            self.connection,
            std::mem::take(&mut self.reference),
            self.token,
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { release_claim(&pool, connection, &reference, token).await });
        }
    }
}

/// Only this writer's claim; left behind, it delays a later writer until
/// it is stale.
async fn release_claim(pool: &sqlx::PgPool, connection: Uuid, reference: &str, token: Uuid) {
    if let Err(e) = sqlx::query(
        "delete from create_claims where connection_id = $1 and reference = $2 and token = $3",
    )
    .bind(connection)
    .bind(reference)
    .bind(token)
    .execute(pool)
    .await
    {
        tracing::warn!(error = %e, reference, "creation claim not released");
    }
}
