//! Which event message each service publishes, under which
//! `<aggregate>.<event>`: read from the options of
//! `proto/relais/events/v1` (`options.proto`: `publisher` on each file,
//! `published_as` on each event message), the one list of Relais's
//! subjects. `Ctx::emit` (relais-platform) checks every event it writes
//! against it in debug builds, and `tools/asyncapi` documents it
//! (docs/asyncapi.yaml).

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, MessageDescriptor, Value};

/// The package of the event payloads.
pub const EVENTS_PACKAGE: &str = "relais.events.v1";
/// The file option naming the publishing service.
pub const PUBLISHER_OPTION: &str = "relais.events.v1.publisher";
/// The message option naming each `<aggregate>.<event>`.
pub const PUBLISHED_AS_OPTION: &str = "relais.events.v1.published_as";

/// One event as published: `<ns>.<service>.v1.<tenant>.<aggregate>.<event>`
/// carrying `message`.
#[derive(Debug, Clone)]
pub struct PublishedEvent {
    pub service: String,
    pub aggregate: String,
    pub event: String,
    pub message: MessageDescriptor,
}

impl PublishedEvent {
    /// `<aggregate>.<event>`, as subscribers name it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.aggregate, self.event)
    }
}

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set compiled by build.rs decodes")
});

static PUBLISHED: LazyLock<Result<Vec<PublishedEvent>, String>> = LazyLock::new(|| read(&POOL));

/// Every compiled file, with the options' extensions resolved.
pub fn pool() -> &'static DescriptorPool {
    &POOL
}

/// Every event Relais publishes, by service, then in the order of the
/// proto files. An error says which declaration is malformed.
pub fn events() -> Result<&'static [PublishedEvent], &'static str> {
    match &*PUBLISHED {
        Ok(events) => Ok(events),
        Err(e) => Err(e),
    }
}

/// Whether `service` may publish `message` (a full name) as
/// `<aggregate>.<event>`.
pub fn declares(service: &str, aggregate: &str, event: &str, message: &str) -> bool {
    events().is_ok_and(|all| {
        all.iter().any(|e| {
            e.service == service
                && e.aggregate == aggregate
                && e.event == event
                && e.message.full_name() == message
        })
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

fn read(pool: &DescriptorPool) -> Result<Vec<PublishedEvent>, String> {
    let publisher = pool
        .get_extension_by_name(PUBLISHER_OPTION)
        .ok_or_else(|| format!("{PUBLISHER_OPTION} is not compiled"))?;
    let published_as = pool
        .get_extension_by_name(PUBLISHED_AS_OPTION)
        .ok_or_else(|| format!("{PUBLISHED_AS_OPTION} is not compiled"))?;
    let mut out: Vec<PublishedEvent> = Vec::new();
    for file in pool.files().filter(|f| f.package_name() == EVENTS_PACKAGE) {
        let options = file.options();
        let service = match options.get_extension(&publisher).as_ref() {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        for message in file.messages() {
            let names = match message.options().get_extension(&published_as).as_ref() {
                Value::List(names) => names
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            };
            if names.is_empty() {
                continue;
            }
            let Some(service) = &service else {
                return Err(format!(
                    "{} is published_as {names:?} but {} names no publisher",
                    message.full_name(),
                    file.name()
                ));
            };
            if !is_token(service) {
                return Err(format!("{}: bad publisher {service:?}", file.name()));
            }
            for name in names {
                let Some((aggregate, event)) = name
                    .split_once('.')
                    .filter(|(a, e)| is_token(a) && is_token(e))
                else {
                    return Err(format!(
                        "{}: published_as {name:?} is not <aggregate>.<event> in [a-z_]",
                        message.full_name()
                    ));
                };
                if let Some(twice) = out
                    .iter()
                    .find(|e| &e.service == service && e.name() == name)
                {
                    return Err(format!(
                        "{service} publishes {name} as both {} and {}",
                        twice.message.full_name(),
                        message.full_name()
                    ));
                }
                out.push(PublishedEvent {
                    service: service.clone(),
                    aggregate: aggregate.to_owned(),
                    event: event.to_owned(),
                    message: message.clone(),
                });
            }
        }
    }
    // By service, then as declared: the files are compiled in name order.
    out.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Name;

    #[test]
    fn every_event_message_is_published_and_well_formed() {
        let events = events().expect("the declarations are well formed");
        // Every message of the package that starts with an EventMeta is
        // published somewhere: a new event without `published_as` would be
        // missing from the document subscribers read.
        for file in pool()
            .files()
            .filter(|f| f.package_name() == EVENTS_PACKAGE)
        {
            for message in file.messages() {
                let is_event = message
                    .get_field_by_name("meta")
                    .is_some_and(|f| f.number() == 1);
                let published = events.iter().any(|e| e.message == message);
                assert_eq!(
                    is_event,
                    published,
                    "{}: an event message (meta = 1) must have published_as, and only one",
                    message.full_name()
                );
            }
        }
        assert!(declares(
            "orders",
            "order",
            "placed",
            &crate::events::OrderPlaced::full_name()
        ));
        assert!(declares(
            "orders",
            "order",
            "cancelled",
            &crate::events::OrderStatusChanged::full_name()
        ));
        assert!(!declares(
            "orders",
            "order",
            "placed",
            &crate::events::OrderStatusChanged::full_name()
        ));
        assert!(!declares(
            "billing",
            "order",
            "placed",
            &crate::events::OrderPlaced::full_name()
        ));
        let services: std::collections::BTreeSet<_> =
            events.iter().map(|e| e.service.as_str()).collect();
        assert_eq!(
            services.into_iter().collect::<Vec<_>>(),
            ["billing", "catalogue", "connector", "orders", "planning"]
        );
    }
}
