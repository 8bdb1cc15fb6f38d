//! Writing a record as a file in `outbound/`: its rows and columns, the
//! cells' text, written whole or not at all.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::Path,
};

use serde_json::{Map, Value};

use super::names::{DELIMITER, LINE, LINES, io_error};
use crate::adapter::ErpError;

/// The rows of one write.
pub(super) struct Table {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

/// `action` and `id` first, then the other columns in alphabetical order,
/// so the ERP's import sees one schema; one row per line, if any.
pub(super) fn table(action: &str, id: &str, fields: &Map<String, Value>) -> Table {
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

pub(super) fn cell(v: &Value) -> String {
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
pub(super) fn write_atomically(
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
