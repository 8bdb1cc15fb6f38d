//! The exchange's folders on disk: the inbound files of an object, parsed
//! once and handed out a page at a time, then archived once applied.

use std::{
    collections::{HashMap, HashSet},
    fs, io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use chrono::{DateTime, Utc};

use super::{
    names::{
        ARCHIVE, INBOUND, OUTBOUND, REJECTED, file_part, file_time, io_error, of_object, stamp,
        write_time,
    },
    read::read_file,
    write::{Table, write_atomically},
};
use crate::adapter::{Changes, ErpError, ErpRecord};

pub(super) struct Folders {
    pub(super) root: PathBuf,
    /// Inbound files as parsed, by path, with the modification time and
    /// length they had then: the puller reads a big file a page at a time,
    /// and parsing it again for each page would be quadratic.
    pub(super) cache: Mutex<HashMap<PathBuf, Parsed>>,
}

pub(super) struct Parsed {
    modified: DateTime<Utc>,
    len: u64,
    records: Arc<Vec<ErpRecord>>,
    /// Which of its records a page has handed to the puller: a file is
    /// archived only once each of them was (and none failed).
    served: Vec<bool>,
}

pub(super) struct Inbound {
    path: PathBuf,
    name: String,
    modified: DateTime<Utc>,
    len: u64,
}

impl Folders {
    pub(super) fn cache(&self) -> MutexGuard<'_, HashMap<PathBuf, Parsed>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write_outbound(
        &self,
        object: &str,
        id: &str,
        t: &Table,
    ) -> Result<DateTime<Utc>, ErpError> {
        let at = write_time();
        let name = format!("{object}-{}-{}.csv", stamp(at), file_part(id));
        write_atomically(&self.root.join(OUTBOUND), &name, |w| {
            w.write_record(&t.header)?;
            t.rows.iter().try_for_each(|row| w.write_record(row))
        })?;
        Ok(at)
    }

    /// The object's inbound files. Files are not held back while they may
    /// still be being written: the ERP is expected to drop them whole
    /// (written aside, then moved in), as this adapter does in `outbound/`.
    pub(super) fn inbound(&self, object: &str) -> Result<Vec<Inbound>, ErpError> {
        let dir = self.root.join(INBOUND);
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !of_object(&name, object) {
                continue;
            }
            let path = entry.path();
            // A link is not the ERP's export: it could lead to any file
            // the connector can read (another tenant's).
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                // Archived or removed since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&path)(e)),
            };
            let modified = file_time(meta.modified().map_err(io_error(&path))?);
            files.push(Inbound {
                path,
                name,
                modified,
                len: meta.len(),
            });
        }
        Ok(files)
    }

    /// The file's records, parsed once per version of the file; its
    /// rejected lines are reported when it is parsed. None when the file
    /// is gone.
    pub(super) fn parsed(
        &self,
        f: &Inbound,
        rejected: &mut Vec<String>,
    ) -> Result<Option<Arc<Vec<ErpRecord>>>, ErpError> {
        if let Some(p) = self.cache().get(&f.path)
            && p.modified == f.modified
            && p.len == f.len
        {
            return Ok(Some(p.records.clone()));
        }
        let file = match fs::File::open(&f.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&f.path)(e)),
        };
        let read = read_file(file, f.modified).map_err(io_error(&f.path))?;
        let dir = self.root.join(REJECTED);
        if read.rejected.is_empty() {
            // A former file of that name had bad lines; this one has none.
            if let Err(e) = fs::remove_file(dir.join(&f.name))
                && e.kind() != io::ErrorKind::NotFound
            {
                return Err(io_error(&dir)(e));
            }
        } else {
            write_atomically(&dir, &f.name, |w| {
                let mut header = read.header.clone();
                header.push_field(b"reason");
                w.write_byte_record(&header)?;
                read.rejected.iter().try_for_each(|(line, raw, why)| {
                    let mut row = raw.clone();
                    row.push_field(format!("line {line}: {why}").as_bytes());
                    w.write_byte_record(&row)
                })
            })?;
        }
        for (line, _, why) in &read.rejected {
            rejected.push(format!("{}: line {line}: {why}", f.name));
        }
        let records = Arc::new(read.records);
        self.cache().insert(
            f.path.clone(),
            Parsed {
                modified: f.modified,
                len: f.len,
                served: vec![false; records.len()],
                records: records.clone(),
            },
        );
        Ok(Some(records))
    }

    /// Every record of the inbound files, a page at a time: the folder is
    /// the queue (what is applied is archived), so a file is read whatever
    /// its time, even one dropped late with an old modification time.
    pub(super) fn changes(
        &self,
        object: &str,
        page: i64,
        per_page: i64,
    ) -> Result<Changes, ErpError> {
        let listed = self.inbound(object)?;
        {
            let present: HashSet<&Path> = listed.iter().map(|f| f.path.as_path()).collect();
            self.cache().retain(|path, _| {
                present.contains(path.as_path())
                    || !path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| of_object(n, object))
            });
        }
        let mut rejected = Vec::new();
        let mut files = Vec::new();
        for f in listed {
            if let Some(records) = self.parsed(&f, &mut rejected)? {
                files.push((f, records));
            }
        }
        // Oldest first, then by file name; a file's records are in line order.
        files.sort_by(|(a, _), (b, _)| (a.modified, &a.name).cmp(&(b.modified, &b.name)));
        let total: usize = files.iter().map(|(_, r)| r.len()).sum();
        let (page, per_page) = (page.max(1), per_page.max(1));
        let take = usize::try_from(per_page).unwrap_or(usize::MAX);
        let skip = usize::try_from(page - 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(take);
        let end = skip.saturating_add(take);
        let mut records = Vec::new();
        let mut start = 0usize;
        let mut cache = self.cache();
        if page == 1 {
            // A run starts over: what an earlier run was handed does not
            // count for this one's archiving.
            for (f, _) in &files {
                if let Some(p) = cache.get_mut(&f.path) {
                    p.served.iter_mut().for_each(|s| *s = false);
                }
            }
        }
        for (f, file_records) in &files {
            let (from, to) = (
                skip.max(start),
                end.min(start.saturating_add(file_records.len())),
            );
            if from < to {
                records.extend(file_records[from - start..to - start].iter().cloned());
                // Only the version of the file whose records these are.
                if let Some(p) = cache
                    .get_mut(&f.path)
                    .filter(|p| Arc::ptr_eq(&p.records, file_records))
                {
                    p.served
                        .iter_mut()
                        .skip(from - start)
                        .take(to - from)
                        .for_each(|s| *s = true);
                }
            }
            start = start.saturating_add(file_records.len());
        }
        drop(cache);
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        Ok(Changes {
            records,
            total,
            next: (page.saturating_mul(per_page) < total).then_some(page + 1),
            rejected,
            high_water: None,
        })
    }

    pub(super) fn archive(&self, object: &str, through: DateTime<Utc>) -> Result<(), ErpError> {
        let dir = self.root.join(ARCHIVE);
        for f in self.inbound(object)? {
            // Only what the puller was handed, whole, as it was then: a file
            // dropped (or rewritten) since it was read waits for the next run.
            let handed_over = self.cache().get(&f.path).is_some_and(|p| {
                p.modified == f.modified && p.len == f.len && p.served.iter().all(|s| *s)
            });
            if f.modified > through || !handed_over {
                continue;
            }
            let mut target = dir.join(&f.name);
            if fs::symlink_metadata(&target).is_ok() {
                // A file of that name was archived before (a daily
                // article.csv): both are kept.
                let name = Path::new(&f.name);
                let stem = name.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let ext = name.extension().and_then(|s| s.to_str()).unwrap_or("csv");
                target = dir.join(format!("{stem}-{}.{ext}", stamp(write_time())));
            }
            // Gone meanwhile (another acknowledge): nothing left to do.
            if let Err(e) = fs::rename(&f.path, &target)
                && e.kind() != io::ErrorKind::NotFound
            {
                return Err(io_error(&f.path)(e));
            }
            self.cache().remove(&f.path);
        }
        Ok(())
    }
}
