//! A YAML tree written in block style, keys in the order given (so the
//! document reads top-down: `asyncapi`, `info`, ..., `components`), and
//! each string plain only where YAML cannot read it as anything else.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Str(String),
    Int(i64),
    Bool(bool),
}

/// A mapping, in this order.
pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Node)>) -> Node {
    Node::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

pub fn s(text: impl Into<String>) -> Node {
    Node::Str(text.into())
}

/// `{$ref: <target>}`.
pub fn reference(target: impl Into<String>) -> Node {
    map([("$ref", s(target))])
}

impl Node {
    /// Adds `key: value` to a mapping (nothing on anything else).
    pub fn push(&mut self, key: impl Into<String>, value: Node) {
        if let Node::Map(entries) = self {
            entries.push((key.into(), value));
        }
    }

    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match self {
            Node::Map(_) | Node::Seq(_) => write_block(&mut out, self, 0),
            other => {
                out.push_str(&scalar(other, 0));
                out.push('\n');
            }
        }
        out
    }
}

fn is_collection(n: &Node) -> bool {
    matches!(n, Node::Map(e) if !e.is_empty()) || matches!(n, Node::Seq(i) if !i.is_empty())
}

fn write_block(out: &mut String, node: &Node, indent: usize) {
    let pad = " ".repeat(indent);
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                let _ = write!(out, "{pad}{}:", plain_or_quoted(k));
                write_value(out, v, indent);
            }
        }
        Node::Seq(items) => {
            for item in items {
                let _ = write!(out, "{pad}-");
                match item {
                    Node::Map(entries) if !entries.is_empty() => {
                        // The first entry on the dash's line, the others
                        // under it.
                        let mut first = true;
                        for (k, v) in entries {
                            if first {
                                let _ = write!(out, " {}:", plain_or_quoted(k));
                                first = false;
                            } else {
                                let _ = write!(out, "{pad}  {}:", plain_or_quoted(k));
                            }
                            write_value(out, v, indent + 2);
                        }
                    }
                    Node::Seq(inner) if !inner.is_empty() => {
                        out.push('\n');
                        write_block(out, item, indent + 2);
                    }
                    other => {
                        let _ = writeln!(out, " {}", scalar(other, indent + 2));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other, indent));
        }
    }
}

/// After `key:` at `indent`.
fn write_value(out: &mut String, v: &Node, indent: usize) {
    if is_collection(v) {
        out.push('\n');
        write_block(out, v, indent + 2);
    } else {
        let _ = writeln!(out, " {}", scalar(v, indent + 2));
    }
}

/// A scalar (or an empty collection) on the current line; a string of
/// several lines as a literal block indented to `indent`.
fn scalar(n: &Node, indent: usize) -> String {
    match n {
        Node::Map(_) => "{}".into(),
        Node::Seq(_) => "[]".into(),
        Node::Int(i) => i.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Str(text) => {
            let lines: Vec<&str> = text.lines().collect();
            if text.contains('\n') && literal_ok(&lines) {
                let pad = " ".repeat(indent);
                let mut out = String::from("|-");
                for line in lines {
                    out.push('\n');
                    if !line.is_empty() {
                        out.push_str(&pad);
                        out.push_str(line);
                    }
                }
                out
            } else {
                plain_or_quoted(text)
            }
        }
    }
}

/// A literal block keeps the text as is when no line starts with a space
/// (it would set the block's indentation) or ends with one, and no control
/// character is in it.
fn literal_ok(lines: &[&str]) -> bool {
    lines.first().is_some_and(|l| !l.is_empty())
        && lines.iter().all(|l| {
            !l.starts_with([' ', '\t'])
                && !l.ends_with([' ', '\t'])
                && !l.chars().any(|c| c.is_control())
        })
}

/// Plain where it reads back as this very string, else double-quoted with
/// JSON's escapes (a subset of YAML's).
fn plain_or_quoted(text: &str) -> String {
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$' || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '$' | '+'))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        );
    if plain {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_style_with_quotes_only_where_needed() {
        let doc = map([
            ("asyncapi", s("3.0.0")),
            ("title", s("Relais events")),
            ("ref", reference("#/components/schemas/x")),
            ("text", s("First line.\nSecond: with a colon.")),
            ("odd", s(" leading space\nand two lines")),
            ("yes", s("yes")),
            ("count", Node::Int(7)),
            ("empty", map::<String>([])),
            (
                "list",
                Node::Seq(vec![
                    s("a"),
                    map([("k", s("v")), ("k2", Node::Bool(true))]),
                    Node::Seq(vec![s("inner")]),
                ]),
            ),
        ]);
        assert_eq!(
            doc.to_yaml(),
            "asyncapi: \"3.0.0\"\n\
             title: \"Relais events\"\n\
             ref:\n  $ref: \"#/components/schemas/x\"\n\
             text: |-\n  First line.\n  Second: with a colon.\n\
             odd: \" leading space\\nand two lines\"\n\
             \"yes\": \"yes\"\n\
             count: 7\n\
             empty: {}\n\
             list:\n  - a\n  - k: v\n    k2: true\n  -\n    - inner\n"
        );
    }
}
