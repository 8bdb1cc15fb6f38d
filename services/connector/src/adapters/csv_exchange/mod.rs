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

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    fs, io,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicI64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, Utc};
use csv::ByteRecord;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::adapter::{Changes, ErpAdapter, ErpError, ErpRecord};

const OUTBOUND: &str = "outbound";
const INBOUND: &str = "inbound";
const ARCHIVE: &str = "archive";
const REJECTED: &str = "rejected";
const DELIMITER: u8 = b';';
/// A record's `lines` are written as `line.<field>` columns.
const LINES: &str = "lines";
const LINE: &str = "line";
/// Objects and ids are parts of file names, and ERP codes are short.
const MAX_NAME_LEN: usize = 64;

pub struct CsvExchange {
    folders: Arc<Folders>,
}

struct Folders {
    root: PathBuf,
    /// Inbound files as parsed, by path, with the modification time and
    /// length they had then: the puller reads a big file a page at a time,
    /// and parsing it again for each page would be quadratic.
    cache: Mutex<HashMap<PathBuf, Parsed>>,
}

struct Parsed {
    modified: DateTime<Utc>,
    len: u64,
    records: Arc<Vec<ErpRecord>>,
    /// Which of its records a page has handed to the puller: a file is
    /// archived only once each of them was (and none failed).
    served: Vec<bool>,
}

struct Inbound {
    path: PathBuf,
    name: String,
    modified: DateTime<Utc>,
    len: u64,
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

/// A full disk or an unmounted share may come back: the write is retried.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ErpError + '_ {
    move |e| ErpError::Unavailable(format!("{}: {e}", path.display()))
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

/// A file's time to the microsecond, as versions and the puller's cursor
/// (kept by Postgres) hold it: a file time kept to the nanosecond would
/// stay after a cursor set to it, and never be acknowledged.
fn file_time(t: SystemTime) -> DateTime<Utc> {
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

fn write_time() -> DateTime<Utc> {
    let now = Utc::now().timestamp_micros();
    let next = |last: i64| now.max(last.saturating_add(1));
    let (Ok(last) | Err(last)) =
        LAST_WRITE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| Some(next(l)));
    DateTime::from_timestamp_micros(next(last)).unwrap_or_else(Utc::now)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%S%.6f").to_string()
}

/// A plain word, so a file name made with it stays in its folder.
fn check_object(object: &str) -> Result<(), ErpError> {
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
fn check_id(id: &str) -> Result<(), ErpError> {
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
fn file_part(id: &str) -> String {
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
fn created_id(object: &str, reference: &str) -> Result<String, ErpError> {
    if reference.is_empty() {
        return Err(ErpError::Refused(
            "a creation needs an idempotency reference".into(),
        ));
    }
    let letter = object.chars().next().unwrap_or('x').to_ascii_uppercase();
    let digest = hex::encode_upper(Sha256::digest(reference.as_bytes()));
    Ok(format!("{letter}{}", digest.get(..12).unwrap_or(&digest)))
}

/// The rows of one write.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// `action` and `id` first, then the other columns in alphabetical order,
/// so the ERP's import sees one schema; one row per line, if any.
fn table(action: &str, id: &str, fields: &Map<String, Value>) -> Table {
    let mut own = BTreeMap::new();
    let mut lines = Vec::new();
    for (key, v) in fields {
        match v {
            Value::Array(items) if key == LINES && items.iter().any(Value::is_object) => {
                for item in items {
                    let mut line = BTreeMap::new();
                    flatten(LINE, item, &mut line);
                    lines.push(line);
                }
            }
            _ => flatten(key, v, &mut own),
        }
    }
    own.insert("action".to_owned(), action.to_owned());
    own.insert("id".to_owned(), id.to_owned());
    let rest: BTreeSet<&String> = own
        .keys()
        .chain(lines.iter().flat_map(BTreeMap::keys))
        .filter(|c| *c != "action" && *c != "id")
        .collect();
    let header: Vec<String> = ["action", "id"]
        .into_iter()
        .map(str::to_owned)
        .chain(rest.into_iter().cloned())
        .collect();
    let row = |line: &BTreeMap<String, String>| -> Vec<String> {
        header
            .iter()
            .map(|c| {
                own.get(c)
                    .or_else(|| line.get(c))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    let rows = if lines.is_empty() {
        vec![row(&BTreeMap::new())]
    } else {
        lines.iter().map(row).collect()
    };
    Table { header, rows }
}

fn flatten(name: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                flatten(&format!("{name}.{k}"), child, out);
            }
        }
        _ => {
            out.insert(name.to_owned(), cell(v));
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if !items.iter().any(|i| i.is_array() || i.is_object()) => {
            items.iter().map(cell).collect::<Vec<_>>().join("|")
        }
        // No columns would hold it: kept whole, as JSON.
        other => other.to_string(),
    }
}

/// Writes `name` in `dir` whole or not at all: into a dot-file first,
/// synced, then renamed, so a reader (the ERP's import) never sees half a
/// file.
fn write_atomically(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut csv::Writer<&mut fs::File>) -> csv::Result<()>,
) -> Result<(), ErpError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let written = (|| -> io::Result<()> {
        // Made anew, never through a file (or a link) left in its place.
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        {
            // CRLF, as the Windows software at the other end writes them.
            let mut w = csv::WriterBuilder::new()
                .delimiter(DELIMITER)
                .terminator(csv::Terminator::CRLF)
                // A rejected row may have more or fewer columns than its header.
                .flexible(true)
                .from_writer(&mut file);
            fill(&mut w)?;
            w.flush()?;
        }
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        // The rename lasts once the folder is synced too; a share that
        // cannot sync a folder still has the file.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io_error(&target))
}

/// How a column's cells are read, by the column's last name.
enum Kind {
    Whole,
    Flag,
    List,
    Text,
}

fn kind(leaf: &str) -> Kind {
    let whole = ["_cents", "_bp", "_grams", "_minutes"]
        .iter()
        .any(|s| leaf.ends_with(s))
        || matches!(
            leaf,
            "quantity" | "stock_real" | "stock_available" | "line_no" | "version"
        );
    match leaf {
        _ if whole => Kind::Whole,
        "active" | "read_only" => Kind::Flag,
        "images" | "tariffs" | "skills" => Kind::List,
        _ => Kind::Text,
    }
}

/// A cell's value; None for an empty cell of a typed column. An empty text
/// stays "": an ERP clearing a phone number clears it in the shop.
fn value(kind: &Kind, cell: &str) -> Result<Option<Value>, String> {
    let trimmed = cell.trim();
    if trimmed.is_empty() && !matches!(kind, Kind::Text) {
        return Ok(None);
    }
    match kind {
        Kind::Text => Ok(Some(cell.into())),
        Kind::Whole => trimmed
            .parse::<i64>()
            .map(|n| Some(n.into()))
            .map_err(|_| format!("not a whole number: {cell:?}")),
        Kind::Flag => match trimmed.to_lowercase().as_str() {
            "1" | "true" | "oui" | "yes" => Ok(Some(true.into())),
            "0" | "false" | "non" | "no" => Ok(Some(false.into())),
            _ => Err(format!("not 1/0, true/false, oui/non or yes/no: {cell:?}")),
        },
        Kind::List => Ok(Some(Value::Array(
            trimmed
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect(),
        ))),
    }
}

struct Column {
    index: usize,
    name: String,
    path: Vec<String>,
    in_line: bool,
    kind: Kind,
}

struct Header {
    id: Option<usize>,
    columns: Vec<Column>,
    width: usize,
    has_lines: bool,
    /// Why no row of the file can be read.
    problem: Option<String>,
}

fn header(raw: &ByteRecord) -> Header {
    let mut h = Header {
        id: None,
        columns: Vec::new(),
        width: raw.len(),
        has_lines: false,
        problem: None,
    };
    for (index, field) in raw.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(field) else {
            h.problem = Some(format!(
                "the header is not valid UTF-8 in column {}",
                index + 1
            ));
            continue;
        };
        // Excel's UTF-8 exports start with a byte order mark.
        let name = name.trim_start_matches('\u{feff}').trim();
        if name == "id" {
            h.id = Some(index);
            continue;
        }
        let (in_line, rest) = match name.strip_prefix("line.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let path: Vec<String> = rest
            .split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let Some(leaf) = path.last() else { continue };
        h.has_lines |= in_line;
        h.columns.push(Column {
            index,
            name: name.to_owned(),
            kind: kind(leaf),
            path,
            in_line,
        });
    }
    h
}

/// A good row: its record's id and fields, and its line in a file with
/// lines.
struct Row {
    id: String,
    fields: Map<String, Value>,
    line: Option<Map<String, Value>>,
}

fn row(h: &Header, raw: &ByteRecord) -> Result<Row, String> {
    if let Some(problem) = &h.problem {
        return Err(problem.clone());
    }
    let Some(id_at) = h.id else {
        return Err("the header has no id column".into());
    };
    if raw.len() != h.width {
        return Err(format!(
            "{} columns where the header has {}",
            raw.len(),
            h.width
        ));
    }
    let text = |i: usize, name: &str| {
        std::str::from_utf8(raw.get(i).unwrap_or_default())
            .map_err(|_| format!("column {name}: not valid UTF-8"))
    };
    let id = text(id_at, "id")?.trim();
    if id.is_empty() {
        return Err("id is empty".into());
    }
    let mut fields = Map::new();
    let mut line = h.has_lines.then(Map::new);
    for c in &h.columns {
        let cell = text(c.index, &c.name)?;
        let Some(v) = value(&c.kind, cell).map_err(|e| format!("column {}: {e}", c.name))? else {
            continue;
        };
        match (&mut line, c.in_line) {
            (Some(line), true) => insert_at(line, &c.path, v),
            _ => insert_at(&mut fields, &c.path, v),
        }
    }
    Ok(Row {
        id: id.to_owned(),
        fields,
        line,
    })
}

/// The id of a rejected row, when it can be read: its other rows (lines)
/// are rejected with it.
fn row_id(h: &Header, raw: &ByteRecord) -> Option<String> {
    let cell = raw.get(h.id?)?;
    let id = std::str::from_utf8(cell).ok()?.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// `address.city` → `{"address": {"city": …}}`; a dotted column wins over
/// a plain one of the same name.
fn insert_at(map: &mut Map<String, Value>, path: &[String], v: Value) {
    match path {
        [] => {}
        [leaf] => {
            map.insert(leaf.clone(), v);
        }
        [head, rest @ ..] => {
            let child = map
                .entry(head.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(child) = child {
                insert_at(child, rest, v);
            }
        }
    }
}

/// Nothing but empty text: an object the ERP left empty (no delivery
/// address), or a record's empty line.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::String(s) => s.trim().is_empty(),
        Value::Object(m) => m.values().all(is_blank),
        _ => false,
    }
}

fn drop_blank_objects(map: &mut Map<String, Value>) {
    map.retain(|_, v| !(v.is_object() && is_blank(v)));
}

/// A record being read: in a file with lines, the consecutive rows of one id.
struct Group {
    id: String,
    fields: Map<String, Value>,
    lines: Vec<Value>,
    rows: Vec<(u64, ByteRecord)>,
    /// A line of the record was rejected: the record is, whole.
    bad_line: Option<u64>,
}

struct FileRead {
    header: ByteRecord,
    records: Vec<ErpRecord>,
    /// Line (the header is line 1), the row as read, why.
    rejected: Vec<(u64, ByteRecord, String)>,
}

fn read_file(input: impl io::Read, modified: DateTime<Utc>) -> io::Result<FileRead> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(DELIMITER)
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut out = FileRead {
        header: ByteRecord::new(),
        records: Vec::new(),
        rejected: Vec::new(),
    };
    if !reader.read_byte_record(&mut out.header)? {
        return Ok(out);
    }
    let h = header(&out.header);
    let mut groups: Vec<Group> = Vec::new();
    let mut raw = ByteRecord::new();
    let mut line = 1;
    while reader.read_byte_record(&mut raw)? {
        line += 1;
        let (id, good) = match row(&h, &raw) {
            Ok(r) => (Some(r.id.clone()), Ok(r)),
            Err(reason) => (row_id(&h, &raw), Err(reason)),
        };
        let same = |g: &&mut Group| h.has_lines && Some(&g.id) == id.as_ref();
        let group = match (groups.last_mut().filter(same), id) {
            (Some(g), _) => Some(g),
            (None, Some(id)) if good.is_ok() || h.has_lines => {
                groups.push(Group {
                    id,
                    fields: Map::new(),
                    lines: Vec::new(),
                    rows: Vec::new(),
                    bad_line: None,
                });
                groups.last_mut()
            }
            (None, _) => None,
        };
        match (good, group) {
            (Ok(r), Some(g)) => {
                // A record's own columns are repeated on each of its rows:
                // the first row's are taken.
                if g.fields.is_empty() && g.lines.is_empty() {
                    g.fields = r.fields;
                }
                if let Some(mut l) = r.line {
                    drop_blank_objects(&mut l);
                    let l = Value::Object(l);
                    if !is_blank(&l) {
                        g.lines.push(l);
                    }
                    g.rows.push((line, raw.clone()));
                }
            }
            (Ok(_), None) => {}
            (Err(reason), group) => {
                if let Some(g) = group {
                    g.bad_line = g.bad_line.or(Some(line));
                }
                out.rejected.push((line, raw.clone(), reason));
            }
        }
    }
    // The same id twice in a file: the last record wins.
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    for g in groups.into_iter().rev() {
        if let Some(bad) = g.bad_line {
            for (l, raw) in g.rows {
                let why = format!("record {} is not read: its line {bad} was rejected", g.id);
                out.rejected.push((l, raw, why));
            }
        } else if seen.insert(g.id.clone()) {
            kept.push(g);
        }
    }
    out.rejected.sort_by_key(|(l, ..)| *l);
    out.records = kept
        .into_iter()
        .rev()
        .map(|g| {
            let mut fields = g.fields;
            drop_blank_objects(&mut fields);
            if h.has_lines {
                fields.insert(LINES.to_owned(), Value::Array(g.lines));
            }
            ErpRecord {
                id: g.id,
                version: modified.timestamp_micros(),
                updated_at: modified,
                fields,
            }
        })
        .collect();
    Ok(out)
}

/// `<object>.csv`, or `<object>` then anything but a-z or `_` (so `order`
/// is not `order_state`): `customer-2026-12-01.csv`; case aside. Dot-files
/// (ours being written) are not.
fn of_object(name: &str, object: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_suffix(".csv")
        .and_then(|s| s.strip_prefix(object))
    else {
        return false;
    };
    !name.starts_with('.') && !rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
}

impl Folders {
    fn cache(&self) -> MutexGuard<'_, HashMap<PathBuf, Parsed>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_outbound(&self, object: &str, id: &str, t: &Table) -> Result<DateTime<Utc>, ErpError> {
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
    fn inbound(&self, object: &str) -> Result<Vec<Inbound>, ErpError> {
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
    fn parsed(
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
    fn changes(&self, object: &str, page: i64, per_page: i64) -> Result<Changes, ErpError> {
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

    fn archive(&self, object: &str, through: DateTime<Utc>) -> Result<(), ErpError> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn exchange() -> (tempfile::TempDir, CsvExchange) {
        let dir = tempfile::tempdir().unwrap();
        let x = CsvExchange::new(dir.path()).unwrap();
        (dir, x)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_path(path)
            .unwrap();
        let header = r.headers().unwrap().iter().map(str::to_owned).collect();
        let rows = r
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (header, rows)
    }

    fn drop_inbound(root: &Path, name: &str, content: &[u8], modified: DateTime<Utc>) {
        let path = root.join(INBOUND).join(name);
        fs::write(&path, content).unwrap();
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::from(modified)).unwrap();
    }

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[tokio::test]
    async fn writes_are_whole_files_one_row_per_line() {
        let (dir, x) = exchange();
        let out = dir.path().join(OUTBOUND);
        let customer = object(json!({
            "first_name": "Jeanne", "last_name": "Martin", "phone": "",
            "address": {"line1": "3 rue Haute", "line2": "", "postal_code": "69001",
                        "city": "Lyon", "country": "FR"},
            "read_only": true, "shop_id": "u-1",
        }));
        let c = x
            .upsert("customer", None, "ref-1", &customer)
            .await
            .unwrap();
        assert!(c.id.starts_with('C') && c.id.len() == 13, "{}", c.id);
        assert_eq!(c.fields, customer);
        let files = names(&out);
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].starts_with("customer-") && files[0].ends_with(&format!("-{}.csv", c.id)));
        let (header, rows) = read_csv(&out.join(&files[0]));
        let expected = "action id address.city address.country address.line1 address.line2 \
                        address.postal_code first_name last_name phone read_only shop_id";
        assert_eq!(header, expected.split(' ').collect::<Vec<_>>());
        let row = [
            "upsert",
            c.id.as_str(),
            "Lyon",
            "FR",
            "3 rue Haute",
            "",
            "69001",
            "Jeanne",
            "Martin",
            "",
            "1",
            "u-1",
        ];
        assert_eq!(rows, vec![row.to_vec()]);

        let quote = object(json!({
            "customer": c.id, "status": "pending", "total_incl_vat_cents": 3600,
            "lines": [
                {"reference": "R1", "label": "Ménage", "quantity": 2, "unit_price_cents": 1000},
                {"reference": "R2", "label": "Repassage; 1h", "quantity": 1, "unit_price_cents": 1600},
            ],
        }));
        x.upsert("quote", Some("Q-12"), "ref-2", &quote)
            .await
            .unwrap();
        let files = names(&out);
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files.iter().all(|f| !f.starts_with('.')));
        let quote_file = files.iter().find(|f| f.starts_with("quote-")).unwrap();
        let (header, rows) = read_csv(&out.join(quote_file));
        let expected = "action id customer line.label line.quantity line.reference \
                        line.unit_price_cents status total_incl_vat_cents";
        assert_eq!(header, expected.split(' ').collect::<Vec<_>>());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][..3], ["upsert", "Q-12", c.id.as_str()]);
        assert_eq!(rows[1][..3], ["upsert", "Q-12", c.id.as_str()]);
        assert_eq!(
            rows[0][3..],
            ["Ménage", "2", "R1", "1000", "pending", "3600"]
        );
        assert_eq!(
            rows[1][3..],
            ["Repassage; 1h", "1", "R2", "1600", "pending", "3600"]
        );

        let worker = object(json!({"active": false, "tariffs": ["T1", "T2"]}));
        x.upsert("employee", Some("E1"), "ref-3", &worker)
            .await
            .unwrap();
        let again = x
            .upsert("customer", None, "ref-1", &customer)
            .await
            .unwrap();
        assert_eq!(again.id, c.id, "a retried creation writes the same id");
        assert!(again.version > c.version);
        x.remove("customer", &c.id).await.unwrap();
        let files = names(&out);
        assert_eq!(files.len(), 5, "{files:?}");
        let (_, rows) =
            read_csv(&out.join(files.iter().find(|f| f.starts_with("employee-")).unwrap()));
        assert_eq!(rows, vec![vec!["upsert", "E1", "0", "T1|T2"]]);
        let last = files
            .iter()
            .filter(|f| f.starts_with("customer-"))
            .max()
            .unwrap();
        assert_eq!(
            read_csv(&out.join(last)),
            (
                vec!["action".into(), "id".into()],
                vec![vec!["delete".into(), c.id.clone()]]
            )
        );
        assert!(!x.reads_back());
        assert!(matches!(
            x.get("customer", &c.id).await,
            Err(ErpError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn unsafe_objects_and_ids_are_refused() {
        let (dir, x) = exchange();
        let f = Map::new();
        for (object, id) in [
            ("../customer", Some("C1")),
            ("Customer", Some("C1")),
            ("", Some("C1")),
            ("customer", Some("C\n1")),
            ("customer", Some("  ")),
            ("customer", Some("")),
            ("customer", None),
        ] {
            let written = x.upsert(object, id, "", &f).await;
            assert!(
                matches!(written, Err(ErpError::Refused(_))),
                "{object} {id:?}"
            );
        }
        assert!(matches!(
            x.remove("customer", "a\tb").await,
            Err(ErpError::Refused(_))
        ));
        assert!(names(&dir.path().join(OUTBOUND)).is_empty());
        // An ERP's code that a file name cannot hold: safe in the name, as
        // is in the file.
        x.upsert("customer", Some("../DUPONT J"), "", &f)
            .await
            .unwrap();
        let written = names(&dir.path().join(OUTBOUND));
        assert_eq!(written.len(), 1);
        assert!(written[0].ends_with("-___DUPONT_J.csv"), "{written:?}");
        let content = fs::read_to_string(dir.path().join(OUTBOUND).join(&written[0])).unwrap();
        assert!(content.contains("../DUPONT J"), "{content}");
    }

    #[tokio::test]
    async fn inbound_rows_are_typed_and_bad_lines_rejected() {
        let (dir, x) = exchange();
        let content = "\u{feff}id;sku;designation;price_cents;active;images;vat_rate_bp\r\n\
            A1;SKU1;Vis;1250;1;https://x/1.jpg|https://x/2.jpg;2000\r\n\
            A2;SKU2;Clou;12,5;oui;;2000\r\n\
            A3;SKU3;Écrou;300;Non;;550\r\n\
            ;SKU4;Sans code;100;1;;2000\r\n\
            A5;SKU5;Rondelle;;true;;\r\n";
        drop_inbound(
            dir.path(),
            "article.csv",
            content.as_bytes(),
            at(1_800_000_000),
        );
        let page = x.changed_since("article", None, 1, 200).await.unwrap();
        let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["A1", "A3", "A5"]);
        assert_eq!((page.total, page.next), (3, None));
        let a1 = &page.records[0];
        assert_eq!(a1.fields["price_cents"], json!(1250));
        assert_eq!(a1.fields["active"], json!(true));
        assert_eq!(
            a1.fields["images"],
            json!(["https://x/1.jpg", "https://x/2.jpg"])
        );
        assert_eq!(
            (a1.updated_at, a1.version),
            (at(1_800_000_000), 1_800_000_000_000_000)
        );
        assert_eq!(page.records[1].fields["active"], json!(false));
        assert_eq!(page.records[1].text("designation"), "Écrou");
        let a5 = &page.records[2].fields;
        assert!(!a5.contains_key("price_cents") && !a5.contains_key("images"));
        assert_eq!(
            page.rejected,
            [
                "article.csv: line 3: column price_cents: not a whole number: \"12,5\"",
                "article.csv: line 5: id is empty",
            ]
        );
        let (header, rows) = read_csv(&dir.path().join(REJECTED).join("article.csv"));
        assert_eq!(header.last().map(String::as_str), Some("reason"));
        assert_eq!(header.len(), 8);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0][0].as_str(), rows[1][1].as_str()), ("A2", "SKU4"));
        assert_eq!(rows[1][7], "line 5: id is empty");

        let again = x.changed_since("article", None, 1, 200).await.unwrap();
        assert_eq!(again.records, page.records);
        assert!(again.rejected.is_empty(), "reported once, when parsed");
    }

    #[tokio::test]
    async fn malformed_rows_are_rejected_with_their_line() {
        let (dir, x) = exchange();
        let content = b"id;name;active\nE1;L\xe9a;1\nE2;Max;1;extra\nE3;Zoe;maybe\nE4;Ana;0\n";
        drop_inbound(dir.path(), "employee-1.csv", content, at(1_800_000_000));
        let page = x.changed_since("employee", None, 1, 10).await.unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(
            page.rejected,
            [
                "employee-1.csv: line 2: column name: not valid UTF-8",
                "employee-1.csv: line 3: 4 columns where the header has 3",
                "employee-1.csv: line 4: column active: not 1/0, true/false, oui/non or yes/no: \"maybe\"",
            ]
        );
    }

    #[tokio::test]
    async fn pages_follow_file_times() {
        let (dir, x) = exchange();
        let mut content = String::from("id;last_name\n");
        for i in 0..450 {
            content.push_str(&format!("C{i:04};Nom {i}\n"));
        }
        drop_inbound(
            dir.path(),
            "customer-b.csv",
            content.as_bytes(),
            at(1_800_000_000),
        );
        let mut sizes = Vec::new();
        let mut page = Some(1);
        while let Some(p) = page {
            let changes = x.changed_since("customer", None, p, 200).await.unwrap();
            assert_eq!(changes.total, 450);
            if p == 3 {
                assert_eq!(changes.records[49].id, "C0449");
            }
            sizes.push(changes.records.len());
            page = changes.next;
        }
        assert_eq!(sizes, [200, 200, 50]);

        // A later file, named first: read after, and alone after the first.
        drop_inbound(
            dir.path(),
            "customer-a.csv",
            b"id;last_name\nC9;Neuf\n",
            at(1_800_000_060),
        );
        let all = x.changed_since("customer", None, 3, 200).await.unwrap();
        assert_eq!((all.total, all.records.len()), (451, 51));
        assert_eq!(all.records.last().map(|r| r.id.as_str()), Some("C9"));
        // The folder is the queue: `since` does not hide a file.
        let again = x
            .changed_since("customer", Some(at(1_800_000_030)), 1, 200)
            .await
            .unwrap();
        assert_eq!(again.total, 451);
    }

    #[tokio::test]
    async fn dotted_columns_nest_and_lines_group() {
        let (dir, x) = exchange();
        let customers = "id;first_name;phone;address.line1;address.line2;address.postal_code;\
            address.city;delivery_address.line1;delivery_address.city;read_only\n\
            C1;Jeanne;;3 rue Haute;;69001;Lyon;;;0\n\
            C2;Paul;0601;;;;;;;1\n\
            C2;Paul;0602;;;;;;;1\n";
        drop_inbound(
            dir.path(),
            "customer.csv",
            customers.as_bytes(),
            at(1_800_000_000),
        );
        let page = x.changed_since("customer", None, 1, 10).await.unwrap();
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        assert_eq!(page.records.len(), 2);
        let c1 = &page.records[0].fields;
        assert_eq!(
            c1["address"],
            json!({"line1": "3 rue Haute", "line2": "", "postal_code": "69001", "city": "Lyon"})
        );
        assert!(
            !c1.contains_key("delivery_address"),
            "an empty address is none"
        );
        assert_eq!(
            (&c1["phone"], &c1["read_only"]),
            (&json!(""), &json!(false))
        );
        assert_eq!(page.records[1].text("phone"), "0602", "the last row wins");

        let orders = "id;status;total_incl_vat_cents;line.line_no;line.reference;line.quantity\n\
            O1;preparing;3600;1;R1;2\n\
            O1;preparing;3600;2;R2;1\n\
            O2;shipped;500;1;R3;1\n\
            O3;pending;100;1;R4;x\n\
            O3;pending;100;2;R5;1\n\
            O4;pending;0;;;\n";
        drop_inbound(
            dir.path(),
            "order.csv",
            orders.as_bytes(),
            at(1_800_000_000),
        );
        let page = x.changed_since("order", None, 1, 10).await.unwrap();
        let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["O1", "O2", "O4"]);
        assert_eq!(
            page.records[0].fields["lines"],
            json!([
                {"line_no": 1, "reference": "R1", "quantity": 2},
                {"line_no": 2, "reference": "R2", "quantity": 1},
            ])
        );
        assert_eq!(page.records[0].fields["total_incl_vat_cents"], json!(3600));
        assert_eq!(
            page.records[1].fields["lines"].as_array().map(Vec::len),
            Some(1)
        );
        assert_eq!(page.records[2].fields["lines"], json!([]));
        assert_eq!(
            page.rejected,
            [
                "order.csv: line 5: column line.quantity: not a whole number: \"x\"",
                "order.csv: line 6: record O3 is not read: its line 5 was rejected",
            ]
        );
    }

    #[tokio::test]
    async fn a_link_in_inbound_is_not_read() {
        let (dir, x) = exchange();
        let elsewhere = tempfile::tempdir().unwrap();
        let secret = elsewhere.path().join("customer.csv");
        fs::write(&secret, "id;last_name\nC1;Autre locataire\n").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join(INBOUND).join("customer.csv")).unwrap();
        let page = x.changed_since("customer", None, 1, 10).await.unwrap();
        assert_eq!(page.total, 0, "{:?}", page.records);
    }

    #[tokio::test]
    async fn acknowledged_files_are_archived_without_overwriting() {
        let (dir, x) = exchange();
        let archive = dir.path().join(ARCHIVE);
        drop_inbound(dir.path(), "customer-a.csv", b"id\nC1\n", at(1_800_000_000));
        drop_inbound(dir.path(), "customer-b.csv", b"id\nC2\n", at(1_800_000_120));
        drop_inbound(
            dir.path(),
            "customer_family.csv",
            b"id\nF1\n",
            at(1_800_000_000),
        );
        assert_eq!(
            x.changed_since("customer", None, 1, 10)
                .await
                .unwrap()
                .total,
            2
        );
        x.acknowledge("customer", at(1_800_000_060)).await.unwrap();
        assert_eq!(names(&archive), ["customer-a.csv"]);
        assert_eq!(
            names(&dir.path().join(INBOUND)),
            ["customer-b.csv", "customer_family.csv"]
        );
        let left = x.changed_since("customer", None, 1, 10).await.unwrap();
        assert_eq!(
            left.records
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["C2"]
        );

        drop_inbound(dir.path(), "customer-a.csv", b"id\nC3\n", at(1_800_000_010));
        // Dropped after the last read: not archived unread.
        x.acknowledge("customer", at(1_800_000_060)).await.unwrap();
        assert_eq!(names(&archive), ["customer-a.csv"]);
        x.changed_since("customer", None, 1, 10).await.unwrap();
        x.acknowledge("customer", at(1_800_000_060)).await.unwrap();
        let archived = names(&archive);
        assert_eq!(archived.len(), 2, "{archived:?}");
        assert_eq!(
            fs::read(archive.join("customer-a.csv")).unwrap(),
            b"id\nC1\n"
        );
        let second = archived.iter().find(|n| *n != "customer-a.csv").unwrap();
        assert!(second.starts_with("customer-a-") && second.ends_with(".csv"));
        assert_eq!(fs::read(archive.join(second)).unwrap(), b"id\nC3\n");
    }
}
