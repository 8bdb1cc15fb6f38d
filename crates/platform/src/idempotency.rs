//! Idempotency keys for creating calls (docs/architecture.md §3), one helper for every
//! service. Inside the transaction of the effect:
//!
//! ```text
//! match idempotency::claim(&mut tx, &who, "CreateProduct", key, &request).await? {
//!     Claim::Replay(response) => return Ok(response),   // same key, same request
//!     Claim::Fresh => {}
//! }
//! ... effects ...
//! idempotency::complete(&mut tx, &who, "CreateProduct", key, &response).await?;
//! ```
//!
//! The key row is inserted first: a concurrent call with the same key waits
//! on the primary key until the first commits, then replays its answer (or
//! goes ahead if the first rolled back). The same key with another request
//! is INVALID_ARGUMENT. An empty key means no idempotency.
//!
//! A key is the caller's own ([`KeyOwner`]: tenant and who in it): another
//! caller sending the same key and request gets its own fresh result, never
//! the first caller's stored answer, which may hold their personal data.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    auth::Caller,
    error::{Error, Result},
};

/// Whose keys: the tenant and the caller in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant: Uuid,
    pub caller: String,
}

impl KeyOwner {
    pub fn of(caller: &Caller) -> Self {
        Self {
            tenant: caller.tenant,
            caller: caller.identity(),
        }
    }
}

pub enum Claim<R> {
    /// First use of the key: perform the effect, then [`complete`].
    Fresh,
    /// The key was used with this request: here is the answer given then.
    Replay(R),
}

pub async fn claim<Req: Message, Resp: Message + Default>(
    conn: &mut PgConnection,
    owner: &KeyOwner,
    operation: &str,
    key: &str,
    request: &Req,
) -> Result<Claim<Resp>> {
    if key.is_empty() {
        return Ok(Claim::Fresh);
    }
    if key.len() > 255 {
        return Err(Error::invalid("idempotency_key", "at most 255 characters"));
    }
    let hash = Sha256::digest(request.encode_to_vec()).to_vec();
    let inserted = sqlx::query(
        "insert into idempotency_keys (tenant_id, caller, operation, key, request_hash)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(owner.tenant)
    .bind(&owner.caller)
    .bind(operation)
    .bind(key)
    .bind(&hash)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        return Ok(Claim::Fresh);
    }
    let (stored_hash, response): (Vec<u8>, Option<Vec<u8>>) = sqlx::query_as(
        "select request_hash, response from idempotency_keys
         where tenant_id = $1 and caller = $2 and operation = $3 and key = $4",
    )
    .bind(owner.tenant)
    .bind(&owner.caller)
    .bind(operation)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if stored_hash != hash {
        return Err(Error::invalid(
            "idempotency_key",
            "already used with a different request",
        ));
    }
    let Some(bytes) = response else {
        return Err(Error::Aborted(
            "a request with this idempotency key is still in progress".into(),
        ));
    };
    Resp::decode(bytes.as_slice())
        .map(Claim::Replay)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("stored idempotent response: {e}")))
}

pub async fn complete<Resp: Message>(
    conn: &mut PgConnection,
    owner: &KeyOwner,
    operation: &str,
    key: &str,
    response: &Resp,
) -> Result<()> {
    if key.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update idempotency_keys set response = $5
         where tenant_id = $1 and caller = $2 and operation = $3 and key = $4",
    )
    .bind(owner.tenant)
    .bind(&owner.caller)
    .bind(operation)
    .bind(key)
    .bind(response.encode_to_vec())
    .execute(conn)
    .await?;
    Ok(())
}
