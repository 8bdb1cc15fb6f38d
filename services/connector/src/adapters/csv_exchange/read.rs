//! Reading an inbound file: the columns' kinds, each row typed into a
//! record (lines grouped by id), bad rows kept with their line and why.

use std::{collections::HashSet, io};

use chrono::{DateTime, Utc};
use csv::ByteRecord;
use serde_json::{Map, Value};

use super::names::{DELIMITER, LINES};
use crate::adapter::ErpRecord;

/// How a column's cells are read, by the column's last name.
pub(super) enum Kind {
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

pub(super) struct Column {
    index: usize,
    name: String,
    path: Vec<String>,
    in_line: bool,
    kind: Kind,
}

pub(super) struct Header {
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
pub(super) struct Row {
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
pub(super) struct Group {
    id: String,
    fields: Map<String, Value>,
    lines: Vec<Value>,
    rows: Vec<(u64, ByteRecord)>,
    /// A line of the record was rejected: the record is, whole.
    bad_line: Option<u64>,
}

pub(super) struct FileRead {
    pub(super) header: ByteRecord,
    pub(super) records: Vec<ErpRecord>,
    /// Line (the header is line 1), the row as read, why.
    pub(super) rejected: Vec<(u64, ByteRecord, String)>,
}

pub(super) fn read_file(input: impl io::Read, modified: DateTime<Utc>) -> io::Result<FileRead> {
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
