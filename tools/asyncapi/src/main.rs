//! `relais-asyncapi`: prints docs/asyncapi.yaml, the AsyncAPI 3.0 document
//! of every event Relais publishes, for the teams that subscribe to them
//! (docs/subscribing.md).
//!
//! Nothing in it is written by hand twice:
//! - which message goes on which subject is the `publisher` and
//!   `published_as` options of `proto/relais/events/v1`
//!   (`relais_proto::published`), the list every service's `Ctx::emit`
//!   is checked against;
//! - subjects, streams and their settings come from
//!   `relais_platform::nats::Namespace`, the headers from the outbox relay's
//!   (`Nats-Msg-Id`, async-nats's name for it), the W3C propagator the
//!   services install and the consumers' dead letters
//!   (`relais_platform::consumer`);
//! - payloads are JSON Schema derived from the compiled descriptors
//!   (fields, types, nested messages, enums, the protos' comments).
//!
//! `make asyncapi-check` (in `make lint`) fails when the committed document
//! differs: `cargo run -q -p relais-asyncapi > docs/asyncapi.yaml`.

mod schema;
mod yaml;

use std::collections::BTreeSet;

use opentelemetry::propagation::TextMapPropagator;
use relais_platform::{consumer, nats::Namespace};
use relais_proto::published::{self, PublishedEvent};
use yaml::{Node, map, reference, s};

/// The placeholders of the document's addresses.
const NS: &str = "{ns}";
const TENANT: &str = "{tenant}";

/// The connector's ERP writes given up, on the dead-letter stream through
/// its outbox (`DEAD_LETTER_SOURCE` in services/connector/src/queue.rs),
/// and their payload.
const ERP_WRITES: (&str, &str, &str) =
    ("connector", "erp-writes", "relais.connector.v1.DeadLetter");

fn main() -> anyhow::Result<()> {
    print!("{}", document()?.to_yaml());
    Ok(())
}

fn channel_id(e: &PublishedEvent) -> String {
    format!("{}-{}-{}", e.service, e.aggregate, e.event)
}

fn message_id(e: &PublishedEvent) -> String {
    format!("{}.{}.{}", e.service, e.aggregate, e.event)
}

fn seconds(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

pub fn document() -> anyhow::Result<Node> {
    let events = published::events().map_err(|e| anyhow::anyhow!("{e}"))?;
    let pool = published::pool();
    let ns = Namespace::new(NS);
    let services: Vec<&str> = events
        .iter()
        .map(|e| e.service.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let trace_headers: Vec<String> = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .fields()
        .map(str::to_owned)
        .collect();
    let msg_id = async_nats::header::NATS_MESSAGE_ID.to_string();

    // ------------------------------------------------------------ info --
    let mut streams = String::new();
    for service in &services {
        let cfg = ns.stream_config(service);
        streams.push_str(&format!(
            "\n- `{}`: `{}` (duplicate window {}, kept {})",
            cfg.name,
            cfg.subjects.join("`, `"),
            seconds(cfg.duplicate_window),
            seconds(cfg.max_age),
        ));
    }
    let dl = ns.dead_letter_stream_config();
    streams.push_str(&format!(
        "\n- `{}`: `{}` (kept {}), every service's dead letters",
        dl.name,
        dl.subjects.join("`, `"),
        seconds(dl.max_age)
    ));
    let description = format!(
        "Every event Relais publishes on NATS JetStream, for the teams that subscribe to them \
         (docs/subscribing.md: durable consumers, credentials, dedupe, ordering, replay).\n\
         \n\
         Generated from the protos by tools/asyncapi (`cargo run -q -p relais-asyncapi > \
         docs/asyncapi.yaml`; `make lint` checks it is up to date): do not edit by hand.\n\
         \n\
         Subjects are `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`. Payloads are protobuf \
         (`application/x-protobuf`): each message's schema below is JSON Schema derived from the \
         proto message it names (`x-protobuf-message`), field names as in the .proto files \
         (proto/relais/events/v1), so decode with classes generated from those files. Every event \
         starts with an `EventMeta` (event id, tenant, aggregate id and version, time, origin, \
         actor) and carries the whole record after the change.\n\
         \n\
         Headers: `{msg_id}` is the event id (dedupe on it); `{}` carry the W3C trace context \
         of the change (the second only when the trace has vendor state). \
         There is no origin header: where a change came from is `meta.origin` in the payload \
         (`shop` or `erp:<connection>`).\n\
         \n\
         Within v1 only compatible changes are made (fields added, never renumbered, retyped or \
         reused; `buf breaking` in `make lint`): ignore what you do not know.\n\
         \n\
         Streams, one per publishing service (file storage):{streams}",
        trace_headers.join("` and `"),
    );

    // -------------------------------------------------------- channels --
    let mut channels = Vec::new();
    let mut operations = Vec::new();
    let mut messages = Vec::new();
    for e in events {
        let address = ns.subject_with(&e.service, TENANT, &e.aggregate, &e.event);
        let stream = ns.stream(&e.service);
        let short = e.message.name().to_owned();
        channels.push((
            channel_id(e),
            map([
                ("address", s(address)),
                ("title", s(format!("{} ({})", e.name(), e.service))),
                (
                    "description",
                    s(format!(
                        "`{}` of {}, in the stream `{stream}`.",
                        e.name(),
                        e.service
                    )),
                ),
                (
                    "parameters",
                    map([
                        ("ns", reference("#/components/parameters/ns")),
                        ("tenant", reference("#/components/parameters/tenant")),
                    ]),
                ),
                (
                    "messages",
                    map([(
                        short.clone(),
                        reference(format!("#/components/messages/{}", message_id(e))),
                    )]),
                ),
                ("x-nats-stream", s(stream)),
            ]),
        ));
        operations.push((
            format!("publish-{}", channel_id(e)),
            map([
                ("action", s("send")),
                (
                    "channel",
                    reference(format!("#/channels/{}", channel_id(e))),
                ),
                (
                    "summary",
                    s(format!(
                        "{} publishes {} through its outbox.",
                        e.service,
                        e.name()
                    )),
                ),
                (
                    "messages",
                    Node::Seq(vec![reference(format!(
                        "#/channels/{}/messages/{short}",
                        channel_id(e)
                    ))]),
                ),
            ]),
        ));
        let mut message = map([
            ("name", s(e.name())),
            ("title", s(format!("{} {}", e.service, e.name()))),
        ]);
        if let Some(summary) = schema::comment(e.message.parent_file(), e.message.path()) {
            message.push("summary", s(summary));
        }
        message.push("contentType", s("application/x-protobuf"));
        message.push(
            "correlationId",
            reference("#/components/correlationIds/eventId"),
        );
        message.push("headers", reference("#/components/schemas/EventHeaders"));
        message.push(
            "payload",
            reference(format!("#/components/schemas/{}", e.message.full_name())),
        );
        message.push("x-protobuf-message", s(e.message.full_name()));
        messages.push((message_id(e), message));
    }

    // Dead letters of the services' consumers: the event as received.
    let dead_letters = "dead-letters";
    channels.push((
        dead_letters.to_owned(),
        map([
            (
                "address",
                s(ns.dead_letter_subject("{service}", "{consumer}")),
            ),
            ("title", s("Dead letters of a consumer")),
            (
                "description",
                s(format!(
                    "An event a consumer of `{{service}}` gave up on (its last attempt failed, or \
                     the handler called it poison), in the stream `{}`. The payload is the \
                     event's as received; the headers say which it was and why.",
                    dl.name
                )),
            ),
            (
                "parameters",
                map([
                    ("ns", reference("#/components/parameters/ns")),
                    ("service", reference("#/components/parameters/service")),
                    ("consumer", reference("#/components/parameters/consumer")),
                ]),
            ),
            (
                "messages",
                map([("DeadLetter", reference("#/components/messages/deadLetter"))]),
            ),
            ("x-nats-stream", s(dl.name.clone())),
        ]),
    ));
    operations.push((
        "publish-dead-letters".to_owned(),
        map([
            ("action", s("send")),
            ("channel", reference(format!("#/channels/{dead_letters}"))),
            (
                "summary",
                s("A consumer publishes the events it gave up on (and keeps them in its dead_letters table)."),
            ),
            (
                "messages",
                Node::Seq(vec![reference(format!(
                    "#/channels/{dead_letters}/messages/DeadLetter"
                ))]),
            ),
        ]),
    ));
    let payload_types: BTreeSet<&str> = events.iter().map(|e| e.message.full_name()).collect();
    messages.push((
        "deadLetter".to_owned(),
        map([
            ("name", s("dead_letter")),
            ("title", s("Dead letter")),
            (
                "summary",
                s(format!(
                    "The event's payload as received: decode it as the message its `{}` names.",
                    consumer::ORIGINAL_SUBJECT_HEADER
                )),
            ),
            ("contentType", s("application/x-protobuf")),
            (
                "headers",
                reference("#/components/schemas/DeadLetterHeaders"),
            ),
            (
                "payload",
                map([(
                    "oneOf",
                    Node::Seq(
                        payload_types
                            .iter()
                            .map(|t| reference(format!("#/components/schemas/{t}")))
                            .collect(),
                    ),
                )]),
            ),
        ]),
    ));

    // The connector's ERP writes given up: its own record, through its outbox.
    let (erp_service, erp_source, erp_type) = ERP_WRITES;
    let erp_message = pool
        .get_message_by_name(erp_type)
        .ok_or_else(|| anyhow::anyhow!("{erp_type} is not compiled"))?;
    channels.push((
        "connector-erp-writes".to_owned(),
        map([
            (
                "address",
                s(ns.dead_letter_subject(erp_service, erp_source)),
            ),
            ("title", s("ERP writes given up (connector)")),
            (
                "description",
                s(format!(
                    "A write to a tenant's ERP the connector gave up on (docs/operations.md, \
                     Connector), published through its outbox in the stream `{}`, for alerting.",
                    dl.name
                )),
            ),
            (
                "parameters",
                map([("ns", reference("#/components/parameters/ns"))]),
            ),
            (
                "messages",
                map([(
                    "ErpWriteDeadLetter",
                    reference("#/components/messages/connector.erp-writes"),
                )]),
            ),
            ("x-nats-stream", s(dl.name.clone())),
        ]),
    ));
    operations.push((
        "publish-connector-erp-writes".to_owned(),
        map([
            ("action", s("send")),
            ("channel", reference("#/channels/connector-erp-writes")),
            (
                "summary",
                s("The connector publishes each ERP write it gave up on."),
            ),
            (
                "messages",
                Node::Seq(vec![reference(
                    "#/channels/connector-erp-writes/messages/ErpWriteDeadLetter",
                )]),
            ),
        ]),
    ));
    let mut erp = map([
        ("name", s("erp_write_dead_letter")),
        ("title", s("ERP write given up")),
    ]);
    if let Some(summary) = schema::comment(erp_message.parent_file(), erp_message.path()) {
        erp.push("summary", s(summary));
    }
    erp.push("contentType", s("application/x-protobuf"));
    erp.push(
        "correlationId",
        reference("#/components/correlationIds/eventId"),
    );
    erp.push("headers", reference("#/components/schemas/EventHeaders"));
    erp.push(
        "payload",
        reference(format!("#/components/schemas/{erp_type}")),
    );
    erp.push("x-protobuf-message", s(erp_type));
    messages.push(("connector.erp-writes".to_owned(), erp));

    // ------------------------------------------------------ components --
    let mut roots: Vec<prost_reflect::MessageDescriptor> =
        events.iter().map(|e| e.message.clone()).collect();
    roots.push(erp_message);
    let mut schemas = vec![
        (
            "EventHeaders".to_owned(),
            event_headers(&msg_id, &trace_headers),
        ),
        (
            "DeadLetterHeaders".to_owned(),
            dead_letter_headers(&trace_headers),
        ),
    ];
    schemas.extend(schema::schemas(&roots));

    let doc = map([
        ("asyncapi", s("3.0.0")),
        (
            "info",
            map([
                ("title", s("Relais events")),
                ("version", s(env!("CARGO_PKG_VERSION"))),
                ("description", s(description)),
            ]),
        ),
        ("defaultContentType", s("application/x-protobuf")),
        (
            "servers",
            map([(
                "local",
                map([
                    ("host", s("127.0.0.1:54222")),
                    ("protocol", s("nats")),
                    (
                        "description",
                        s(
                            "The stack of `make run` (scripts/stack.sh). Every client logs in with a user \
                           and password (docs/security.md, NATS users and permissions; a subscribing \
                           team gets a user of its own: docs/subscribing.md).",
                        ),
                    ),
                ]),
            )]),
        ),
        ("channels", Node::Map(channels)),
        ("operations", Node::Map(operations)),
        (
            "components",
            map([
                ("schemas", Node::Map(schemas)),
                ("messages", Node::Map(messages)),
                ("parameters", parameters()),
                (
                    "correlationIds",
                    map([(
                        "eventId",
                        map([
                            (
                                "description",
                                s(
                                    "The event id (`meta.event_id`), also its NATS message id: a \
                                   republished or redelivered event keeps it.",
                                ),
                            ),
                            ("location", s(format!("$message.header#/{msg_id}"))),
                        ]),
                    )]),
                ),
            ]),
        ),
    ]);
    Ok(doc)
}

fn parameters() -> Node {
    map([
        (
            "ns",
            map([
                (
                    "description",
                    s(
                        "The deployment's namespace, `RELAIS_NAMESPACE` (`relais` unless set; it may \
                       hold dots). Streams are named after it in upper case: `RELAIS_ORDERS`.",
                    ),
                ),
                ("default", s("relais")),
                ("examples", Node::Seq(vec![s("relais")])),
            ]),
        ),
        (
            "tenant",
            map([
                (
                    "description",
                    s(
                        "The tenant's id (a UUID): filter on it to receive one tenant's events, or \
                       use `*` for every tenant.",
                    ),
                ),
                (
                    "examples",
                    Node::Seq(vec![s("01930000-0000-7000-8000-000000000001")]),
                ),
            ]),
        ),
        (
            "service",
            map([(
                "description",
                s(
                    "The service whose consumer gave the event up (docs/operations.md lists \
                   each service's consumers).",
                ),
            )]),
        ),
        (
            "consumer",
            map([(
                "description",
                s(
                    "The consumer's durable name (docs/operations.md lists them), e.g. \
                   `billing-paid-orders`.",
                ),
            )]),
        ),
    ])
}

fn event_headers(msg_id: &str, trace: &[String]) -> Node {
    let mut props = vec![(
        msg_id.to_owned(),
        map([
            ("type", s("string")),
            ("format", s("uuid")),
            (
                "description",
                s(
                    "The event id, `meta.event_id` (a UUIDv7), set by the outbox relay. JetStream \
                   drops a second publish of it within the stream's duplicate window; a \
                   republished or redelivered event keeps it: dedupe on it.",
                ),
            ),
        ]),
    )];
    props.extend(trace_props(trace));
    map([
        ("type", s("object")),
        ("required", Node::Seq(vec![s(msg_id)])),
        ("properties", Node::Map(props)),
    ])
}

fn trace_props(trace: &[String]) -> Vec<(String, Node)> {
    trace
        .iter()
        .map(|name| {
            let node = if name == "traceparent" {
                map([
                    ("type", s("string")),
                    (
                        "pattern",
                        s("^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
                    ),
                    (
                        "description",
                        s("W3C trace context of the change that caused the event \
                           (https://www.w3.org/TR/trace-context/): continue its trace from it. \
                           Absent when the change was made outside a trace."),
                    ),
                ])
            } else {
                map([
                    ("type", s("string")),
                    (
                        "description",
                        s(format!(
                            "W3C `{name}`, only when the trace carries vendor state."
                        )),
                    ),
                ])
            };
            (name.clone(), node)
        })
        .collect()
}

fn dead_letter_headers(trace: &[String]) -> Node {
    let _ = trace; // dead letters are published outside the outbox: no trace headers
    map([
        ("type", s("object")),
        (
            "required",
            Node::Seq(vec![
                s(consumer::ORIGINAL_SUBJECT_HEADER),
                s(consumer::EVENT_ID_HEADER),
                s(consumer::ERROR_HEADER),
            ]),
        ),
        (
            "properties",
            map([
                (
                    consumer::ORIGINAL_SUBJECT_HEADER,
                    map([
                        ("type", s("string")),
                        (
                            "description",
                            s("The subject the event came on: says its type (see its channel)."),
                        ),
                    ]),
                ),
                (
                    consumer::EVENT_ID_HEADER,
                    map([
                        ("type", s("string")),
                        ("format", s("uuid")),
                        ("description", s("The event's id (its `Nats-Msg-Id`).")),
                    ]),
                ),
                (
                    consumer::ERROR_HEADER,
                    map([
                        ("type", s("string")),
                        (
                            "description",
                            s("Why the consumer gave up: its handler's last error, on one line."),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    /// The committed document is the generated one (`make asyncapi-check`
    /// says the same, with the diff).
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let committed = include_str!("../../../docs/asyncapi.yaml");
        let generated = super::document().expect("the document").to_yaml();
        assert!(
            committed == generated,
            "docs/asyncapi.yaml is stale: cargo run -q -p relais-asyncapi > docs/asyncapi.yaml"
        );
    }

    #[test]
    fn every_published_event_has_its_channel() {
        let doc = super::document().expect("the document").to_yaml();
        for e in relais_proto::published::events().expect("events") {
            let address = format!(
                "address: \"{{ns}}.{}.v1.{{tenant}}.{}.{}\"",
                e.service, e.aggregate, e.event
            );
            assert!(doc.contains(&address), "{address}");
        }
        assert!(doc.contains("address: \"{ns}.orders.v1.{tenant}.order.placed\""));
        assert!(doc.contains("x-nats-stream: \"{NS}_ORDERS\""));
        assert!(doc.contains("Relais-Original-Subject"));
        assert!(doc.contains("traceparent"));
        assert!(doc.contains("Nats-Msg-Id"));
    }
}
