//! The queue of writes to the ERP (`push_items`): one pending row per shop
//! record and connection, holding the newest snapshot; leased by the push
//! worker, then done, retried later, or dead.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use relais_platform::{
    context::timestamp,
    error::{Error, Result},
};
use relais_proto::connector as pb;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// A record to write, as queued.
pub struct NewItem<'a> {
    pub tenant: Uuid,
    pub connection: Uuid,
    pub entity: &'a str,
    pub internal_id: &'a str,
    /// Protobuf bytes of the record as its event carried it.
    pub snapshot: &'a [u8],
    pub shop_version: i64,
    pub cause: &'a str,
    pub traceparent: Option<&'a str>,
}

/// Queues the write, or refreshes the pending one with a newer snapshot
/// (an older event arriving late changes nothing).
pub async fn enqueue(conn: &mut PgConnection, item: &NewItem<'_>) -> Result<()> {
    sqlx::query(
        "insert into push_items (id, tenant_id, connection_id, entity, internal_id, snapshot,
             shop_version, status, cause, traceparent)
         values ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)
         on conflict (connection_id, entity, internal_id) where status = 'pending' do update
         set snapshot = case when excluded.shop_version >= push_items.shop_version
                             then excluded.snapshot else push_items.snapshot end,
             shop_version = greatest(push_items.shop_version, excluded.shop_version),
             -- A newer state gets its attempts afresh, and is due now.
             attempts = case when excluded.shop_version > push_items.shop_version
                             then 0 else push_items.attempts end,
             next_attempt_at = case when excluded.shop_version > push_items.shop_version
                                    then least(push_items.next_attempt_at, now())
                                    else push_items.next_attempt_at end,
             cause = excluded.cause, updated_at = now()",
    )
    .bind(Uuid::now_v7())
    .bind(item.tenant)
    .bind(item.connection)
    .bind(item.entity)
    .bind(item.internal_id)
    .bind(item.snapshot)
    .bind(item.shop_version)
    .bind(item.cause)
    .bind(item.traceparent)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Item {
    pub id: Uuid,
    pub tenant: Uuid,
    pub connection: Uuid,
    pub entity: String,
    pub internal_id: String,
    pub snapshot: Vec<u8>,
    pub shop_version: i64,
    /// Attempts before this one.
    pub attempts: i32,
    pub traceparent: Option<String>,
    /// This lease's token: the outcome is recorded only under it.
    pub lease: Uuid,
}

type Row = (
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    Vec<u8>,
    i64,
    i32,
    Option<String>,
    Uuid,
);

/// Leases up to `limit` due items for `lease` (other workers skip them
/// meanwhile; a crashed worker's lease runs out), oldest first. `in_flight`
/// holds the items this worker is writing (item id → connection): none of
/// them is leased again (a newer snapshot makes a leased item due at once),
/// and no connection gets more than `per_connection` in flight, so one
/// connection's stuck writes cannot take every slot.
pub async fn lease(
    pool: &PgPool,
    limit: i64,
    per_connection: i64,
    in_flight: &HashMap<Uuid, Uuid>,
    lease: Duration,
) -> Result<Vec<Item>> {
    let mut busy: HashMap<Uuid, i32> = HashMap::new();
    for connection in in_flight.values() {
        *busy.entry(*connection).or_default() += 1;
    }
    let (busy_connections, busy_counts): (Vec<Uuid>, Vec<i32>) = busy.into_iter().unzip();
    let writing: Vec<Uuid> = in_flight.keys().copied().collect();
    let rows: Vec<Row> = sqlx::query_as(
        // Each enabled connection's oldest due items, as many as it has
        // free slots (a paused connection's writes wait for it); then the
        // oldest of those. The update checks again that the item is due:
        // another worker's lease may have won meanwhile.
        "update push_items set next_attempt_at = now() + $2 * interval '1 millisecond',
             lease = gen_random_uuid()
         where id in (select due.id from connections c
                      left join unnest($4::uuid[], $5::int[]) as busy (connection_id, n)
                        on busy.connection_id = c.id
                      cross join lateral (
                          select p.id, p.next_attempt_at from push_items p
                          where p.connection_id = c.id and p.status = 'pending'
                            and p.next_attempt_at <= now() and p.id <> all($6)
                          order by p.next_attempt_at, p.id
                          limit greatest($3 - coalesce(busy.n, 0), 0)
                          for update of p skip locked) due
                      where c.enabled
                      order by due.next_attempt_at, due.id limit $1)
           and status = 'pending' and next_attempt_at <= now()
         returning id, tenant_id, connection_id, entity, internal_id, snapshot, shop_version,
                   attempts, traceparent, lease",
    )
    .bind(limit)
    .bind(lease.as_millis() as i64)
    .bind(per_connection)
    .bind(&busy_connections)
    .bind(&busy_counts)
    .bind(&writing)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Item {
            id: r.0,
            tenant: r.1,
            connection: r.2,
            entity: r.3,
            internal_id: r.4,
            snapshot: r.5,
            shop_version: r.6,
            attempts: r.7,
            traceparent: r.8,
            lease: r.9,
        })
        .collect())
}

/// Done, unless a newer snapshot arrived while it was written: then it
/// stays pending, due now, to write that one.
pub async fn done(db: impl PgExecutor<'_>, item: &Item) -> Result<()> {
    sqlx::query(
        "update push_items
         set status = case when shop_version = $2 then 'done' else 'pending' end,
             next_attempt_at = now(), attempts = case when shop_version = $2 then attempts + 1 else 0 end,
             last_error = null, updated_at = now()
         where id = $1 and lease = $3",
    )
    .bind(item.id)
    .bind(item.shop_version)
    .bind(item.lease)
    .execute(db)
    .await?;
    Ok(())
}

/// Tried again after `delay`; `counted`: the attempt counts towards the
/// last one (not when the write only waited for another writer).
pub async fn retry_later(
    db: impl PgExecutor<'_>,
    item: &Item,
    delay: Duration,
    error: &str,
    counted: bool,
) -> Result<()> {
    sqlx::query(
        "update push_items set last_error = $2,
             attempts = case when shop_version = $4 then attempts + $6 else 0 end,
             next_attempt_at = case when shop_version = $4
                                    then now() + $3 * interval '1 millisecond' else now() end,
             updated_at = now()
         where id = $1 and lease = $5",
    )
    .bind(item.id)
    .bind(error)
    .bind(delay.as_millis() as i64)
    .bind(item.shop_version)
    .bind(item.lease)
    .bind(i32::from(counted))
    .execute(db)
    .await?;
    Ok(())
}

/// The write is given up: a dead letter in `push_items`, and on the
/// dead-letter stream (`<ns>.deadletter.connector.erp-writes`, a
/// `relais.connector.v1.DeadLetter`) through the outbox, in the same
/// transaction, for operators' alerting.
pub async fn dead(
    pool: &PgPool,
    outbox: &relais_platform::outbox::Outbox,
    ns: &relais_platform::nats::Namespace,
    item: &Item,
    error: &str,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let died: Option<(i32, DateTime<Utc>)> = sqlx::query_as(
        // A newer state that arrived during the last attempt is tried on its
        // own instead of dying with the old one.
        "update push_items
         set status = case when shop_version = $3 then 'dead' else 'pending' end,
             attempts = case when shop_version = $3 then attempts + 1 else 0 end,
             next_attempt_at = now(), last_error = $2, updated_at = now()
         where id = $1 and lease = $4
         returning attempts, updated_at",
    )
    .bind(item.id)
    .bind(error)
    .bind(item.shop_version)
    .bind(item.lease)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((attempts, at)) = died.filter(|(a, _)| *a > 0) {
        let letter = pb::DeadLetter {
            id: item.id.to_string(),
            connection_id: item.connection.to_string(),
            entity: item.entity.clone(),
            internal_id: item.internal_id.clone(),
            attempts,
            error: error.to_owned(),
            failed_at: Some(timestamp(at)),
        };
        let event = relais_platform::outbox::OutboxEvent::new(
            ns.dead_letter_subject(crate::config::SERVICE, DEAD_LETTER_SOURCE),
            item.id,
            prost::Message::encode_to_vec(&letter),
        );
        relais_platform::outbox::enqueue(&mut tx, &event).await?;
    }
    outbox.commit(tx).await?;
    Ok(())
}

/// The name the connector's ERP writes go by on the dead-letter stream.
pub const DEAD_LETTER_SOURCE: &str = "erp-writes";

/// Dead letters of a connection, oldest first.
/// A page of the connection's dead letters, oldest first (ids are
/// time-ordered), after `after`.
pub async fn dead_letters(
    db: impl PgExecutor<'_>,
    connection: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<pb::DeadLetter>> {
    type DeadRow = (Uuid, String, String, i32, Option<String>, DateTime<Utc>);
    let rows: Vec<DeadRow> = sqlx::query_as(
        "select id, entity, internal_id, attempts, last_error, updated_at from push_items
         where connection_id = $1 and status = 'dead' and ($2::uuid is null or id > $2)
         order by id limit $3",
    )
    .bind(connection)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| pb::DeadLetter {
            id: r.0.to_string(),
            connection_id: connection.to_string(),
            entity: r.1,
            internal_id: r.2,
            attempts: r.3,
            error: r.4.unwrap_or_default(),
            failed_at: Some(timestamp(r.5)),
        })
        .collect())
}

/// Back in the queue, due now, its attempts counted afresh. If the record
/// has another write pending already, that one carries the newer state and
/// the dead letter is simply folded into it.
pub async fn replay(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<()> {
    let row: Option<(Uuid, String, String)> = sqlx::query_as(
        "select connection_id, entity, internal_id from push_items
         where id = $1 and tenant_id = $2 and status = 'dead' for update",
    )
    .bind(id)
    .bind(tenant)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((connection, entity, internal_id)) = row else {
        return Err(Error::not_found(format!("dead letter {id}")));
    };
    let pending: bool = sqlx::query_scalar(
        "select exists (select 1 from push_items where connection_id = $1 and entity = $2
                        and internal_id = $3 and status = 'pending')",
    )
    .bind(connection)
    .bind(&entity)
    .bind(&internal_id)
    .fetch_one(&mut *conn)
    .await?;
    let status = if pending { "done" } else { "pending" };
    sqlx::query(
        "update push_items set status = $2, attempts = 0, next_attempt_at = now(),
             updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(status)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Per enabled connection: the age in seconds of its oldest pending push
/// item (0 when none), and when one of its pulls last succeeded (Unix
/// seconds; None if never). Read from the tables, so every replica exports
/// the same and a restart forgets nothing.
pub async fn connection_health(db: impl PgExecutor<'_>) -> Result<Vec<(Uuid, f64, Option<f64>)>> {
    Ok(sqlx::query_as(
        "select c.id,
                coalesce((select extract(epoch from now() - min(p.created_at))::float8
                          from push_items p where p.connection_id = c.id and p.status = 'pending'), 0),
                (select extract(epoch from max(r.finished_at))::float8
                 from runs r where r.connection_id = c.id and r.status = 'succeeded')
         from connections c where c.enabled",
    )
    .fetch_all(db)
    .await?)
}

/// Writes waiting (pending) across every connection, for the metrics.
pub async fn backlog(db: impl PgExecutor<'_>) -> Result<i64> {
    Ok(
        sqlx::query_scalar("select count(*) from push_items where status = 'pending'")
            .fetch_one(db)
            .await?,
    )
}
