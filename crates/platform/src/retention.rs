//! How long the platform's tables keep what they no longer need: published
//! outbox rows, handled inbox rows, idempotency keys and sent mails. The
//! active outbox relay runs [`prune`] (one pruner per service, under its
//! advisory lock); this module only knows the tables, not who calls it.

use std::time::Duration;

use anyhow::Context;
use sqlx::PgConnection;

/// What to prune, per service.
#[derive(Clone, Debug)]
pub struct Retention {
    /// Published outbox rows are kept this long (`RELAIS_OUTBOX_RETENTION_SECS`).
    pub outbox: Duration,
    /// Whether the service sends mail (only then are sent mails pruned).
    pub mail: bool,
}

/// Deletes published rows past retention, inbox rows and idempotency
/// keys past theirs, and sent mails past theirs.
pub async fn prune(conn: &mut PgConnection, retention: &Retention) -> anyhow::Result<()> {
    sqlx::query("delete from outbox where published_at < now() - make_interval(secs => $1)")
        .bind(retention.outbox.as_secs_f64())
        .execute(&mut *conn)
        .await
        .context("outbox retention")?;
    sqlx::query("delete from idempotency_keys where created_at < now() - interval '48 hours'")
        .execute(&mut *conn)
        .await
        .context("idempotency retention")?;
    sqlx::query("delete from inbox where handled_at < now() - interval '30 days'")
        .execute(&mut *conn)
        .await
        .context("inbox retention")?;
    if retention.mail {
        // Their documents stay where they are kept.
        sqlx::query("delete from mail_outbox where sent_at < now() - interval '30 days'")
            .execute(&mut *conn)
            .await
            .context("mail retention")?;
    }
    Ok(())
}
