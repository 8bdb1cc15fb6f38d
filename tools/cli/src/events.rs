//! `relais events`: a plain (core NATS) subscription that prints every
//! event published while it runs, decoded from the subject
//! `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`. It reads nothing from
//! the streams' history and acknowledges nothing: it disturbs no consumer.

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use prost_reflect::DynamicMessage;
use relais_proto::published;

#[derive(Args)]
pub struct EventsArgs {
    /// The subject to watch, wildcards allowed (e.g. 'relais.>' for every
    /// service) [default: <RELAIS_NAMESPACE or relais>.orders.v1.>].
    #[arg(long)]
    subject: Option<String>,
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:54222")]
    nats: String,
    /// Print each payload over several lines.
    #[arg(long)]
    pretty: bool,
}

pub async fn watch(args: EventsArgs) -> anyhow::Result<()> {
    let subject = match args.subject {
        Some(s) => s,
        None => {
            let ns = relais_platform::config::var("RELAIS_NAMESPACE", "relais".to_owned())?;
            format!("{ns}.orders.v1.>")
        }
    };
    let mut options = async_nats::ConnectOptions::new().name("relais-cli events");
    // The local stack refuses anonymous clients: watch as the read-only
    // operator user (docs/security.md).
    if let Some(auth) = relais_platform::config::nats_auth_from_env("operator")? {
        options = options.user_and_password(auth.user, auth.password);
    }
    let client = options
        .connect(args.nats.as_str())
        .await
        .with_context(|| format!("cannot reach NATS at {}: is `make run` running?", args.nats))?;
    let mut messages = client
        .subscribe(subject.clone())
        .await
        .with_context(|| format!("cannot subscribe to {subject}"))?;
    eprintln!("watching {subject} on {} (Ctrl-C to stop)\n", args.nats);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            msg = messages.next() => {
                let Some(msg) = msg else {
                    anyhow::bail!("the NATS connection was closed");
                };
                println!("{}", msg.subject);
                if let Some(tp) = msg.headers.as_ref().and_then(|h| h.get("traceparent")) {
                    println!("  traceparent: {tp}");
                }
                println!("  {}\n", describe(&msg.subject, &msg.payload, args.pretty));
            }
        }
    }
}

/// The payload as JSON (protobuf's JSON mapping) after its message's
/// name, the message found from the subject's service, aggregate and event
/// among the events the protos declare (`relais_proto::published`, the one
/// list of subjects); the byte length for anything else.
fn describe(subject: &str, payload: &[u8], pretty: bool) -> String {
    let bytes = || format!("{} bytes", payload.len());
    let tokens: Vec<&str> = subject.split('.').collect();
    let [.., service, "v1", _tenant, aggregate, event] = tokens.as_slice() else {
        return bytes();
    };
    let Some(published) = published::events().ok().and_then(|all| {
        all.iter()
            .find(|e| e.service == *service && e.aggregate == *aggregate && e.event == *event)
    }) else {
        return bytes();
    };
    let name = published.message.name();
    match DynamicMessage::decode(published.message.clone(), payload) {
        Ok(m) => {
            let json = if pretty {
                serde_json::to_string_pretty(&m)
            } else {
                serde_json::to_string(&m)
            };
            match json {
                Ok(json) => format!("{name} {json}"),
                Err(e) => format!("{name} that does not print as JSON: {e}"),
            }
        }
        Err(e) => format!("{} bytes that do not decode as {name}: {e}", payload.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use relais_proto::{
        events::{self as ev, EventMeta},
        orders::Order,
    };

    #[test]
    fn payloads_are_decoded_from_the_subject() {
        let placed = ev::OrderPlaced {
            meta: Some(EventMeta {
                aggregate_version: 1,
                ..Default::default()
            }),
            order: Some(Order {
                id: "o-1".into(),
                ..Default::default()
            }),
        }
        .encode_to_vec();
        let tenant = "01930000-0000-7000-8000-000000000001";
        let shown = describe(
            &format!("relais.orders.v1.{tenant}.order.placed"),
            &placed,
            false,
        );
        assert!(shown.starts_with("OrderPlaced {"), "{shown}");
        assert!(shown.contains("o-1"), "{shown}");
        // A namespace with dots still finds the service.
        let shown = describe(
            &format!("test.run-7.orders.v1.{tenant}.order.placed"),
            &placed,
            false,
        );
        assert!(shown.starts_with("OrderPlaced {"), "{shown}");
        assert_eq!(
            describe(
                &format!("relais.orders.v1.{tenant}.order.archived"),
                &placed,
                false
            ),
            format!("{} bytes", placed.len())
        );
        assert_eq!(
            describe("relais.deadletter.orders.x", &placed, false),
            format!("{} bytes", placed.len())
        );
    }

    #[test]
    fn every_published_event_is_decoded() {
        let tenant = "01930000-0000-7000-8000-000000000001";
        let all = published::events().expect("the events the protos declare");
        assert!(all.iter().any(|e| e.service == "planning"), "{all:?}");
        for e in all {
            let payload = DynamicMessage::new(e.message.clone()).encode_to_vec();
            let subject = format!("relais.{}.v1.{tenant}.{}", e.service, e.name());
            let shown = describe(&subject, &payload, true);
            assert!(
                shown.starts_with(&format!("{} {{", e.message.name())),
                "{subject}: {shown}"
            );
        }
    }
}
