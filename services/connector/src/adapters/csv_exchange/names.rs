//! The exchange's names: its folders, the CSV dialect, the names of the
//! files it writes and reads (objects and ids made safe), file times as
//! versions, and what a failed file operation means.

use std::{
    io,
    path::Path,
    sync::atomic::{AtomicI64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::adapter::ErpError;

pub(super) const OUTBOUND: &str = "outbound";
pub(super) const INBOUND: &str = "inbound";
pub(super) const ARCHIVE: &str = "archive";
pub(super) const REJECTED: &str = "rejected";
pub(super) const DELIMITER: u8 = b';';
/// A record's `lines` are written as `line.<field>` columns.
pub(super) const LINES: &str = "lines";
pub(super) const LINE: &str = "line";
/// Objects and ids are parts of file names, and ERP codes are short.
const MAX_NAME_LEN: usize = 64;

/// A file's time to the microsecond, as versions and the puller's cursor
/// (kept by Postgres) hold it: a file time kept to the nanosecond would
/// stay after a cursor set to it, and never be acknowledged.
pub(super) fn file_time(t: SystemTime) -> DateTime<Utc> {
    let micros = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).ok(),
        Err(e) => i64::try_from(e.duration().as_micros()).ok().map(|m| -m),
    };
    // Out of chrono's range (a forged time): the epoch, read first.
    micros
        .and_then(DateTime::from_timestamp_micros)
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// The last write's time in microseconds: each write takes a later one, so
/// two writes never share a file name and versions only go up.
static LAST_WRITE: AtomicI64 = AtomicI64::new(0);

pub(super) fn write_time() -> DateTime<Utc> {
    let now = Utc::now().timestamp_micros();
    let next = |last: i64| now.max(last.saturating_add(1));
    let (Ok(last) | Err(last)) =
        LAST_WRITE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| Some(next(l)));
    DateTime::from_timestamp_micros(next(last)).unwrap_or_else(Utc::now)
}

pub(super) fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%S%.6f").to_string()
}

/// A plain word, so a file name made with it stays in its folder.
pub(super) fn check_object(object: &str) -> Result<(), ErpError> {
    let plain = object.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if plain && !object.is_empty() && object.len() <= MAX_NAME_LEN {
        Ok(())
    } else {
        Err(ErpError::Refused(format!(
            "object {object:?}: a file exchange takes a-z and _ only"
        )))
    }
}

/// An ERP's own code may hold what a file name cannot (`DUPONT.J`,
/// `CLI 001`): any id but an empty one, or one with control characters,
/// is written; the file name carries it made safe, the `id` column as is.
pub(super) fn check_id(id: &str) -> Result<(), ErpError> {
    if !id.trim().is_empty() && !id.chars().any(char::is_control) && id.len() <= 200 {
        Ok(())
    } else {
        Err(ErpError::Refused(format!(
            "id {id:?}: empty, too long (200 at most) or with control characters"
        )))
    }
}

/// `id` as a part of a file name: A-Z, a-z, 0-9, _ and - (others become
/// `_`), at most MAX_NAME_LEN characters.
pub(super) fn file_part(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN)
        .collect()
}

/// The id of a creation, from its idempotency reference: a retry writes
/// the same id, which the ERP's import updates (it matches on the code).
/// Upper case, as ERPs often store codes.
pub(super) fn created_id(object: &str, reference: &str) -> Result<String, ErpError> {
    if reference.is_empty() {
        return Err(ErpError::Refused(
            "a creation needs an idempotency reference".into(),
        ));
    }
    let letter = object.chars().next().unwrap_or('x').to_ascii_uppercase();
    let digest = hex::encode_upper(Sha256::digest(reference.as_bytes()));
    Ok(format!("{letter}{}", digest.get(..12).unwrap_or(&digest)))
}

/// `<object>.csv`, or `<object>` then anything but a-z or `_` (so `order`
/// is not `order_state`): `customer-2026-12-01.csv`; case aside. Dot-files
/// (ours being written) are not.
pub(super) fn of_object(name: &str, object: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_suffix(".csv")
        .and_then(|s| s.strip_prefix(object))
    else {
        return false;
    };
    !name.starts_with('.') && !rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
}

/// A full disk or an unmounted share may come back: the write is retried.
pub(super) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ErpError + '_ {
    move |e| ErpError::Unavailable(format!("{}: {e}", path.display()))
}
