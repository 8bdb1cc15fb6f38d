//! Pulls on their family's schedule: each tick, a family whose next time
//! after its last run (or the connection's creation) has come runs now.
//! Replicas may tick together: a family runs once at a time (the running
//! run blocks a second), and a run that just finished moves the next time.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::{connections, cron::Schedule, pull, runs, shared::Shared};

pub async fn run(shared: Shared, tick: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        if let Err(e) = due(&shared, &shutdown).await {
            tracing::warn!(error = %e, "scheduler tick failed");
        }
    }
}

async fn due(shared: &Shared, shutdown: &CancellationToken) -> relais_platform::error::Result<()> {
    for c in connections::all_enabled(&shared.pool).await? {
        verify_if_due(shared, &c).await;
        for f in &c.settings.families {
            if f.schedule.is_empty() || !c.pulls(&f.family) || shutdown.is_cancelled() {
                continue;
            }
            let Ok(schedule) = Schedule::parse(&f.schedule) else {
                continue;
            };
            let last = runs::last_started(&shared.pool, c.id, &f.family)
                .await?
                .unwrap_or(c.created_at);
            if schedule
                .next_after(last)
                .is_none_or(|next| next > Utc::now())
            {
                continue;
            }
            match pull::run(shared, &c, &f.family, false, "schedule", None).await {
                Ok(run) => tracing::debug!(run = %run.id, "scheduled run done"),
                Err(e) => {
                    tracing::warn!(connection = %c.name, family = %f.family, error = %e, "scheduled run not done")
                }
            }
        }
    }
    Ok(())
}

/// Verifies `c` (a report, no repair) when the last verify is older than
/// `verify_every`; an ERP that cannot be verified is skipped quietly.
async fn verify_if_due(shared: &Shared, c: &connections::Connection) {
    if shared.verify_every.is_zero() {
        return;
    }
    let last = match runs::last_started(&shared.pool, c.id, "verify").await {
        Ok(last) => last.unwrap_or(c.created_at),
        Err(e) => {
            tracing::warn!(error = %e, "last verify unreadable");
            return;
        }
    };
    let due = chrono::Duration::from_std(shared.verify_every)
        .ok()
        .and_then(|every| last.checked_add_signed(every))
        .is_some_and(|next| next <= Utc::now());
    if !due {
        return;
    }
    // On its own: a large connection's verify holds up no pull. A second
    // verify of the connection is refused while one runs.
    let (shared, c) = (shared.clone(), c.clone());
    shared.runs.clone().spawn(async move {
        match crate::verify::verify(&shared, &c, false, "schedule").await {
            Ok(_) | Err(relais_platform::error::Error::FailedPrecondition(_)) => {}
            Err(e) => tracing::warn!(connection = %c.name, error = %e, "scheduled verify not done"),
        }
    });
}
