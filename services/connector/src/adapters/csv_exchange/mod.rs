//! The adapter of ERPs that import and export files (EBP, Sage): one root
//! folder per connection, with
//!
//! - `outbound/`: shop → ERP, one file per write, which the ERP imports;
//! - `inbound/`: ERP → shop, the files the ERP exports, waiting to be read;
//! - `archive/`: inbound files fully applied, moved there by `acknowledge`;
//! - `rejected/`: for an inbound file with bad lines, a file of the same
//!   name holding its header plus a `reason` column, one row per bad line.
//!
//! Files are UTF-8 CSV with a header row and `;` between fields (EBP's and
//! Sage's default). Nested objects are dotted columns (`address.city`),
//! lists of values are joined with `|`, booleans are `1`/`0`; a record with
//! `lines` is one row per line, its own columns repeated on each row and
//! the line's in `line.<field>` columns.
//!
//! A file cannot be asked for one record: writes are not read back, and an
//! inbound record's version is its file's modification time.
//!
//! `names.rs` holds the folders' and files' names, `write.rs` and
//! `read.rs` the files' two directions, `folders.rs` the inbound files
//! handed out and archived; this file answers the adapter's trait.

mod folders;
mod names;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use folders::Folders;
use names::{ARCHIVE, INBOUND, OUTBOUND, REJECTED, check_id, check_object, created_id, io_error};
use write::{Table, table};

use crate::adapter::{Changes, ErpAdapter, ErpError, ErpRecord};

pub struct CsvExchange {
    folders: Arc<Folders>,
}

/// The folder of a CSV connection's `file:///…` endpoint, which must lie
/// in the tenant's own folder, `<exchange root>/<tenant id>/`: a tenant
/// never reaches another's files (checked again, links resolved, when the
/// exchange opens).
pub fn tenant_folder(root: &Path, tenant: uuid::Uuid, endpoint: &str) -> Result<PathBuf, String> {
    let own = root.join(tenant.to_string());
    let path = PathBuf::from(endpoint.strip_prefix("file://").unwrap_or(endpoint));
    let inside = path.is_absolute()
        && path.starts_with(&own)
        && path != own
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        });
    if inside {
        Ok(path)
    } else {
        Err(format!(
            "must be a folder in the tenant's exchange folder, file://{}/<name>",
            own.display()
        ))
    }
}

impl CsvExchange {
    /// The tenant's exchange in `folder` (see `tenant_folder`), made when
    /// missing; refused when, links resolved, it lies outside the tenant's.
    pub fn open(root: &Path, tenant: uuid::Uuid, folder: &Path) -> Result<Self, ErpError> {
        let own = root.join(tenant.to_string());
        fs::create_dir_all(&own).map_err(io_error(&own))?;
        let own = fs::canonicalize(&own).map_err(io_error(&own))?;
        // Checked before anything is made in it, and its folders after:
        // none of them may be a link out of the tenant's folder.
        let outside = |p: &Path| -> Result<bool, ErpError> {
            match fs::canonicalize(p) {
                Ok(real) => Ok(!real.starts_with(&own) || real == own),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_error(p)(e)),
            }
        };
        let refused = |p: &Path| {
            ErpError::Refused(format!(
                "{} leads outside the tenant's exchange folder {}",
                p.display(),
                own.display()
            ))
        };
        if outside(folder)? {
            return Err(refused(folder));
        }
        let exchange = Self::new(folder)?;
        if outside(folder)? {
            return Err(refused(folder));
        }
        for dir in [OUTBOUND, INBOUND, ARCHIVE, REJECTED] {
            let path = folder.join(dir);
            let linked = fs::symlink_metadata(&path)
                .map(|m| !m.is_dir())
                .map_err(io_error(&path))?;
            if linked {
                return Err(refused(&path));
            }
        }
        Ok(exchange)
    }

    /// The exchange under `root`; its folders are created when missing.
    pub fn new(root: &Path) -> Result<Self, ErpError> {
        for dir in [OUTBOUND, INBOUND, ARCHIVE, REJECTED] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_error(&path))?;
        }
        Ok(Self {
            folders: Arc::new(Folders {
                root: root.to_owned(),
                cache: Mutex::default(),
            }),
        })
    }

    async fn write(&self, object: &str, id: &str, table: Table) -> Result<DateTime<Utc>, ErpError> {
        let (folders, object, id) = (self.folders.clone(), object.to_owned(), id.to_owned());
        blocking(move || folders.write_outbound(&object, &id, &table)).await
    }
}

/// File work runs off the async threads: syncing a share or parsing
/// 100,000 lines takes a while.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ErpError> + Send + 'static,
) -> Result<T, ErpError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ErpError::Unavailable(format!("file exchange: {e}")))?
}

impl ErpAdapter for CsvExchange {
    async fn upsert(
        &self,
        object: &str,
        id: Option<&str>,
        reference: &str,
        fields: &Map<String, Value>,
    ) -> Result<ErpRecord, ErpError> {
        check_object(object)?;
        let id = match id {
            Some(id) => check_id(id).map(|()| id.to_owned())?,
            None => created_id(object, reference)?,
        };
        let at = self
            .write(object, &id, table("upsert", &id, fields))
            .await?;
        Ok(ErpRecord {
            id,
            version: at.timestamp_micros(),
            updated_at: at,
            fields: fields.clone(),
        })
    }

    async fn get(&self, _object: &str, _id: &str) -> Result<ErpRecord, ErpError> {
        Err(ErpError::Refused(
            "a file exchange cannot read records back".into(),
        ))
    }

    /// Records of every inbound file (`since` aside: what is applied is
    /// archived), oldest file first, then by file name and line; `page`
    /// counts from 1 and `next` follows it.
    async fn changed_since(
        &self,
        object: &str,
        _since: Option<DateTime<Utc>>,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError> {
        check_object(object)?;
        let (folders, object) = (self.folders.clone(), object.to_owned());
        blocking(move || folders.changes(&object, page, per_page)).await
    }

    /// Pages step through one listing: the puller keeps no time window.
    fn pages_by_id(&self) -> bool {
        true
    }

    async fn remove(&self, object: &str, id: &str) -> Result<(), ErpError> {
        check_object(object)?;
        check_id(id)?;
        let table = Table {
            header: vec!["action".into(), "id".into()],
            rows: vec![vec!["delete".into(), id.into()]],
        };
        self.write(object, id, table).await.map(|_| ())
    }

    fn reads_back(&self) -> bool {
        false
    }

    /// A create's code derives from its reference: a second one writes
    /// the same record again.
    fn keeps_references(&self) -> bool {
        true
    }

    /// Moves to `archive/` the object's inbound files whose every record
    /// the puller was handed, changed up to `through`: the puller stops
    /// `through` before a record that failed, so a file goes only once all
    /// its good lines are applied.
    async fn acknowledge(&self, object: &str, through: DateTime<Utc>) -> Result<(), ErpError> {
        check_object(object)?;
        let (folders, object) = (self.folders.clone(), object.to_owned());
        blocking(move || folders.archive(&object, through)).await
    }
}
