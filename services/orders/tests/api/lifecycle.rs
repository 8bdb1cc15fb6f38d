//! The order life cycle: legal transitions only, each an event with its
//! origin; who may make which; redelivered changes are harmless.

use prost::Message;
use relais_proto::{
    events::OrderStatusChanged,
    orders::{
        ChangeOrderStatusRequest, Order, OrderLineRequest, OrderStatus, PaymentMode,
        PlaceProductOrderRequest,
    },
};
use tonic::Code;

use crate::helpers::*;

fn to(order: &Order, status: OrderStatus) -> ChangeOrderStatusRequest {
    ChangeOrderStatusRequest {
        id: order.id.clone(),
        status: status as i32,
        ..Default::default()
    }
}

async fn product_order(app: &mut TestApp, customer: &str, item: &str, quote: bool) -> Order {
    let req = PlaceProductOrderRequest {
        idempotency_key: uuid::Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        lines: vec![OrderLineRequest {
            item_id: item.into(),
            quantity: 2,
            discount_bp: 0,
        }],
        shipping_method: "delivery".into(),
        payment_mode: PaymentMode::Invoice as i32,
        terms_accepted: true,
        as_quote: quote,
        ..Default::default()
    };
    app.client
        .place_product_order(app.as_customer(customer, req))
        .await
        .expect("placed")
        .into_inner()
        .order
        .unwrap()
}

#[tokio::test]
async fn a_product_order_goes_from_quote_to_delivered_and_no_further() {
    let mut app = spawn_app().await;
    let gloves = app.product("ENT-001", 1190, 60, true).await;
    let paul = app.customer(online("Durand")).await;
    let quote = product_order(&mut app, &paul, &gloves, true).await;
    assert_eq!(quote.status, OrderStatus::Quote as i32);
    // A quote holds no stock until it is accepted.
    let other = product_order(&mut app, &paul, &gloves, false).await;
    assert_eq!(app.stock_becomes(&gloves, 58).await, 58);
    let _ = other;

    // The customer accepts their quote but cannot confirm it themselves.
    let placed = app
        .client
        .change_order_status(app.as_customer(&paul, to(&quote, OrderStatus::Placed)))
        .await
        .expect("accepted")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        (placed.status, placed.version),
        (OrderStatus::Placed as i32, 2)
    );
    let err = app
        .client
        .change_order_status(app.as_customer(&paul, to(&quote, OrderStatus::Confirmed)))
        .await
        .expect_err("customer confirms");
    assert_eq!(err.code(), Code::PermissionDenied);

    // A stale version is refused.
    let mut stale = to(&quote, OrderStatus::Confirmed);
    stale.expected_version = 1;
    let err = app
        .client
        .change_order_status(app.admin(stale))
        .await
        .expect_err("stale");
    assert_eq!(err.code(), Code::FailedPrecondition);

    app.client
        .change_order_status(app.admin(to(&quote, OrderStatus::Confirmed)))
        .await
        .expect("confirmed");
    // Skipping a step names the allowed ones.
    let err = app
        .client
        .change_order_status(app.admin(to(&quote, OrderStatus::Delivered)))
        .await
        .expect_err("skip");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("preparing, cancelled"),
        "{}",
        err.message()
    );
    // Preparing needs the picking list; from the ERP through the connector.
    let err = app
        .client
        .change_order_status(app.connector(to(&quote, OrderStatus::Preparing)))
        .await
        .expect_err("no picking list");
    assert_bad_field(&err, "picking_list_ref");
    let mut preparing = to(&quote, OrderStatus::Preparing);
    preparing.picking_list_ref = "BP-2026-0042".into();
    preparing.external_ref = "CMD-7781".into();
    app.client
        .change_order_status(app.connector(preparing))
        .await
        .expect("preparing");
    let mut shipped = to(&quote, OrderStatus::Shipped);
    shipped.delivery_note_ref = "BL-2026-0042".into();
    let shipped_order = app
        .client
        .change_order_status(app.connector(shipped.clone()))
        .await
        .expect("shipped")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(shipped_order.picking_list_ref, "BP-2026-0042");
    assert_eq!(shipped_order.delivery_note_ref, "BL-2026-0042");
    assert_eq!(shipped_order.external_ref, "CMD-7781");
    assert_eq!(shipped_order.origin, "erp:conn-1");

    // The ERP sends "shipped" again: nothing changes, nothing is published.
    let again = app
        .client
        .change_order_status(app.connector(shipped))
        .await
        .expect("redelivered")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(again.version, shipped_order.version);

    app.client
        .change_order_status(app.connector(to(&quote, OrderStatus::Delivered)))
        .await
        .expect("delivered");
    let mut cancel = to(&quote, OrderStatus::Cancelled);
    cancel.reason = "changed my mind".into();
    let err = app
        .client
        .change_order_status(app.admin(cancel))
        .await
        .expect_err("too late");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("final"), "{}", err.message());

    // A subscriber sees each move once, with where it came from.
    let messages = app.messages(8).await;
    let moves: Vec<(String, OrderStatusChanged)> = messages
        .iter()
        .filter(|m| m.subject.contains(".order.") && !m.subject.ends_with(".placed"))
        .map(|m| {
            (
                m.subject.rsplit('.').next().unwrap().to_owned(),
                OrderStatusChanged::decode(m.payload.as_ref()).unwrap(),
            )
        })
        .collect();
    let seen: Vec<(&str, i32, i64, &str)> = moves
        .iter()
        .map(|(name, e)| {
            let meta = e.meta.as_ref().unwrap();
            (
                name.as_str(),
                e.to,
                meta.aggregate_version,
                meta.origin.as_str(),
            )
        })
        .collect();
    use OrderStatus::*;
    assert_eq!(
        seen,
        [
            ("status_changed", Placed as i32, 2, "shop"),
            ("confirmed", Confirmed as i32, 3, "shop"),
            ("status_changed", Preparing as i32, 4, "erp:conn-1"),
            ("status_changed", Shipped as i32, 5, "erp:conn-1"),
            ("status_changed", Delivered as i32, 6, "erp:conn-1"),
        ]
    );
}

#[tokio::test]
async fn cancelling_needs_a_reason_and_the_right_person() {
    let mut app = spawn_app().await;
    let gloves = app.product("ENT-001", 1190, 60, true).await;
    let residence = app.residence("Les Tilleuls").await;
    app.add_staff(&residence, "nurse-1").await;
    let jeanne = app.customer(resident("Martin", &residence)).await;
    let paul = app.customer(online("Durand")).await;
    let order = product_order(&mut app, &paul, &gloves, false).await;
    // The catalogue holds the two units while the order stands.
    assert_eq!(app.stock_becomes(&gloves, 58).await, 58);

    let cancel = |reason: &str| {
        let mut c = to(&order, OrderStatus::Cancelled);
        c.reason = reason.into();
        c
    };
    let err = app
        .client
        .change_order_status(app.as_customer(&paul, cancel("")))
        .await
        .expect_err("no reason");
    assert_bad_field(&err, "reason");
    // Another customer, or staff of a residence Paul is not in: not found.
    let err = app
        .client
        .change_order_status(app.as_customer(&jeanne, cancel("not mine")))
        .await
        .expect_err("someone else's");
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .client
        .change_order_status(app.staff("nurse-1", cancel("not a resident")))
        .await
        .expect_err("outside the residences");
    assert_eq!(err.code(), Code::NotFound);

    let cancelled = app
        .client
        .change_order_status(app.as_customer(&paul, cancel("ordered twice")))
        .await
        .expect("cancelled")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled as i32);
    // The two units held for the order are back on sale.
    assert_eq!(app.stock_becomes(&gloves, 60).await, 60);
    assert_eq!(cancelled.status_reason, "ordered twice");
    let event = app
        .messages(4)
        .await
        .into_iter()
        .find(|m| m.subject.ends_with(".order.cancelled"))
        .expect("order.cancelled");
    let event = OrderStatusChanged::decode(event.payload.as_ref()).unwrap();
    assert_eq!(event.order.unwrap().status_reason, "ordered twice");
    assert_eq!(event.meta.unwrap().actor, "web-customer");
}

#[tokio::test]
async fn concurrent_confirmations_confirm_once() {
    let mut app = spawn_app().await;
    let gloves = app.product("ENT-001", 1190, 60, true).await;
    let paul = app.customer(online("Durand")).await;
    let order = product_order(&mut app, &paul, &gloves, false).await;
    let calls = (0..8).map(|_| {
        let mut client = app.client.clone();
        let req = app.admin(to(&order, OrderStatus::Confirmed));
        async move { client.change_order_status(req).await }
    });
    let versions: Vec<i64> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| {
            r.expect("each call succeeds")
                .into_inner()
                .order
                .unwrap()
                .version
        })
        .collect();
    assert!(versions.iter().all(|v| *v == 2), "{versions:?}");
    let confirmed = app
        .subjects(3)
        .await
        .into_iter()
        .filter(|s| s.ends_with(".order.confirmed"))
        .count();
    assert_eq!(confirmed, 1);
}
