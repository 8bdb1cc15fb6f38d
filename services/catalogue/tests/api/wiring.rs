use prost::Message;
use relais_proto::{catalogue::ListCategoriesRequest, events::ProductChanged};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{helpers::spawn_app, support::*};

#[tokio::test]
async fn health_reports_serving_for_the_catalogue() {
    let mut app = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: "relais.catalogue.v1.CatalogueService".into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    // Health is open: probes carry no token.
    let overall = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("overall");
    assert_eq!(overall.into_inner().status, ServingStatus::Serving as i32);
    app.client
        .list_categories(app.admin(ListCategoriesRequest::default()))
        .await
        .expect("api still works");
    app.stop().await;
}

#[tokio::test]
async fn the_callers_trace_reaches_the_published_event() {
    let _telemetry = relais_platform::telemetry::init("catalogue-test").unwrap();
    let mut app = spawn_app().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut req = app.admin(product("TRACED", 100));
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    app.client.create_product(req).await.expect("created");

    app.events(1).await;
    let subject = format!("{}.catalogue.v1.{}.product.created", app.ns.0, app.tenant);
    let stream = app.js.get_stream(app.ns.stream("catalogue")).await.unwrap();
    let msg = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .expect("event published");
    let traceparent = msg
        .headers
        .get("traceparent")
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert!(
        traceparent.contains(trace_id),
        "event header {traceparent:?} continues trace {trace_id}"
    );
    let event = ProductChanged::decode(msg.payload.as_ref()).unwrap();
    assert_eq!(event.product.unwrap().sku, "TRACED");
    app.stop().await;
}
