//! Requests made from the descriptors alone: a plausible baseline for any
//! message (so a bad value reaches the check of its own field rather than
//! being refused for an empty neighbour), and the bad variants of it, one
//! field at a time. Nothing here is written per RPC.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, Utc};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor, Value,
};

/// Every string tenant A creates carries it, so that any answer to tenant B
/// holding it is one of A's records leaking (B's requests carry
/// [`B_MARKER`] instead).
pub const A_MARKER: &str = "alphatenant";
pub const B_MARKER: &str = "betatenant";

/// How deep nested messages are filled and mutated: deep enough for
/// `new_customer.billing_address.city` and a Timestamp inside a filter.
const MAX_DEPTH: usize = 4;

/// The ids tenant A received, by kind (`customer`, `order`...).
#[derive(Debug, Default, Clone)]
pub struct Ids {
    pub by_kind: BTreeMap<&'static str, String>,
}

impl Ids {
    pub fn all(&self) -> BTreeSet<String> {
        self.by_kind.values().cloned().collect()
    }
}

/// What an id-like field names, from its name (and for a bare `id`, from
/// the method: `GetInvoiceDocument` takes an invoice's).
pub fn id_kind(field: &str, method: &str) -> Option<&'static str> {
    let kind = match field {
        "category_id" => "category",
        "service_id" | "skill_service_id" | "skill_service_ids" | "eligible_service_ids" => {
            "service"
        }
        "product_id" | "item_id" | "item_ids" => "product",
        "hour_pack_id" => "hour_pack",
        "hour_pack_order_id" | "pack_order_id" => "hour_pack_order",
        "order_id" => "order",
        "customer_id" => "customer",
        "worker_id" => "worker",
        "absence_id" => "absence",
        "intervention_id" => "intervention",
        "invoice_id" | "credited_invoice_id" => "invoice",
        "residence_id" => "residence",
        "connection_id" => "connection",
        "id" => return method_kind(method),
        _ => return None,
    };
    Some(kind)
}

/// The entity a method is about: the first entity named in it.
fn method_kind(method: &str) -> Option<&'static str> {
    const ENTITIES: [(&str, &str); 14] = [
        ("Category", "category"),
        ("Service", "service"),
        ("Product", "product"),
        ("HourPack", "hour_pack"),
        ("Residence", "residence"),
        ("Customer", "customer"),
        ("Order", "order"),
        ("Worker", "worker"),
        ("Absence", "absence"),
        ("Intervention", "intervention"),
        ("TaxCertificate", "certificate"),
        ("Invoice", "invoice"),
        ("Connection", "connection"),
        ("Conflict", "conflict"),
    ];
    ENTITIES
        .iter()
        .filter_map(|(name, kind)| method.find(name).map(|at| (at, *kind)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, kind)| kind)
}

/// Fields that hold one of the tenant's record ids. `correlation_id` is
/// only echoed back and `tariff_id` is the ERP's, so neither is one.
pub fn is_id_like(field: &FieldDescriptor) -> bool {
    let name = field.name();
    matches!(field.kind(), Kind::String)
        && (name == "id" || name.ends_with("_id") || name.ends_with("_ids"))
        && !matches!(name, "correlation_id" | "tariff_id")
}

fn is_date_like(name: &str) -> bool {
    name.contains("date")
        || name.contains("month")
        || name.ends_with("_at")
        || name.contains("time")
}

fn is_timestamp(desc: &MessageDescriptor) -> bool {
    desc.full_name() == "google.protobuf.Timestamp"
}

/// Builds plausible requests for tenant A.
pub struct Filler<'a> {
    pub ids: &'a Ids,
    pub erp_base: &'a str,
    /// The reference ERP's keys, for a connection's `secret`.
    pub secret: &'a str,
}

impl Filler<'_> {
    /// A message with every field set to something a service would take
    /// (first member of each oneof only).
    pub fn message(&self, desc: &MessageDescriptor, method: &str, depth: usize) -> DynamicMessage {
        let mut msg = DynamicMessage::new(desc.clone());
        if is_timestamp(desc) {
            return msg;
        }
        let mut oneofs_done = BTreeSet::new();
        for field in desc.fields() {
            if let Some(o) = field.containing_oneof().filter(|o| !o.is_synthetic())
                && !oneofs_done.insert(o.name().to_owned())
            {
                continue;
            }
            if field.is_map() {
                continue;
            }
            if let Some(v) = self.value(&field, method, depth) {
                let v = if field.is_list() {
                    Value::List(vec![v])
                } else {
                    v
                };
                msg.set_field(&field, v);
            }
        }
        msg
    }

    /// One value for `field` (one element for a list); None leaves it unset.
    pub fn value(&self, field: &FieldDescriptor, method: &str, depth: usize) -> Option<Value> {
        let name = field.name();
        Some(match field.kind() {
            Kind::String => Value::String(self.string(name, method)),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(int(name) as i32),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int(name)),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(1),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(1),
            Kind::Float => Value::F32(1.0),
            Kind::Double => Value::F64(1.0),
            Kind::Bool => Value::Bool(true),
            Kind::Bytes => Value::Bytes(bytes::Bytes::from_static(b"alphatenant")),
            Kind::Enum(e) => Value::EnumNumber(
                e.values()
                    .map(|v| v.number())
                    .find(|n| *n != 0)
                    .unwrap_or(0),
            ),
            Kind::Message(m) if is_timestamp(&m) => Value::Message(timestamp(&m, name)),
            Kind::Message(m) => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                Value::Message(self.message(&m, method, depth + 1))
            }
        })
    }

    fn string(&self, name: &str, method: &str) -> String {
        let today = Utc::now().date_naive();
        // A category made its own parent is refused for that alone.
        if name == "parent_id" {
            return String::new();
        }
        if let Some(kind) = id_kind(name, method) {
            return self.ids.by_kind.get(kind).cloned().unwrap_or_default();
        }
        match name {
            "idempotency_key" => uuid::Uuid::now_v7().to_string(),
            "time_zone" => "Europe/Paris".into(),
            "first_date" => (today + Duration::days(2)).format("%Y-%m-%d").to_string(),
            "end_date" => (today + Duration::days(60)).format("%Y-%m-%d").to_string(),
            "month" => format!("{:04}-{:02}", today.year(), today.month()),
            "start_time" | "local_start_time" => "09:00".into(),
            "end_time" => "18:00".into(),
            "currency" => "EUR".into(),
            "country" => "FR".into(),
            "postal_code" => "69002".into(),
            "city" => "Lyon".into(),
            "family" => "customers".into(),
            "kind" => "product".into(),
            "status" => "paid".into(),
            "entity" => "customer".into(),
            "endpoint" => self.erp_base.into(),
            "secret" => self.secret.into(),
            "schedule" | "page_token" | "provider" => String::new(),
            "shipping_method" => "delivery".into(),
            "phone" => "+33612345678".into(),
            "photo_url" | "image_urls" => "https://example.org/alphatenant.jpg".into(),
            "tariff_id" => "T-alphatenant".into(),
            n if n.contains("email") => format!("{A_MARKER}@example.org"),
            n if n.starts_with("external_")
                || n.ends_with("code")
                || n.ends_with("reference")
                || n == "sku" =>
            {
                format!(
                    "{A_MARKER}-{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                )
            }
            // No space: names and references alike take it.
            n => format!("{A_MARKER}-{}", n.replace('_', "-")),
        }
    }
}

fn int(name: &str) -> i64 {
    match name {
        "page_size" => 10,
        "year" => i64::from(Utc::now().year() - 1),
        "duration_minutes" => 120,
        "vat_rate_bp" => 1000,
        "amount_cents" => 1000,
        "count" => 2,
        "interval_months" | "expected_version" | "discount_bp" | "nanos" => 0,
        "real" | "available" => 5,
        "minutes" | "actual_minutes" => 60,
        "weight_grams" => 100,
        _ => 1,
    }
}

/// A period or slot that makes sense for the field: `from` a month ago,
/// `to` in two months, `start`/`end` a two-hour slot ten days ahead.
fn timestamp(desc: &MessageDescriptor, name: &str) -> DynamicMessage {
    let now = Utc::now().timestamp();
    let day = 86_400;
    let slot = (now / day + 10) * day + 8 * 3600;
    let seconds = match name {
        "from" | "placed_from" => now - 30 * day,
        "to" | "placed_to" => now + 60 * day,
        "start" => slot,
        "end" => slot + 2 * 3600,
        "validated_at" => now - day,
        _ => now,
    };
    let mut msg = DynamicMessage::new(desc.clone());
    msg.set_field_by_name("seconds", Value::I64(seconds));
    msg
}

/// A path to a leaf field, through nested messages (element 0 of a list).
pub type Path = Vec<FieldDescriptor>;

pub fn label(path: &Path) -> String {
    path.iter()
        .map(FieldDescriptor::name)
        .collect::<Vec<_>>()
        .join(".")
}

/// Every scalar field reachable from `desc`, nested messages included up
/// to `MAX_DEPTH`, a message type never inside itself.
pub fn leaves(desc: &MessageDescriptor) -> Vec<Path> {
    fn walk(desc: &MessageDescriptor, prefix: &Path, seen: &mut Vec<String>, out: &mut Vec<Path>) {
        if prefix.len() >= MAX_DEPTH || seen.iter().any(|s| s == desc.full_name()) {
            return;
        }
        seen.push(desc.full_name().to_owned());
        for field in desc.fields() {
            if field.is_map() {
                continue;
            }
            let mut path = prefix.clone();
            path.push(field.clone());
            match field.kind() {
                Kind::Message(m) => walk(&m, &path, seen, out),
                _ => out.push(path),
            }
        }
        seen.pop();
    }
    let mut out = Vec::new();
    walk(desc, &Vec::new(), &mut Vec::new(), &mut out);
    out
}

/// `msg` with the leaf at `path` set to `value`; the messages on the way
/// are filled first when they were unset, and a list gets `value` as its
/// first element.
pub fn set_at(
    msg: &mut DynamicMessage,
    path: &[FieldDescriptor],
    value: Value,
    fill: &Filler<'_>,
    method: &str,
) {
    let Some((field, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        if field.is_list() {
            let list = msg.get_field_mut(field);
            if let Some(l) = list.as_list_mut() {
                if l.is_empty() {
                    l.push(value);
                } else {
                    l[0] = value;
                }
            }
        } else {
            msg.set_field(field, value);
        }
        return;
    }
    let Kind::Message(inner) = field.kind() else {
        return;
    };
    if !msg.has_field(field) {
        let filled = Value::Message(fill.message(&inner, method, 1));
        msg.set_field(
            field,
            if field.is_list() {
                Value::List(vec![filled])
            } else {
                filled
            },
        );
    }
    let slot = msg.get_field_mut(field);
    let target = match slot {
        Value::List(l) => {
            if l.is_empty() {
                l.push(Value::Message(fill.message(&inner, method, 1)));
            }
            l[0].as_message_mut()
        }
        other => other.as_message_mut(),
    };
    if let Some(m) = target {
        set_at(m, rest, value, fill, method);
    }
}

/// The bad values for one leaf, each with a short name for the report.
pub fn bad_values(leaf: &FieldDescriptor, current: &str) -> Vec<(String, Value)> {
    let name = leaf.name();
    let mut out: Vec<(String, Value)> = Vec::new();
    match leaf.kind() {
        Kind::String => {
            let s = |label: &str, v: String| (label.to_owned(), Value::String(v));
            out.push(s("NUL", format!("{current}\u{0}")));
            out.push(s("U+0001", format!("{current}\u{1}")));
            out.push(s("U+007F", format!("{current}\u{7f}")));
            out.push(s("20000 chars", "Abc9 ".repeat(4000)));
            if is_date_like(name) {
                for d in ["9999-12-31", "0000-01", "-0001-01"] {
                    out.push(s(d, d.to_owned()));
                }
            }
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            for (l, v) in [("i32::MAX", i32::MAX), ("i32::MIN", i32::MIN), ("-1", -1)] {
                out.push((l.into(), Value::I32(v)));
            }
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            for (l, v) in [
                ("i64::MAX", i64::MAX),
                ("i64::MIN", i64::MIN),
                ("i32::MAX", i64::from(i32::MAX)),
                ("i32::MIN", i64::from(i32::MIN)),
                ("-1", -1),
            ] {
                out.push((l.into(), Value::I64(v)));
            }
        }
        Kind::Uint32 | Kind::Fixed32 => out.push(("u32::MAX".into(), Value::U32(u32::MAX))),
        Kind::Uint64 | Kind::Fixed64 => out.push(("u64::MAX".into(), Value::U64(u64::MAX))),
        Kind::Float => {
            out.push(("NaN".into(), Value::F32(f32::NAN)));
            out.push(("inf".into(), Value::F32(f32::INFINITY)));
        }
        Kind::Double => {
            out.push(("NaN".into(), Value::F64(f64::NAN)));
            out.push(("inf".into(), Value::F64(f64::INFINITY)));
        }
        Kind::Enum(_) => {
            out.push(("enum 99".into(), Value::EnumNumber(99)));
            out.push(("enum -1".into(), Value::EnumNumber(-1)));
        }
        Kind::Bool | Kind::Bytes | Kind::Message(_) => {}
    }
    out
}

/// The current string at `path` in `msg` ("" when unset), so a control
/// character is appended to an otherwise valid value.
pub fn string_at(msg: &DynamicMessage, path: &[FieldDescriptor]) -> String {
    let Some((field, rest)) = path.split_first() else {
        return String::new();
    };
    if !msg.has_field(field) {
        return String::new();
    }
    let v = msg.get_field(field);
    let v = match v.as_ref() {
        Value::List(l) => match l.first() {
            Some(first) => first.clone(),
            None => return String::new(),
        },
        other => other.clone(),
    };
    match (v, rest.is_empty()) {
        (Value::String(s), true) => s,
        (Value::Message(m), false) => string_at(&m, rest),
        _ => String::new(),
    }
}

/// Applies `f` to every string in `msg`, nested ones included.
pub fn map_strings(msg: &mut DynamicMessage, f: &dyn Fn(&str) -> String) {
    for (_, value) in msg.fields_mut() {
        map_value(value, f);
    }
}

fn map_value(value: &mut Value, f: &dyn Fn(&str) -> String) {
    match value {
        Value::String(s) => *s = f(s),
        Value::Message(m) => map_strings(m, f),
        Value::List(l) => l.iter_mut().for_each(|v| map_value(v, f)),
        _ => {}
    }
}

/// The path and value of every string and bytes field of `msg`.
pub fn strings(msg: &DynamicMessage, prefix: &str, out: &mut Vec<(String, String)>) {
    for (field, value) in msg.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        collect(value, &path, out);
    }
}

fn collect(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        Value::Bytes(b) => out.push((path.to_owned(), String::from_utf8_lossy(b).into_owned())),
        Value::Message(m) => strings(m, path, out),
        Value::List(l) => l.iter().for_each(|v| collect(v, path, out)),
        _ => {}
    }
}

/// Every set field of `msg` as a `path: value` line, nested ones included,
/// for comparing two reads line by line.
pub fn flatten(msg: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    for (field, value) in msg.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        flatten_value(value, &path, out);
    }
}

fn flatten_value(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Message(m) => flatten(m, path, out),
        Value::List(l) => {
            for (i, v) in l.iter().enumerate() {
                flatten_value(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::String(s) => out.push(format!("{path}: {s:?}")),
        Value::Bytes(b) => out.push(format!("{path}: {:?}", String::from_utf8_lossy(b))),
        Value::EnumNumber(n) => out.push(format!("{path}: enum {n}")),
        other => out.push(format!("{path}: {other:?}")),
    }
}

pub fn method_path(m: &MethodDescriptor) -> String {
    format!("{}/{}", m.parent_service().name(), m.name())
}
