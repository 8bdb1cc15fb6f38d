//! `relais events`: a plain (core NATS) subscription that prints every
//! event published while it runs, decoded from the subject
//! `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`. It reads nothing from
//! the streams' history and acknowledges nothing: it disturbs no consumer.

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use prost::Message;
use relais_proto::events as ev;

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

/// The payload in Debug form, its type picked from the subject's service,
/// aggregate and event; the byte length for anything else.
fn describe(subject: &str, payload: &[u8], pretty: bool) -> String {
    fn show<M: Message + Default + std::fmt::Debug>(payload: &[u8], pretty: bool) -> String {
        match M::decode(payload) {
            Ok(m) if pretty => format!("{m:#?}"),
            Ok(m) => format!("{m:?}"),
            Err(e) => format!(
                "{} bytes that do not decode as {}: {e}",
                payload.len(),
                std::any::type_name::<M>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("?")
            ),
        }
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    let [.., service, "v1", _tenant, aggregate, event] = tokens.as_slice() else {
        return format!("{} bytes", payload.len());
    };
    match (*service, *aggregate, *event) {
        ("orders", "order", "placed") => show::<ev::OrderPlaced>(payload, pretty),
        ("orders", "order", "confirmed" | "cancelled" | "status_changed") => {
            show::<ev::OrderStatusChanged>(payload, pretty)
        }
        ("orders", "customer", _) => show::<ev::CustomerChanged>(payload, pretty),
        ("orders", "residence", "created") => show::<ev::ResidenceChanged>(payload, pretty),
        ("orders", "residence", e) if e.starts_with("staff_") => {
            show::<ev::ResidenceStaffChanged>(payload, pretty)
        }
        ("catalogue", "category", _) => show::<ev::CategoryChanged>(payload, pretty),
        ("catalogue", "service", _) => show::<ev::ServiceChanged>(payload, pretty),
        ("catalogue", "product", "stock_changed") => show::<ev::StockChanged>(payload, pretty),
        ("catalogue", "product", _) => show::<ev::ProductChanged>(payload, pretty),
        ("catalogue", "price", _) => show::<ev::PriceListEntryChanged>(payload, pretty),
        ("catalogue", "hour_pack", _) => show::<ev::HourPackChanged>(payload, pretty),
        _ => format!("{} bytes", payload.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relais_proto::{events::EventMeta, orders::Order};

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
}
