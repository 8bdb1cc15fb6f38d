//! One error type for every service and its one mapping to `tonic::Status`.
//! Internal causes are logged with their chain and never sent to callers.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The bad fields a request can be refused for are the domain's
/// vocabulary (`relais_domain::violations`); this crate maps them to a status.
pub use relais_domain::violations::{FieldViolation, Violations};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// A concurrent request holds the same resource; the caller may retry.
    #[error("{0}")]
    Aborted(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn describe(v: &[FieldViolation]) -> String {
    v.iter()
        .map(|f| format!("{}: {}", f.field, f.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// One bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// The name of the violated unique or check constraint, if that is what
    /// the database said; services turn it into a domain error.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::Db(sqlx::Error::Database(db)) => db.constraint(),
            _ => None,
        }
    }

    /// Postgres SQLSTATE of a database error.
    pub fn sql_state(&self) -> Option<String> {
        match self {
            Self::Db(sqlx::Error::Database(db)) => db.code().map(|c| c.to_string()),
            _ => None,
        }
    }
}

impl From<Violations> for Error {
    fn from(v: Violations) -> Self {
        Self::InvalidArgument(v.into_fields())
    }
}

/// Longest message, or description of one field, sent to a caller: a
/// value quoted in an error (an unknown code, a missing id) is cut there, so
/// a 20 kB input never comes back whole in a status clients would reject.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters, marked when cut.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(violations) => {
                let violations: Vec<FieldViolation> = violations
                    .into_iter()
                    .map(|v| FieldViolation::new(shorten(&v.field), shorten(&v.description)))
                    .collect();
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid argument: {}", describe(&violations)),
                    details,
                )
            }
            Error::NotFound(what) => Status::not_found(format!("{} not found", shorten(&what))),
            Error::AlreadyExists(m) => Status::already_exists(shorten(&m)),
            Error::FailedPrecondition(m) => Status::failed_precondition(shorten(&m)),
            Error::PermissionDenied(m) => Status::permission_denied(shorten(&m)),
            Error::Unauthenticated(m) => Status::unauthenticated(shorten(&m)),
            Error::Aborted(m) => Status::aborted(shorten(&m)),
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "unavailable");
                Status::unavailable("service temporarily unavailable, retry later")
            }
            Error::Db(e) => {
                // Serialization failures and deadlocks are the caller's cue to retry.
                if let sqlx::Error::Database(db) = &e
                    && matches!(db.code().as_deref(), Some("40001" | "40P01"))
                {
                    tracing::warn!(error = %e, "transaction conflict");
                    return Status::aborted("concurrent update, retry");
                }
                if database_unreachable(&e) {
                    tracing::warn!(error = %e, "database unavailable");
                    return Status::unavailable("service temporarily unavailable, retry later");
                }
                tracing::error!(error = ?e, "database error");
                Status::internal("internal error")
            }
            Error::Unexpected(e) => {
                if e.downcast_ref::<sqlx::Error>()
                    .is_some_and(database_unreachable)
                {
                    tracing::warn!(error = %e, "database unavailable");
                    return Status::unavailable("service temporarily unavailable, retry later");
                }
                tracing::error!(error = ?e, "unexpected error");
                Status::internal("internal error")
            }
        }
    }
}

/// Whether `e` says the database cannot be reached now (no connection
/// within the pool's wait, a connection lost, the server shutting down or
/// starting up) rather than that the call went wrong: UNAVAILABLE, which a
/// client retries, not INTERNAL, which it reports as a bug.
fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception); 57P01..57P03: admin or
        // crash shutdown, cannot connect now (recovery).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Turns the violation of constraint `name` into the domain error `err`;
/// any other database error stays as it is. Realworld's `on_constraint`.
pub fn on_constraint(e: sqlx::Error, name: &str, err: impl FnOnce() -> Error) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.constraint() == Some(name)
    {
        return err();
    }
    Error::Db(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_value_is_not_echoed_whole() {
        let huge = "é".repeat(20_000);
        let status = Status::from(Error::invalid("code", format!("unknown code {huge}")));
        assert!(status.message().chars().count() < 2 * MAX_MESSAGE_CHARS);
        let status = Status::from(Error::not_found(format!("product {huge}")));
        assert!(status.message().chars().count() < 2 * MAX_MESSAGE_CHARS);
        assert!(status.message().ends_with("… not found"));
    }

    #[test]
    fn a_database_out_of_reach_is_unavailable_not_internal() {
        let lost = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for e in [
            Error::Db(sqlx::Error::PoolTimedOut),
            Error::Db(sqlx::Error::PoolClosed),
            Error::Db(sqlx::Error::Io(lost())),
            Error::Unexpected(anyhow::Error::new(sqlx::Error::PoolTimedOut).context("saving")),
        ] {
            let what = format!("{e:?}");
            assert_eq!(Status::from(e).code(), Code::Unavailable, "{what}");
        }
        assert_eq!(
            Status::from(Error::Db(sqlx::Error::RowNotFound)).code(),
            Code::Internal,
            "a query gone wrong is still a bug"
        );
    }
}
