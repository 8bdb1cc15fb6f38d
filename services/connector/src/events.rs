//! The shop's changes, read from the orders and planning streams: each
//! changed record is queued for every connection that pushes its family,
//! in the inbox transaction (a redelivered event queues nothing twice). A
//! change that came from a connection's ERP is not queued for it: nothing
//! echoes back.

use std::sync::Arc;

use prost::Message;
use relais_platform::{
    consumer::{ConsumerSpec, Delivery, Handler, HandlerError},
    nats::Namespace,
};
use relais_proto::events::{
    CustomerChanged, InterventionChanged, OrderPlaced, OrderStatusChanged, WorkerChanged,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{config::SERVICE, connections, queue};

pub fn specs(ns: &Namespace, max_attempts: i64) -> Vec<ConsumerSpec> {
    let spec = |name: &str, source: &str, filters: Vec<String>| ConsumerSpec {
        service: SERVICE.into(),
        name: name.into(),
        source_service: source.into(),
        filter_subjects: filters,
        max_attempts,
        retry_base: std::time::Duration::from_millis(500),
    };
    vec![
        spec(
            "connector-orders",
            "orders",
            vec![
                ns.event_filter("orders", "customer", "*"),
                ns.event_filter("orders", "order", "*"),
            ],
        ),
        spec(
            "connector-planning",
            "planning",
            vec![
                ns.event_filter("planning", "worker", "created"),
                ns.event_filter("planning", "worker", "updated"),
                ns.event_filter("planning", "intervention", "*"),
            ],
        ),
    ]
}

pub struct ShopChanges {
    pub wake: Arc<tokio::sync::Notify>,
}

/// What an event asks to write: the entity, its family, the record.
struct Change {
    tenant: String,
    origin: String,
    entity: &'static str,
    family: &'static str,
    id: String,
    version: i64,
    snapshot: Vec<u8>,
}

fn decode<M: Message + Default>(d: &Delivery) -> Result<M, HandlerError> {
    M::decode(d.payload.as_ref()).map_err(HandlerError::poison)
}

/// `<ns>.<service>.v1.<tenant>.<aggregate>.<event>` -> (service, aggregate).
fn kind(subject: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = subject.rsplitn(6, '.').collect();
    // Reversed: event, aggregate, tenant, v1, service, ns.
    match parts.as_slice() {
        [_, aggregate, _, "v1", service, _] => Some((service, aggregate)),
        _ => None,
    }
}

fn change(d: &Delivery) -> Result<Option<Change>, HandlerError> {
    let Some((service, aggregate)) = kind(&d.subject) else {
        return Err(HandlerError::poison(format!(
            "unexpected subject {}",
            d.subject
        )));
    };
    let missing = || HandlerError::poison("event without its record");
    let c = match (service, aggregate) {
        ("orders", "customer") => {
            let e: CustomerChanged = decode(d)?;
            let (meta, c) = (e.meta.ok_or_else(missing)?, e.customer.ok_or_else(missing)?);
            Change {
                tenant: meta.tenant_id,
                origin: meta.origin,
                entity: "customer",
                family: "customers",
                id: c.id.clone(),
                version: c.version,
                snapshot: c.encode_to_vec(),
            }
        }
        ("orders", "order") => {
            let (meta, order) = if d.subject.ends_with(".placed") {
                let e: OrderPlaced = decode(d)?;
                (e.meta.ok_or_else(missing)?, e.order.ok_or_else(missing)?)
            } else {
                let e: OrderStatusChanged = decode(d)?;
                (e.meta.ok_or_else(missing)?, e.order.ok_or_else(missing)?)
            };
            let (entity, family) = match order.kind.as_str() {
                "booking" => ("quote", "bookings"),
                "product" => ("product_order", "orders"),
                // Pack purchases reach the ERP as their invoice.
                _ => return Ok(None),
            };
            Change {
                tenant: meta.tenant_id,
                origin: meta.origin,
                entity,
                family,
                id: order.id.clone(),
                version: order.version,
                snapshot: order.encode_to_vec(),
            }
        }
        ("planning", "worker") => {
            let e: WorkerChanged = decode(d)?;
            let (meta, w) = (e.meta.ok_or_else(missing)?, e.worker.ok_or_else(missing)?);
            Change {
                tenant: meta.tenant_id,
                origin: meta.origin,
                entity: "worker",
                family: "workers",
                id: w.id.clone(),
                version: w.version,
                snapshot: w.encode_to_vec(),
            }
        }
        ("planning", "intervention") => {
            let e: InterventionChanged = decode(d)?;
            let (meta, i) = (
                e.meta.ok_or_else(missing)?,
                e.intervention.ok_or_else(missing)?,
            );
            Change {
                tenant: meta.tenant_id,
                origin: meta.origin,
                entity: "intervention",
                family: "bookings",
                id: i.id.clone(),
                version: i.version,
                snapshot: i.encode_to_vec(),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(c))
}

impl Handler for ShopChanges {
    async fn handle(&self, tx: &mut PgConnection, d: &Delivery) -> Result<(), HandlerError> {
        let Some(c) = change(d)? else {
            return Ok(());
        };
        let tenant = Uuid::parse_str(&c.tenant).map_err(HandlerError::poison)?;
        let cause = d.event_id.to_string();
        // The push continues the trace under this consumer's span, not
        // beside it under the publish.
        let trace = relais_platform::telemetry::current_context_headers();
        let mut queued = false;
        for connection in connections::list(&mut *tx, tenant)
            .await
            .map_err(|e| HandlerError::Retry(e.into()))?
        {
            // An intervention's changes are the planning family's too.
            let pushes = connection.sends(c.family)
                || (c.entity == "intervention" && connection.sends("planning"));
            if !pushes || c.origin == connection.origin() {
                continue;
            }
            queue::enqueue(
                &mut *tx,
                &queue::NewItem {
                    tenant,
                    connection: connection.id,
                    entity: c.entity,
                    internal_id: &c.id,
                    snapshot: &c.snapshot,
                    shop_version: c.version,
                    cause: &cause,
                    traceparent: trace
                        .get("traceparent")
                        .or_else(|| d.headers.get("traceparent"))
                        .map(String::as_str),
                },
            )
            .await
            .map_err(|e| HandlerError::Retry(e.into()))?;
            queued = true;
        }
        if queued {
            // The worker looks once this transaction has committed: a
            // wake-up before that finds nothing, and the poll catches it.
            self.wake.notify_one();
        }
        Ok(())
    }
}
