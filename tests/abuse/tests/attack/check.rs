//! The invariants every answer must keep, the violations found, and the
//! table printed at the end: every violation is collected, so one run
//! shows them all.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    sync::Mutex,
};

use tonic::Code;
use tonic_types::StatusExt;

use crate::call::Outcome;

/// An error message longer than this echoes what it was sent, or worse.
pub const MAX_MESSAGE: usize = 1024;

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps every panic of the process (the services run in it, so a handler
/// that panics is seen here with its location, whatever the client got).
pub fn watch_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut p) = PANICS.lock() {
            p.push(info.to_string().replace('\n', " "));
        }
        previous(info);
    }));
}

/// The panics since the last call.
pub fn take_panics() -> Vec<String> {
    PANICS
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
}

/// Who called what with which input, for the report.
#[derive(Debug, Clone)]
pub struct Probe {
    pub method: String,
    pub caller: String,
    pub input: String,
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub kind: &'static str,
    pub probe: Probe,
    pub status: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub calls: usize,
    pub violations: Vec<Violation>,
    /// Every call and its answer, one a line, when `ABUSE_LOG` names a
    /// file: to see what a method answers to each input, not only the
    /// violations.
    log: Option<std::fs::File>,
}

impl Report {
    pub fn new() -> Self {
        Self {
            log: std::env::var_os("ABUSE_LOG").and_then(|p| std::fs::File::create(p).ok()),
            ..Self::default()
        }
    }

    pub fn add(
        &mut self,
        kind: &'static str,
        probe: &Probe,
        status: &str,
        detail: impl Into<String>,
    ) {
        self.violations.push(Violation {
            kind,
            probe: probe.clone(),
            status: status.to_owned(),
            detail: detail.into(),
        });
    }

    /// The invariants of any answer: no INTERNAL, UNKNOWN or transport
    /// failure, no panic, no hang; a refusal for a bad argument names the
    /// field; no message of more than `MAX_MESSAGE` bytes.
    pub fn check(&mut self, probe: &Probe, out: &Outcome) {
        self.calls += 1;
        if let Some(log) = &mut self.log {
            use std::io::Write as _;
            let message = out.status.as_ref().map(|s| s.message()).unwrap_or_default();
            let _ = writeln!(
                log,
                "{}\t{}\t{}\t{}\t{}",
                probe.method,
                probe.caller,
                prefix(&probe.input, 80),
                code_name(out),
                prefix(message, 200)
            );
        }
        for p in take_panics() {
            self.add("panic", probe, &code_name(out), p);
        }
        if out.timed_out {
            self.add(
                "hang",
                probe,
                "no answer",
                "no answer within the call timeout",
            );
            return;
        }
        let Some(status) = &out.status else {
            return;
        };
        let message = status.message();
        match status.code() {
            Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented => {
                self.add("internal", probe, &code_name(out), message);
            }
            // Every service of the stack is up: UNAVAILABLE is a peer's
            // failure (INTERNAL there) or a broken connection.
            Code::Unavailable => self.add("unavailable", probe, &code_name(out), message),
            // No client here ever cancels: a CANCELLED comes from a
            // connection the server broke (after an over-long header, say).
            Code::Cancelled => self.add("transport", probe, &code_name(out), message),
            Code::InvalidArgument => {
                let named = status
                    .get_details_bad_request()
                    .map(|b| {
                        b.field_violations
                            .iter()
                            .any(|v| !v.field.trim().is_empty())
                    })
                    .unwrap_or(false);
                if !named {
                    self.add("no field", probe, &code_name(out), message);
                }
            }
            _ => {}
        }
        if message.len() > MAX_MESSAGE {
            self.add(
                "long message",
                probe,
                &code_name(out),
                format!("{} bytes: {message}", message.len()),
            );
        }
    }

    /// Every violation, one group per kind of answer to a kind of input
    /// (e.g. INTERNAL "internal error" to a NUL), listing the methods and
    /// the fields (or callers) that got it; then a count per kind.
    pub fn print(&self) -> String {
        type Key = (&'static str, String, String, String);
        let mut groups: BTreeMap<Key, BTreeMap<&str, BTreeSet<String>>> = BTreeMap::new();
        for v in &self.violations {
            let (class, place) = match v.probe.input.split_once('=') {
                _ if v.probe.input.starts_with("random bytes") => {
                    ("random bytes".to_owned(), v.probe.caller.clone())
                }
                Some((field, label)) => (label.to_owned(), format!("{field} ({})", v.probe.caller)),
                None => (v.probe.input.clone(), v.probe.caller.clone()),
            };
            groups
                .entry((
                    v.kind,
                    v.status.clone(),
                    normalise(v.kind, &v.detail),
                    class,
                ))
                .or_default()
                .entry(v.probe.method.as_str())
                .or_default()
                .insert(place);
        }
        let mut out = String::new();
        for ((kind, status, detail, class), methods) in &groups {
            let _ = writeln!(out, "\n[{kind}] {status} on {class}: {detail}");
            for (method, places) in methods {
                let places: Vec<&str> = places.iter().map(String::as_str).collect();
                let _ = writeln!(out, "    {method:<44} {}", places.join(", "));
            }
        }
        let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &self.violations {
            *per_kind.entry(v.kind).or_default() += 1;
        }
        let _ = writeln!(
            out,
            "\n{} calls; violations per kind: {per_kind:?}",
            self.calls
        );
        out
    }
}

/// A message without what varies between alike answers (ids, numbers,
/// the details of a decode error), so alike answers group together; a
/// panic keeps its line numbers, a change its values.
fn normalise(kind: &str, detail: &str) -> String {
    let numbers = !matches!(kind, "panic" | "A changed");
    if detail.starts_with("failed to decode Protobuf message") {
        return "failed to decode Protobuf message: ...".into();
    }
    let words: Vec<String> = detail
        .split(' ')
        .map(|w| {
            if w.chars().filter(|c| *c == '-').count() == 4 && w.len() >= 36 {
                "<uuid>".to_owned()
            } else {
                w.chars()
                    .map(|c| {
                        if numbers && c.is_ascii_digit() {
                            '#'
                        } else {
                            c
                        }
                    })
                    .collect()
            }
        })
        .collect();
    prefix(&words.join(" "), 200)
}

fn code_name(out: &Outcome) -> String {
    match (&out.status, out.timed_out) {
        (_, true) => "TIMEOUT".into(),
        (None, _) => "OK".into(),
        (Some(s), _) => format!("{:?}", s.code()),
    }
}

/// The first `n` characters of `s`, control characters shown escaped.
pub fn prefix(s: &str, n: usize) -> String {
    let shown: String = s.chars().take(n).flat_map(char::escape_debug).collect();
    if s.chars().count() > n {
        format!("{shown}…")
    } else {
        shown
    }
}
