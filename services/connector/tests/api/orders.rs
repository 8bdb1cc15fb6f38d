//! Shop → ERP product orders (seed 004): sent by status as the connection's
//! rules say, as an order with its lines and line discounts; once sent, a
//! cancellation follows it. (The ERP's statuses back to the shop's order,
//! end to end: `tests/e2e`.)

use relais_proto::{
    catalogue::{CreateProductRequest, ProductFields},
    connector::{
        AdapterKind, ConflictPolicy, ConnectionFields, CreateConnectionRequest, Direction,
        FamilySettings, OrderStatusRule, SendAs,
    },
    orders::{ChangeOrderStatusRequest, OrderStatus},
    types::Money,
};
use serde_json::json;

use crate::stack::{Stack, spawn, text};

async fn connect_orders(stack: &Stack) -> String {
    connect_orders_with(stack, ConflictPolicy::ErpWins).await
}

/// Customers pushed, product orders both ways (sent once paid).
pub(crate) async fn connect_orders_with(stack: &Stack, policy: ConflictPolicy) -> String {
    let rule = |status: &str, send_as: SendAs| OrderStatusRule {
        status: status.into(),
        send_as: send_as as i32,
    };
    let family = |f: &str, d: Direction| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    };
    stack
        .connector
        .clone()
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: String::new(),
            fields: Some(ConnectionFields {
                name: "shop-erp".into(),
                adapter: AdapterKind::ReferenceErp as i32,
                endpoint: stack.erp_base.clone(),
                secret_ref: String::new(),
                secret: crate::stack::ERP_KEYS.into(),
                families: vec![
                    family("customers", Direction::Push),
                    family("orders", Direction::Both),
                ],
                order_statuses: vec![
                    rule("validated", SendAs::NotSent),
                    rule("paid", SendAs::Order),
                ],
                conflict_policy: policy as i32,
                enabled: true,
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id
}

pub(crate) async fn product(stack: &Stack) -> String {
    let id = stack
        .catalogue
        .clone()
        .create_product(stack.admin(CreateProductRequest {
            idempotency_key: String::new(),
            fields: Some(ProductFields {
                sku: "ENT-001".into(),
                designation: "Gants".into(),
                price: Some(Money {
                    amount_cents: 1190,
                    currency: "EUR".into(),
                }),
                vat_rate_bp: 2000,
                active: true,
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap()
        .id;
    stack.in_stock(&id, 100).await;
    id
}

/// A card order of 3 gloves at 10 % off for a new customer, placed and paid.
pub(crate) async fn paid_order(stack: &Stack) -> relais_proto::orders::Order {
    let gloves = product(stack).await;
    let paul = stack.customer("Durand").await;
    // Validated only: not sent. Paid: sent as an order.
    stack.paid_product_order(&paul, &gloves).await
}

#[tokio::test]
async fn a_paid_product_order_reaches_the_erp_as_an_order_with_its_discounts_and_its_cancellation()
{
    let stack = spawn().await;
    connect_orders(&stack).await;
    let placed = paid_order(&stack).await;
    let mut orders = stack.orders.clone();
    let paul = placed.customer_id.clone();
    let sent = stack
        .erp_eventually("order", 1, |o| text(o, "shop_id") == placed.id)
        .await;
    let o = &sent[0];
    assert_eq!(text(o, "status"), "paid");
    let customer = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await;
    assert_eq!(text(o, "customer"), customer[0].id);
    let line = &o.fields["lines"][0];
    assert_eq!(line["reference"], json!("ENT-001"));
    assert_eq!(line["quantity"], json!(3));
    assert_eq!(line["discount_bp"], json!(1000), "the line discount");
    assert_eq!(line["unit_price_cents"], json!(1190));
    assert_eq!(
        o.fields["total_incl_vat_cents"],
        json!(placed.total_incl_vat.as_ref().unwrap().amount_cents)
    );
    assert!(
        stack.erp_records("quote").await.is_empty(),
        "sent as an order, not a quote"
    );

    orders
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: placed.id.clone(),
            status: OrderStatus::Cancelled as i32,
            reason: "client absent".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    stack
        .erp_eventually("order", 1, |o| {
            text(o, "shop_id") == placed.id && text(o, "status") == "cancelled"
        })
        .await;
    assert_eq!(
        stack.erp_records("order").await.len(),
        1,
        "the same order, updated"
    );
}
