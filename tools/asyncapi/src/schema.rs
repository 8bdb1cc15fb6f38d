//! JSON Schema of protobuf messages, from their descriptors: one schema per
//! message and enum reachable from the payloads, named by its full proto
//! name, with the protos' comments as descriptions.
//!
//! The payload on the wire is protobuf; the schema says what it holds once
//! decoded: field names as in the .proto (`x-protobuf-field` is the field
//! number), 64-bit integers as integers, enums by their value names
//! (`x-protobuf-values` maps each to its number), `bytes` as base64 text,
//! a `google.protobuf.Timestamp` as an RFC 3339 time. A field of a `oneof`
//! names it (`x-protobuf-oneof`): at most one of them is set.

use std::collections::BTreeMap;

use prost_reflect::{
    Cardinality, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
};

use crate::yaml::{Node, map, reference, s};

const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// The leading comment of the element at `path` in `file`, trimmed, its
/// lines joined as they are (one paragraph per blank line).
pub fn comment(file: FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Every message and enum reachable from `roots`, by full name.
pub fn schemas(roots: &[MessageDescriptor]) -> Vec<(String, Node)> {
    let mut out: BTreeMap<String, Node> = BTreeMap::new();
    let mut todo: Vec<MessageDescriptor> = roots.to_vec();
    while let Some(message) = todo.pop() {
        if out.contains_key(message.full_name()) || message.full_name() == TIMESTAMP {
            continue;
        }
        let schema = message_schema(&message, &mut |kind| match kind {
            Kind::Message(m) => todo.push(m),
            Kind::Enum(e) => {
                out_enum(&mut out, &e);
            }
            _ => {}
        });
        out.insert(message.full_name().to_owned(), schema);
    }
    out.into_iter().collect()
}

fn out_enum(out: &mut BTreeMap<String, Node>, e: &EnumDescriptor) {
    if out.contains_key(e.full_name()) {
        return;
    }
    let mut node = map([("type", s("string"))]);
    if let Some(d) = comment(e.parent_file(), e.path()) {
        node.push("description", s(d));
    }
    node.push("enum", Node::Seq(e.values().map(|v| s(v.name())).collect()));
    node.push("x-protobuf-enum", s(e.full_name()));
    node.push(
        "x-protobuf-values",
        Node::Map(
            e.values()
                .map(|v| (v.name().to_owned(), Node::Int(i64::from(v.number()))))
                .collect(),
        ),
    );
    out.insert(e.full_name().to_owned(), node);
}

fn message_schema(message: &MessageDescriptor, found: &mut dyn FnMut(Kind)) -> Node {
    let mut node = map([("type", s("object"))]);
    if let Some(d) = comment(message.parent_file(), message.path()) {
        node.push("description", s(d));
    }
    node.push("x-protobuf-message", s(message.full_name()));
    let props: Vec<(String, Node)> = message
        .fields()
        .map(|f| (f.name().to_owned(), field_schema(&f, found)))
        .collect();
    if !props.is_empty() {
        node.push("properties", Node::Map(props));
    }
    node
}

fn field_schema(field: &FieldDescriptor, found: &mut dyn FnMut(Kind)) -> Node {
    let mut node = if field.is_map() {
        let entry = match field.kind() {
            Kind::Message(entry) => entry,
            _ => unreachable!("a map field's kind is its entry message"),
        };
        let value = entry.map_entry_value_field();
        let mut n = map([
            ("type", s("object")),
            ("additionalProperties", kind_schema(&value.kind(), found)),
        ]);
        n.push(
            "x-protobuf-map-key",
            s(kind_name(&entry.map_entry_key_field().kind())),
        );
        n
    } else if field.cardinality() == Cardinality::Repeated {
        map([
            ("type", s("array")),
            ("items", kind_schema(&field.kind(), found)),
        ])
    } else {
        kind_schema(&field.kind(), found)
    };
    // A $ref stands alone in older JSON Schema drafts: wrap it to say more.
    if matches!(&node, Node::Map(e) if e.len() == 1 && e[0].0 == "$ref") {
        node = map([("allOf", Node::Seq(vec![node]))]);
    }
    if let Some(d) = comment(field.parent_file(), field.path()) {
        node.push("description", s(d));
    }
    node.push("x-protobuf-field", Node::Int(i64::from(field.number())));
    if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
        node.push("x-protobuf-oneof", s(oneof.name()));
    }
    node
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.full_name().to_owned(),
        Kind::Enum(e) => e.full_name().to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn kind_schema(kind: &Kind, found: &mut dyn FnMut(Kind)) -> Node {
    let typed = |t: &str, f: &str| map([("type", s(t)), ("format", s(f))]);
    match kind {
        Kind::Double => typed("number", "double"),
        Kind::Float => typed("number", "float"),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => typed("integer", "int32"),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => typed("integer", "int64"),
        Kind::Uint32 | Kind::Fixed32 => map([
            ("type", s("integer")),
            ("format", s("uint32")),
            ("minimum", Node::Int(0)),
        ]),
        Kind::Uint64 | Kind::Fixed64 => map([
            ("type", s("integer")),
            ("format", s("uint64")),
            ("minimum", Node::Int(0)),
        ]),
        Kind::Bool => map([("type", s("boolean"))]),
        Kind::String => map([("type", s("string"))]),
        Kind::Bytes => map([("type", s("string")), ("contentEncoding", s("base64"))]),
        Kind::Message(m) if m.full_name() == TIMESTAMP => map([
            ("type", s("string")),
            ("format", s("date-time")),
            ("x-protobuf-message", s(TIMESTAMP)),
        ]),
        Kind::Message(m) => {
            found(kind.clone());
            reference(format!("#/components/schemas/{}", m.full_name()))
        }
        Kind::Enum(e) => {
            found(kind.clone());
            reference(format!("#/components/schemas/{}", e.full_name()))
        }
    }
}
