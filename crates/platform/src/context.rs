//! Who is acting on which tenant, and how a change becomes an event:
//! every service stamps the same `EventMeta` and publishes through the
//! outbox on `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`.

use prost::{Message, Name};
use relais_proto::events::EventMeta;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    auth::Caller,
    nats::Namespace,
    outbox::{self, OutboxEvent},
};

#[derive(Clone, Debug)]
pub struct Ctx {
    /// The producing service: the second token of every subject.
    pub service: &'static str,
    pub tenant: Uuid,
    pub origin: String,
    pub actor: String,
    /// Whose idempotency keys this call uses.
    pub keys: crate::idempotency::KeyOwner,
    pub ns: Namespace,
}

impl Ctx {
    pub fn new(service: &'static str, caller: &Caller, ns: &Namespace) -> Self {
        Self {
            service,
            tenant: caller.tenant,
            origin: caller.origin(),
            actor: caller.subject.clone(),
            keys: crate::idempotency::KeyOwner::of(caller),
            ns: ns.clone(),
        }
    }

    /// Acting on another service's event: its tenant and origin (so an ERP
    /// change stays an ERP change downstream), `actor` naming what caused it.
    pub fn for_event(
        service: &'static str,
        event: &EventMeta,
        ns: &Namespace,
        actor: String,
    ) -> Result<Self, uuid::Error> {
        let tenant = Uuid::parse_str(&event.tenant_id)?;
        Ok(Self {
            service,
            tenant,
            origin: event.origin.clone(),
            keys: crate::idempotency::KeyOwner {
                tenant,
                caller: format!("{service}:{actor}"),
            },
            actor,
            ns: ns.clone(),
        })
    }

    /// A service's own background work (a payment run, a schedule): on the
    /// shop's side, `actor` naming the job.
    pub fn system(service: &'static str, tenant: Uuid, ns: &Namespace, actor: String) -> Self {
        Self {
            service,
            tenant,
            origin: crate::auth::SHOP_ORIGIN.into(),
            keys: crate::idempotency::KeyOwner {
                tenant,
                caller: format!("{service}:{actor}"),
            },
            actor,
            ns: ns.clone(),
        }
    }

    pub fn meta(&self, aggregate_id: Uuid, version: i64) -> EventMeta {
        EventMeta {
            event_id: Uuid::now_v7().to_string(),
            tenant_id: self.tenant.to_string(),
            aggregate_id: aggregate_id.to_string(),
            aggregate_version: version,
            occurred_at: Some(now()),
            origin: self.origin.clone(),
            actor: self.actor.clone(),
        }
    }

    /// Adds the event to the caller's transaction, on
    /// `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`.
    ///
    /// The event must be declared in `proto/relais/events/v1` (the file's
    /// `publisher` and the message's `published_as` options), the list
    /// docs/asyncapi.yaml is written from: debug builds, so every test,
    /// panic on one that is not.
    pub async fn emit<P: Message + Name>(
        &self,
        conn: &mut PgConnection,
        aggregate: &str,
        event: &str,
        meta: &EventMeta,
        payload: &P,
    ) -> sqlx::Result<()> {
        debug_assert!(
            relais_proto::published::declares(self.service, aggregate, event, &P::full_name()),
            "{}: {aggregate}.{event} carrying {} is not declared in proto/relais/events/v1: \
             add `option (relais.events.v1.published_as) = \"{aggregate}.{event}\";` to the \
             message (and regenerate docs/asyncapi.yaml)",
            self.service,
            P::full_name(),
        );
        let id = Uuid::parse_str(&meta.event_id).unwrap_or_else(|_| Uuid::now_v7());
        let e = OutboxEvent {
            id,
            subject: self.ns.subject(self.service, self.tenant, aggregate, event),
            aggregate_id: meta.aggregate_id.clone(),
            payload: payload.encode_to_vec(),
        };
        outbox::enqueue(conn, &e).await
    }
}

pub fn now() -> prost_types::Timestamp {
    timestamp(chrono::Utc::now())
}

pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}
