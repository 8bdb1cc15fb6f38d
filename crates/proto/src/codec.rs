//! The gRPC codec of every Relais service and client: prost's encoding, and
//! on the way in one check of every request, whatever the RPC, before any
//! handler sees it (so no service can forget it):
//!
//! - a body that is not the request's protobuf is INVALID_ARGUMENT, not the
//!   INTERNAL tonic's own codec answers;
//! - every text field, however deep (lists, maps, nested messages), holds
//!   no NUL or other control character (tab, line feed and carriage return
//!   excepted: addresses and notes have lines) and at most
//!   [`MAX_TEXT_CHARS`] characters: Postgres refuses NUL in text, and a
//!   control character in a name ends up in a PDF, a CSV file or a mail;
//! - every timestamp lies between [`MIN_YEAR`] and [`MAX_YEAR`] with valid
//!   nanoseconds (chrono panics or wraps beyond);
//! - every enum field holds a value its enum declares: proto3 enums are
//!   open, so `payment_mode: 99` decodes, and a handler's
//!   `try_from(..).unwrap_or_default()` would quietly read it as
//!   unspecified (e.g. "the pack pays") instead of refusing it.
//!
//! Each refusal names its fields in a BadRequest detail, as every
//! INVALID_ARGUMENT of the services does. Services still apply their own,
//! narrower rules per field (a name is at most 200 characters...).
//!
//! Only messages named `...Request` are checked (buf's naming rule makes
//! every RPC input one): the same codec decodes answers in clients, and an
//! answer is data already stored, not input to judge.

use std::{marker::PhantomData, sync::LazyLock};

use bytes::Buf;
use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MapKey, ReflectMessage, Value};
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder},
};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// Longest text any request field may carry; the services' own rules are
/// narrower (the longest, a description, is 10,000).
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Timestamps in requests: nothing Relais records predates this year...
pub const MIN_YEAR: i32 = 1900;
/// ...or comes after this one.
pub const MAX_YEAR: i32 = 2200;
/// The field named when the request as a whole cannot be read.
pub const BODY: &str = "(body)";
/// More bad fields than this in one request are summed up, not listed.
const MAX_REPORTED: usize = 20;

static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).ok());

/// prost's codec, with [`check_request`] on every decoded request.
#[derive(Debug, Clone)]
pub struct CheckedCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for CheckedCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for CheckedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(PhantomData)
    }
}

#[derive(Debug, Clone)]
pub struct CheckedDecoder<U>(PhantomData<U>);

impl<U: Message + Name + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        decode(buf.copy_to_bytes(buf.remaining())).map(Some)
    }
}

fn decode<U: Message + Name + Default>(bytes: bytes::Bytes) -> Result<U, Status> {
    if !U::NAME.ends_with("Request") {
        return U::decode(bytes)
            .map_err(|e| Status::internal(format!("undecodable {}: {e}", U::NAME)));
    }
    // The field is the whole body: prost stops at the first bad byte and
    // cannot say which field the sender meant.
    let message = U::decode(bytes.clone()).map_err(|e| {
        bad_request(vec![(
            BODY.to_owned(),
            format!("is not a valid {}: {e}", U::NAME),
        )])
    })?;
    let problems = check_request(&U::full_name(), &bytes);
    if problems.is_empty() {
        Ok(message)
    } else {
        Err(bad_request(problems))
    }
}

/// The bad fields of an encoded request of type `full_name`, each with why;
/// empty when it passes (or when its type is unknown to the descriptors,
/// which the build makes impossible for Relais's own types).
pub fn check_request(full_name: &str, bytes: &[u8]) -> Vec<(String, String)> {
    let Some(descriptor) = POOL
        .as_ref()
        .and_then(|pool| pool.get_message_by_name(full_name))
    else {
        return Vec::new();
    };
    let Ok(message) = DynamicMessage::decode(descriptor, bytes) else {
        return vec![(BODY.to_owned(), "is not valid protobuf".into())];
    };
    let mut problems = Vec::new();
    check_message(&message, "", &mut problems);
    problems
}

fn check_message(message: &DynamicMessage, path: &str, out: &mut Vec<(String, String)>) {
    for (field, value) in message.fields() {
        let name = if path.is_empty() {
            field.name().to_owned()
        } else {
            format!("{path}.{}", field.name())
        };
        // A map's values have the kind of its entry's `value` field.
        let kind = match field.kind() {
            Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
            kind => kind,
        };
        check_value(value, &kind, &name, out);
    }
}

fn check_value(value: &Value, kind: &Kind, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::EnumNumber(n) => {
            if let Kind::Enum(e) = kind
                && e.get_value(*n).is_none()
            {
                let known: Vec<String> = e
                    .values()
                    .map(|v| format!("{} ({})", v.number(), v.name()))
                    .collect();
                out.push((
                    path.to_owned(),
                    format!(
                        "{n} is not a value of {}: use one of {}",
                        e.name(),
                        known.join(", ")
                    ),
                ));
            }
        }
        Value::String(s) => {
            if let Some(why) = text_problem(s) {
                out.push((path.to_owned(), why));
            }
        }
        Value::Message(m) if m.descriptor().full_name() == "google.protobuf.Timestamp" => {
            if let Some(why) = timestamp_problem(m) {
                out.push((path.to_owned(), why));
            }
        }
        Value::Message(m) => check_message(m, path, out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, kind, &format!("{path}[{i}]"), out);
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                let key = match key {
                    MapKey::String(k) => {
                        if let Some(why) = text_problem(k) {
                            out.push((format!("{path} (a key)"), why));
                            continue;
                        }
                        k.clone()
                    }
                    other => format!("{other:?}"),
                };
                check_value(item, kind, &format!("{path}[{key}]"), out);
            }
        }
        _ => {}
    }
}

/// Why `s` cannot be a text field, if it cannot.
pub fn text_problem(s: &str) -> Option<String> {
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        let what = if c == '\0' {
            "a NUL character".to_owned()
        } else {
            format!("the control character U+{:04X}", u32::from(c))
        };
        return Some(format!(
            "contains {what}; text may hold no control characters but tab and line breaks"
        ));
    }
    // Bytes first: a long string is rejected without counting its chars.
    if s.len() > MAX_TEXT_CHARS && s.chars().count() > MAX_TEXT_CHARS {
        return Some(format!("at most {MAX_TEXT_CHARS} characters"));
    }
    None
}

fn timestamp_problem(m: &DynamicMessage) -> Option<String> {
    let seconds = m
        .get_field_by_name("seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let nanos = m
        .get_field_by_name("nanos")
        .and_then(|v| v.as_i32())
        .unwrap_or(0);
    if !(0..1_000_000_000).contains(&nanos) {
        return Some("nanos must be between 0 and 999,999,999".into());
    }
    // Seconds of 1900-01-01 and 2201-01-01 (UTC) since the Unix epoch.
    const MIN_SECONDS: i64 = -2_208_988_800;
    const MAX_SECONDS: i64 = 7_289_654_400;
    if !(MIN_SECONDS..MAX_SECONDS).contains(&seconds) {
        return Some(format!(
            "must lie between the years {MIN_YEAR} and {MAX_YEAR}"
        ));
    }
    None
}

fn bad_request(mut problems: Vec<(String, String)>) -> Status {
    let extra = problems.len().saturating_sub(MAX_REPORTED);
    problems.truncate(MAX_REPORTED);
    let mut details = ErrorDetails::new();
    let mut message = String::from("invalid argument: ");
    for (i, (field, why)) in problems.iter().enumerate() {
        details.add_bad_request_violation(field.clone(), why.clone());
        if i > 0 {
            message.push_str("; ");
        }
        message.push_str(&format!("{field}: {why}"));
    }
    if extra > 0 {
        message.push_str(&format!("; and {extra} more"));
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::{Address, CreateCustomerRequest, CustomerFields};

    fn problems(req: &CreateCustomerRequest) -> Vec<String> {
        check_request(&CreateCustomerRequest::full_name(), &req.encode_to_vec())
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn nested_text_fields_are_named_by_their_path() {
        let req = CreateCustomerRequest {
            idempotency_key: "k\0".into(),
            fields: Some(CustomerFields {
                last_name: "Dupont\u{7}".into(),
                billing_address: Some(Address {
                    line1: "x".repeat(MAX_TEXT_CHARS + 1),
                    line2: "Bât. B\nEscalier 2\tporte 4".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        assert_eq!(
            problems(&req),
            [
                "idempotency_key",
                "fields.last_name",
                "fields.billing_address.line1"
            ]
        );
    }

    #[test]
    fn a_clean_request_passes() {
        let req = CreateCustomerRequest {
            idempotency_key: "k-1".into(),
            fields: Some(CustomerFields {
                last_name: "Dupont-Élise 李".into(),
                ..Default::default()
            }),
        };
        assert!(problems(&req).is_empty());
    }

    #[test]
    fn an_undeclared_enum_value_is_refused_not_read_as_unspecified() {
        use crate::orders::{PaymentMode, PlaceProductOrderRequest};
        let bad = PlaceProductOrderRequest {
            payment_mode: 99,
            ..Default::default()
        };
        let found = check_request(&PlaceProductOrderRequest::full_name(), &bad.encode_to_vec());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "payment_mode");
        assert!(found[0].1.contains("PAYMENT_MODE_CARD"), "{found:?}");
        let good = PlaceProductOrderRequest {
            payment_mode: PaymentMode::Invoice.into(),
            ..Default::default()
        };
        assert!(
            check_request(
                &PlaceProductOrderRequest::full_name(),
                &good.encode_to_vec()
            )
            .is_empty()
        );
    }

    #[test]
    fn random_bytes_are_a_bad_request_not_an_internal_error() {
        let raw = bytes::Bytes::from_static(&[0xff, 0xff, 0xff, 0x0f, 0x01]);
        let Err(status) = decode::<CreateCustomerRequest>(raw) else {
            panic!("random bytes decoded");
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}
