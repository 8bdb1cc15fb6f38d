//! How a gRPC handler writes: the effect and its events in one transaction,
//! committed through the outbox; creating calls once per idempotency key.

use sqlx::{PgConnection, PgPool};
use tonic::{Response, Status};

use crate::{
    error::Result,
    idempotency::{self, Claim, KeyOwner},
    outbox::Outbox,
};

#[derive(Clone)]
pub struct Writer {
    pub pool: PgPool,
    pub outbox: Outbox,
}

impl Writer {
    pub fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }

    /// Runs a creating call once per `key` of `owner` (docs/architecture.md §3): a replay
    /// returns the stored answer without running `effect`.
    pub async fn create_once<Req, Resp, F>(
        &self,
        owner: &KeyOwner,
        operation: &str,
        key: &str,
        request: &Req,
        effect: F,
    ) -> Result<Resp>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
        F: AsyncFnOnce(&mut PgConnection) -> Result<Resp>,
    {
        let mut tx = self.pool.begin().await?;
        if let Claim::Replay(resp) =
            idempotency::claim(&mut tx, owner, operation, key, request).await?
        {
            return Ok(resp);
        }
        let resp = effect(&mut tx).await?;
        idempotency::complete(&mut tx, owner, operation, key, &resp).await?;
        self.outbox.commit(tx).await?;
        Ok(resp)
    }

    /// Runs a change in one transaction with its events.
    pub async fn change<Resp, F>(&self, effect: F) -> Result<Resp>
    where
        F: AsyncFnOnce(&mut PgConnection) -> Result<Resp>,
    {
        let mut tx = self.pool.begin().await?;
        let resp = effect(&mut tx).await?;
        self.outbox.commit(tx).await?;
        Ok(resp)
    }
}

/// A handler's result as a gRPC answer (errors through the one mapping).
pub fn reply<T>(r: Result<T>) -> std::result::Result<Response<T>, Status> {
    r.map(Response::new).map_err(Status::from)
}

/// Cuts the extra row a list asked for (`limit` = page size + 1) and makes
/// the token of the next page from the last row kept.
pub fn cut_page<T>(mut items: Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> (Vec<T>, String) {
    let size = usize::try_from(limit - 1).unwrap_or(0);
    if items.len() > size {
        items.truncate(size);
        let token = items.last().map(id).unwrap_or_default();
        (items, token)
    } else {
        (items, String::new())
    }
}
