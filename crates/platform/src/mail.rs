//! E-mails to customers, queued in the transaction of what they tell and
//! sent by a relay (the outbox pattern, for mail): over SMTP when
//! `RELAIS_SMTP_URL` is set, otherwise written as `.eml` files to
//! `RELAIS_MAIL_DIR` (dev and tests read them there).
//!
//! Only a service that sends mail runs the relay (`Runtime::with_mail`),
//! and only its sent mails are pruned (crate::retention). The table is
//! still in every service's schema: it is created by the platform's
//! migration `4_mail.sql`, which databases already migrated have applied.
//! Moving it to the services that send mail would mean dropping that
//! migration from the platform's set, which sqlx refuses on those
//! databases unless missing migrations are ignored (which would also hide
//! any other platform migration lost by mistake), and an older binary
//! meeting a new database (a rollback, a rolling update) would apply it
//! again over the table a service created. An empty table costs nothing.
//!
//! Delivery is at least once: a mail is marked sent after the server took
//! it, so a crash in between sends it again; a mail the server refuses for
//! good (bad address) or that failed every attempt is kept with its error.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType},
};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::retry::backoff_delay;

/// A mail to queue.
#[derive(Clone, Debug, Default)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
    pub attachment: Option<MailAttachment>,
    /// What it is about, e.g. `invoice:<id>`: kept for support.
    pub about: String,
}

#[derive(Clone, Debug)]
pub struct MailAttachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Queues `mail` in the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, mail: &Mail) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    let a = mail.attachment.as_ref();
    sqlx::query(
        "insert into mail_outbox (id, to_addr, subject, body, attachment_name, attachment_type,
             attachment, about)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(&mail.to)
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(a.map(|a| a.name.clone()))
    .bind(a.map(|a| a.content_type.clone()))
    .bind(a.map(|a| a.bytes.clone()))
    .bind(&mail.about)
    .execute(conn)
    .await?;
    Ok(id)
}

/// How mail leaves: `RELAIS_SMTP_URL` (e.g. `smtp://mail:25`,
/// `smtps://user:pass@smtp.example.com`) or the folder `RELAIS_MAIL_DIR`.
#[derive(Clone, Debug)]
pub struct MailConfig {
    pub from: String,
    pub smtp_url: Option<String>,
    pub dir: PathBuf,
    pub max_attempts: i32,
}

enum Transport {
    Folder(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Sends queued mails until shutdown.
pub struct MailRelay {
    /// The sending service, for the metrics.
    service: &'static str,
    pool: PgPool,
    transport: Transport,
    from: Mailbox,
    poll: Duration,
    max_attempts: i32,
}

/// A queued mail as the relay reads it.
type Queued = (
    Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    i32,
);

/// Why a mail was not sent: worth trying again, or never.
enum SendError {
    Retry(String),
    Permanent(String),
}

impl MailRelay {
    pub fn new(
        service: &'static str,
        pool: PgPool,
        cfg: &MailConfig,
        poll: Duration,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = cfg
            .from
            .parse()
            .with_context(|| format!("RELAIS_MAIL_FROM {:?} is not an address", cfg.from))?;
        let transport = match &cfg.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("RELAIS_SMTP_URL is not a usable SMTP URL")?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&cfg.dir).with_context(|| {
                    format!("cannot create the mail folder {}", cfg.dir.display())
                })?;
                Transport::Folder(AsyncFileTransport::new(&cfg.dir))
            }
        };
        Ok(Self {
            service,
            pool,
            transport,
            from,
            poll,
            max_attempts: cfg.max_attempts.max(1),
        })
    }

    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let sent = match self.send_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = ?e, "mail relay failed");
                    0
                }
            };
            if sent == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(self.poll) => {},
                }
            }
        }
    }

    /// Sends up to a batch of due mails; each is locked while it is sent
    /// (replicas skip it) and marked in the same transaction.
    async fn send_due(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let due: Vec<Queued> = sqlx::query_as(
            "select id, to_addr, subject, body, attachment_name, attachment_type, attachment, attempts
             from mail_outbox
             where sent_at is null and failed_at is null and next_attempt_at <= now()
             order by next_attempt_at limit 10
             for update skip locked",
        )
        .fetch_all(&mut *tx)
        .await?;
        let n = due.len();
        for (id, to, subject, body, name, kind, bytes, attempts) in due {
            let span = tracing::info_span!("send mail", mail_id = %id);
            let outcome = self.send(&to, &subject, body, name, kind, bytes).await;
            let _enter = span.enter();
            match outcome {
                Ok(()) => {
                    sqlx::query(
                        "update mail_outbox set sent_at = now(), attempts = attempts + 1 where id = $1",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    metrics::counter!("relais_mail_sent_total", "service" => self.service)
                        .increment(1);
                }
                Err(SendError::Retry(e)) if attempts + 1 < self.max_attempts => {
                    let delay = backoff_delay(
                        attempts.max(0) as u32,
                        Duration::from_secs(2),
                        Duration::from_secs(600),
                    );
                    tracing::warn!(error = %e, ?delay, "mail not sent, will retry");
                    sqlx::query(
                        "update mail_outbox set attempts = attempts + 1, last_error = $2,
                             next_attempt_at = now() + make_interval(secs => $3)
                         where id = $1",
                    )
                    .bind(id)
                    .bind(&e)
                    .bind(delay.as_secs_f64())
                    .execute(&mut *tx)
                    .await?;
                }
                Err(SendError::Retry(e) | SendError::Permanent(e)) => {
                    tracing::error!(error = %e, "mail given up");
                    sqlx::query(
                        "update mail_outbox set attempts = attempts + 1, last_error = $2,
                             failed_at = now()
                         where id = $1",
                    )
                    .bind(id)
                    .bind(&e)
                    .execute(&mut *tx)
                    .await?;
                    metrics::counter!("relais_mail_failed_total", "service" => self.service)
                        .increment(1);
                }
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn send(
        &self,
        to: &str,
        subject: &str,
        body: String,
        name: Option<String>,
        kind: Option<String>,
        bytes: Option<Vec<u8>>,
    ) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("{to:?} is not an address: {e}")))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        let text = SinglePart::plain(body);
        let message = match (name, bytes) {
            (Some(name), Some(bytes)) => {
                let kind =
                    ContentType::parse(kind.as_deref().unwrap_or("application/octet-stream"))
                        .map_err(|e| SendError::Permanent(format!("attachment type: {e}")))?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(text)
                        .singlepart(Attachment::new(name).body(bytes, kind)),
                )
            }
            _ => builder.singlepart(text),
        }
        .map_err(|e| SendError::Permanent(format!("cannot build the mail: {e}")))?;
        match &self.transport {
            Transport::Folder(t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Retry(format!("cannot write the mail: {e}"))),
            Transport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(format!("the SMTP server refused the mail: {e}"))
                } else {
                    SendError::Retry(format!("SMTP: {e}"))
                }
            }),
        }
    }
}
