//! What the API, the push worker, the pulls and the scheduler hold in
//! common.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{adapters::Erps, availability, config::PushConfig, peers};

/// What the API, the push worker, the pulls and the scheduler share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub pool: sqlx::PgPool,
    pub peers: peers::Peers,
    pub push: PushConfig,
    /// Wakes the push worker after a commit that queued writes.
    pub wake: Arc<tokio::sync::Notify>,
    pub erps: Erps,
    /// ERP documents go to billing as events on the connector's stream.
    pub outbox: relais_platform::outbox::Outbox,
    pub ns: relais_platform::nats::Namespace,
    /// Cancelled when the service stops: runs end between two pages
    /// (recorded as interrupted) instead of outliving it.
    pub stop: CancellationToken,
    /// Runs started by RunSync: the service waits for them (closed as
    /// interrupted) before it closes its pool.
    pub runs: tokio_util::task::TaskTracker,
    /// Given to ERP workers whose record carries no availability.
    pub opening_hours: availability::OpeningHours,
    /// How often each connection is verified (zero: never).
    pub verify_every: Duration,
}
