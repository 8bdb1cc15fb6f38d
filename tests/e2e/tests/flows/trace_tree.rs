//! One booking is one trace: the spans every part exports over OTLP,
//! received here by a collector of the test's own (the OpenTelemetry
//! protos' TraceService), hang in one tree from the caller's span through
//! the gateway, orders' handling, the outbox row, the relay's publish, each
//! consumer, the connector's push and its call to the ERP — each hop the
//! child of the one before it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Datelike;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value as Attribute,
};
use relais_platform::auth::{Claims, Role};
use relais_proto::connector::ConflictPolicy;
use serde_json::json;
use uuid::Uuid;

use crate::support::spawn;

/// A span as the collector received it.
#[derive(Clone, Debug)]
struct Received {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    /// Its `relais.service` attribute: which part made it.
    service: String,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for s in scope.spans {
                    let service = s
                        .attributes
                        .iter()
                        .find(|a| a.key == "relais.service")
                        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                            Attribute::StringValue(v) => Some(v.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    received.push(Received {
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                        name: s.name,
                        service,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The collector, listening on a port of its own: its OTLP endpoint.
async fn collector() -> (Collector, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let collector = Collector::default();
    let server = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (collector, endpoint)
}

/// One trace's spans, by id.
struct Tree(HashMap<String, Received>);

impl Tree {
    /// The spans named `name` made by `service`.
    fn named(&self, service: &str, name: &str) -> Vec<&Received> {
        self.0
            .values()
            .filter(|s| s.service == service && s.name == name)
            .collect()
    }

    /// The one child of `parent` named `name` made by `service`.
    fn child(&self, parent: &Received, service: &str, name: &str) -> Option<&Received> {
        self.0
            .values()
            .find(|s| s.parent == parent.span_id && s.service == service && s.name == name)
    }

    /// `span`'s nearest ancestor made by `service` named `name`, if any.
    fn ancestor(&self, span: &Received, service: &str, name: &str) -> Option<&Received> {
        let mut at = self.0.get(&span.parent);
        while let Some(s) = at {
            if s.service == service && s.name == name {
                return Some(s);
            }
            at = self.0.get(&s.parent);
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_one_trace_from_the_gateway_to_the_erp_call() {
    let (collector, endpoint) = collector().await;
    // The process's spans go to the collector (the services run in this
    // process, as in `relais dev`; each span says which part made it).
    let _telemetry =
        relais_platform::telemetry::init_exporting_to("relais-e2e", Some(&endpoint)).unwrap();
    let stack = spawn(relais_testkit::Stack::builder().connector().erp().gateway()).await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let service = stack.service("MENAGE", "Ménage à domicile").await;
    crate::erp_workers::mapped_tariff(&stack, &connection, &service, "Ménage").await;
    let awa = stack.shop_worker("Awa", "Diallo", &service).await;
    let paul = stack
        .customer("Paul", "Durand", "durand@example.org", "pm_card_visa")
        .await;
    let token = relais_testkit::sign(&Claims {
        sub: format!("customer-{paul}"),
        customer_id: Some(Uuid::parse_str(&paul).unwrap()),
        ..stack.claims(Role::Customer)
    });

    // The caller's own span: the booking's trace starts with it.
    let trace_id = Uuid::now_v7().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let first = crate::support::tomorrow() + chrono::Days::new(7);
    let answer = relais_platform::http::client(Duration::from_secs(30))
        .unwrap()
        .post(format!("{}/v1/shop/bookings", stack.gateway_url()))
        .bearer_auth(&token)
        .header("Idempotency-Key", Uuid::now_v7().to_string())
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({"service_id": service, "worker_id": awa,
            "schedule": {"first_date": first.to_string(), "start_time": "09:00",
                         "duration_minutes": 120,
                         "recurrence": {"interval_weeks": 1,
                                        "weekdays": [first.weekday().number_from_monday()],
                                        "count": 2}},
            "payment_mode": "card", "terms_accepted": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "{:?}", answer.text().await);

    // The spans arrive in batches: wait for the last hop, the ERP call
    // that wrote the booking's quote.
    let tree = relais_platform::testing::eventually(Duration::from_secs(60), || async {
        let spans = collector.spans.lock().unwrap().clone();
        let tree = Tree(
            spans
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .map(|s| (s.span_id.clone(), s))
                .collect(),
        );
        let wrote_quote = tree
            .named("connector", "erp reference setQuote")
            .iter()
            .any(|erp| {
                tree.ancestor(erp, "orders", "publish order.placed")
                    .is_some()
            });
        wrote_quote.then_some(tree)
    })
    .await
    .expect("the booking's trace reaches the ERP call that writes its quote");

    // Every span of the trace hangs from one of the trace's spans, but the
    // root, which hangs from the caller's.
    for s in tree.0.values() {
        assert!(
            tree.0.contains_key(&s.parent) || s.parent == caller_span,
            "{s:?} has no parent in the trace"
        );
    }
    let roots = tree.named("gateway", "POST /v1/shop/bookings");
    assert_eq!(roots.len(), 1, "one gateway span: {roots:?}");
    let root = roots[0];
    assert_eq!(
        root.parent, caller_span,
        "the gateway continues the caller's trace"
    );

    // gateway → orders' RPC → the outbox row → the relay's publish.
    let rpc = tree
        .child(
            root,
            "orders",
            "/relais.orders.v1.OrdersService/PlaceBooking",
        )
        .expect("orders' handling under the gateway's span");
    let publish = tree
        .0
        .values()
        .find(|p| {
            p.name == "publish order.placed"
                && p.service == "orders"
                && tree
                    .0
                    .get(&p.parent)
                    .is_some_and(|row| row.name == "enqueue" && row.parent == rpc.span_id)
        })
        .expect("the relay's publish under the outbox row written by the RPC");

    // Each consumer of order.placed under the publish.
    let consumers: Vec<&str> = tree
        .0
        .values()
        .filter(|c| c.parent == publish.span_id && c.name.starts_with("consume "))
        .map(|c| c.service.as_str())
        .collect();
    for service in ["connector", "catalogue"] {
        assert!(
            consumers.contains(&service),
            "{service} consumed order.placed under its publish: {consumers:?}"
        );
    }

    // The connector's push under its consumer, and the ERP call under the
    // push.
    let erp = tree
        .named("connector", "erp reference setQuote")
        .into_iter()
        .find(|erp| {
            tree.ancestor(erp, "orders", "publish order.placed")
                .is_some()
        })
        .unwrap();
    let push = tree.0.get(&erp.parent).expect("the ERP call's parent");
    assert_eq!(
        (push.service.as_str(), push.name.as_str()),
        ("connector", "push quote"),
        "the ERP call is made by the push"
    );
    let consume = tree.0.get(&push.parent).expect("the push's parent");
    assert!(
        consume.service == "connector"
            && consume.name.starts_with("consume ")
            && consume.parent == publish.span_id,
        "the push continues the connector's consumer of order.placed: {consume:?}"
    );
}
