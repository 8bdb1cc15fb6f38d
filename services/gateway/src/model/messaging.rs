//! What a service answers about its messaging (MessagingService): its
//! consumers' dead letters and its backlog, as the office sees them.

use chrono::{DateTime, Utc};
use relais_proto::messaging as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::time;

/// An event a service's consumer gave up on.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDeadLetter {
    pub id: String,
    /// The durable consumer, e.g. `planning-bookings`.
    pub consumer: String,
    /// The event's id (its `Nats-Msg-Id`).
    pub event_id: String,
    pub subject: String,
    /// The last attempt's error.
    pub error: String,
    pub attempts: i32,
    pub failed_at: Option<DateTime<Utc>>,
    /// Null while it waits to be replayed.
    pub replayed_at: Option<DateTime<Utc>>,
}

impl From<pb::DeadLetter> for EventDeadLetter {
    fn from(d: pb::DeadLetter) -> Self {
        Self {
            id: d.id,
            consumer: d.consumer,
            event_id: d.event_id,
            subject: d.subject,
            error: d.error,
            attempts: d.attempts,
            failed_at: time(d.failed_at),
            replayed_at: time(d.replayed_at),
        }
    }
}

/// A page of a service's dead letters, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDeadLetterPage {
    pub items: Vec<EventDeadLetter>,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// One consumer of a service, and what waits there.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsumerBacklog {
    pub consumer: String,
    /// The service whose events it reads.
    pub source_service: String,
    /// Dead letters waiting to be replayed.
    pub dead_letters: i64,
    pub oldest_dead_letter_at: Option<DateTime<Utc>>,
}

/// One service's backlog, for the caller's company.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceBacklog {
    pub service: String,
    /// False when the service did not answer (then the counts are 0).
    pub reachable: bool,
    /// Events committed and not yet published.
    pub outbox_unpublished: i64,
    /// Age of the oldest of them, in seconds.
    pub outbox_oldest_seconds: f64,
    pub consumers: Vec<ConsumerBacklog>,
}

impl ServiceBacklog {
    pub fn unreachable(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            reachable: false,
            outbox_unpublished: 0,
            outbox_oldest_seconds: 0.0,
            consumers: Vec::new(),
        }
    }
}

impl From<pb::GetBacklogResponse> for ServiceBacklog {
    fn from(b: pb::GetBacklogResponse) -> Self {
        Self {
            service: b.service,
            reachable: true,
            outbox_unpublished: b.outbox_unpublished,
            outbox_oldest_seconds: b.outbox_oldest_seconds,
            consumers: b
                .consumers
                .into_iter()
                .map(|c| ConsumerBacklog {
                    consumer: c.consumer,
                    source_service: c.source_service,
                    dead_letters: c.dead_letters,
                    oldest_dead_letter_at: time(c.oldest_dead_letter_at),
                })
                .collect(),
        }
    }
}

/// Every service's backlog.
#[derive(Debug, Serialize, ToSchema)]
pub struct Backlog {
    pub services: Vec<ServiceBacklog>,
}
