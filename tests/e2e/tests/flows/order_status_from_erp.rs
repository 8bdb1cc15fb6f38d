//! Seed 004, ERP → shop: a product order paid in the shop is sent to the
//! ERP; the ERP's picking list, delivery note and delivery reach the
//! shop's order as its status, and nothing echoes back.

use relais_connector::adapter::ErpAdapter;
use relais_proto::{
    connector::{ConflictPolicy, ConnectionFields, Direction, OrderStatusRule, SendAs},
    orders::{
        GetOrderRequest, OrderLineRequest, OrderStatus, PaymentMode, PlaceProductOrderRequest,
    },
};
use serde_json::json;

use crate::support::{family, fields, spawn, text};

#[tokio::test]
async fn the_erps_picking_list_delivery_note_and_delivery_reach_the_shops_order() {
    let stack = spawn(relais_testkit::Stack::builder().connector().erp()).await;
    // Customers pushed, product orders both ways: not sent when validated,
    // sent as an order once paid.
    let rule = |status: &str, send_as: SendAs| OrderStatusRule {
        status: status.into(),
        send_as: send_as as i32,
    };
    let connection = stack
        .connection(
            "shop-erp",
            ConnectionFields {
                families: vec![
                    family("customers", Direction::Push),
                    family("orders", Direction::Both),
                ],
                order_statuses: vec![
                    rule("validated", SendAs::NotSent),
                    rule("paid", SendAs::Order),
                ],
                conflict_policy: ConflictPolicy::ErpWins as i32,
                ..Default::default()
            },
        )
        .await;
    // Three gloves at 10 % off, by card, placed and paid.
    let gloves = stack.gloves(10_000).await;
    let paul = stack
        .customer("Paul", "Durand", "durand@example.org", "")
        .await;
    let placed = stack
        .orders()
        .place_product_order(stack.admin(PlaceProductOrderRequest {
            customer_id: paul,
            lines: vec![OrderLineRequest {
                item_id: gloves,
                quantity: 3,
                discount_bp: 1000,
            }],
            shipping_method: "delivery".into(),
            payment_mode: PaymentMode::Card as i32,
            terms_accepted: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    stack.confirm(&placed.id).await;
    let sent = stack
        .erp_eventually("order", 1, |o| text(o, "shop_id") == placed.id)
        .await
        .remove(0);
    let erp = stack.erp();
    let status_of = || async {
        stack
            .orders()
            .get_order(stack.admin(GetOrderRequest {
                id: placed.id.clone(),
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
    };
    for (change, status) in [
        (
            json!({ "status": "preparing", "picking_list": "PL-0031" }),
            OrderStatus::Preparing,
        ),
        (
            json!({ "status": "shipped", "delivery_note": "BL-0042" }),
            OrderStatus::Shipped,
        ),
        (json!({ "status": "delivered" }), OrderStatus::Delivered),
    ] {
        erp.upsert("order", Some(&sent.id), "", &fields(change))
            .await
            .unwrap();
        let run = stack.run(&connection, "orders").await;
        assert_eq!((run.applied, run.failed), (1, 0), "{run:?}");
        assert_eq!(status_of().await.status(), status);
    }
    let order = status_of().await;
    assert_eq!(
        order.origin, "erp:shop-erp",
        "the last change came from the ERP"
    );
    // Not echoed: the ERP's record is at the version the ERP left it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        erp.get("order", &sent.id).await.unwrap().version,
        sent.version + 3
    );
}
