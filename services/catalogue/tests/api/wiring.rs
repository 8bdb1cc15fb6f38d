use prost::Message;
use relais_proto::{catalogue::ListCategoriesRequest, events::ProductChanged};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    admin::get,
    helpers::{spawn_app, spawn_app_on},
    support::*,
};

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

#[tokio::test]
async fn a_replica_that_loses_nats_stops_serving_and_comes_back() {
    let mut nats = relais_platform::testing::NatsServer::start().unwrap();
    let app = spawn_app_on(&nats.url()).await;
    let mut health = HealthClient::new(app.channel.clone());
    let service = || HealthCheckRequest {
        service: "relais.catalogue.v1.CatalogueService".into(),
    };
    nats.kill();
    let down = relais_platform::testing::eventually(std::time::Duration::from_secs(10), || {
        let mut h = health.clone();
        async move {
            let s = h.check(service()).await.ok()?.into_inner().status;
            (s == ServingStatus::NotServing as i32).then_some(())
        }
    })
    .await;
    assert!(down.is_some(), "health turned NOT_SERVING");
    assert!(
        get(app.admin_addr, "/readyz")
            .await
            .starts_with("HTTP/1.0 503")
    );
    nats.restart().unwrap();
    let up = relais_platform::testing::eventually(std::time::Duration::from_secs(15), || {
        let mut h = health.clone();
        async move {
            let s = h.check(service()).await.ok()?.into_inner().status;
            (s == ServingStatus::Serving as i32).then_some(())
        }
    })
    .await;
    assert!(up.is_some(), "health back to SERVING");
    let _ = health.check(service()).await;
    app.stop().await;
}
