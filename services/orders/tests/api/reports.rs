//! Lists per role, the traceability export (seed 003) and statistics.

use futures::StreamExt;
use relais_proto::{
    orders::{
        ChangeOrderStatusRequest, ExportOrdersRequest, GetOrderStatisticsRequest,
        ListOrdersRequest, Order, OrderFilter, OrderLineRequest, OrderStatus, PaymentMode,
        PlaceProductOrderRequest, StatisticsDimension,
    },
    types::PageRequest,
};
use tonic::{Code, Request};

use crate::helpers::*;

struct Shop {
    tilleuls: String,
    glycines: String,
    jeanne: String,
    marcel: String,
    paul: String,
    gloves: String,
    soap: String,
}

/// Two residences with a nurse each, a resident in each, an online
/// customer; nurse-1 orders for Jeanne twice, nurse-2 for Marcel, Paul for
/// himself; one of Jeanne's orders is cancelled.
async fn shop(app: &mut TestApp) -> (Shop, Vec<Order>) {
    let tilleuls = app.residence("Les Tilleuls").await;
    let glycines = app.residence("Les Glycines").await;
    app.add_staff(&tilleuls, "nurse-1").await;
    app.add_staff(&glycines, "nurse-2").await;
    // A name that would run as a spreadsheet formula.
    let mut formula = resident("Martin", &tilleuls);
    formula.first_name = "=1+1".into();
    let jeanne = app.customer(formula).await;
    let marcel = app.customer(resident("Petit", &glycines)).await;
    let paul = app.customer(online("Durand")).await;
    let gloves = app.product("ENT-001", 1190, 100, true).await;
    let soap = app.product("HYG-001", 390, 100, true).await;
    let shop = Shop {
        tilleuls,
        glycines,
        jeanne,
        marcel,
        paul,
        gloves,
        soap,
    };
    let mut orders = Vec::new();
    for (who, customer, lines) in [
        (
            "nurse-1",
            &shop.jeanne,
            vec![(&shop.gloves, 2), (&shop.soap, 1)],
        ),
        ("nurse-1", &shop.jeanne, vec![(&shop.gloves, 5)]),
        ("nurse-2", &shop.marcel, vec![(&shop.soap, 3)]),
        ("paul", &shop.paul, vec![(&shop.gloves, 1)]),
    ] {
        let req = PlaceProductOrderRequest {
            customer_id: customer.clone(),
            lines: lines
                .into_iter()
                .map(|(item, quantity)| OrderLineRequest {
                    item_id: item.clone(),
                    quantity,
                    discount_bp: 0,
                })
                .collect(),
            shipping_method: "delivery".into(),
            payment_mode: PaymentMode::Invoice as i32,
            terms_accepted: true,
            confirmation_email: "accueil@residence.example".into(),
            ..Default::default()
        };
        let req = if who == "paul" {
            app.as_customer(&shop.paul, req)
        } else {
            app.staff(who, req)
        };
        orders.push(
            app.client
                .place_product_order(req)
                .await
                .expect("placed")
                .into_inner()
                .order
                .unwrap(),
        );
    }
    let cancel = ChangeOrderStatusRequest {
        id: orders[1].id.clone(),
        status: OrderStatus::Cancelled as i32,
        reason: "wrong size".into(),
        ..Default::default()
    };
    app.client
        .change_order_status(app.admin(cancel))
        .await
        .unwrap();
    (shop, orders)
}

fn list(filter: OrderFilter, page_size: i32, token: &str) -> ListOrdersRequest {
    ListOrdersRequest {
        page: Some(PageRequest {
            page_size,
            page_token: token.into(),
        }),
        filter: Some(filter),
    }
}

async fn ids(app: &TestApp, req: Request<ListOrdersRequest>) -> Vec<String> {
    app.client
        .clone()
        .list_orders(req)
        .await
        .expect("listed")
        .into_inner()
        .orders
        .into_iter()
        .map(|o| o.id)
        .collect()
}

#[tokio::test]
async fn each_role_lists_what_it_may_see_newest_first() {
    let mut app = spawn_app().await;
    let (shop, orders) = shop(&mut app).await;
    let id = |i: usize| orders[i].id.clone();

    let all = ids(&app, app.admin(list(OrderFilter::default(), 0, ""))).await;
    assert_eq!(all, [id(3), id(2), id(1), id(0)]);
    let nurse = ids(
        &app,
        app.staff("nurse-1", list(OrderFilter::default(), 0, "")),
    )
    .await;
    assert_eq!(nurse, [id(1), id(0)]);
    let me = ids(
        &app,
        app.as_customer(&shop.paul, list(OrderFilter::default(), 0, "")),
    )
    .await;
    assert_eq!(me, [id(3)]);

    // Naming what one may not see is NOT_FOUND, not an empty page.
    let other = OrderFilter {
        residence_id: shop.glycines.clone(),
        ..Default::default()
    };
    let err = app
        .client
        .list_orders(app.staff("nurse-1", list(other, 0, "")))
        .await
        .expect_err("another residence");
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .client
        .list_orders(app.as_customer(
            &shop.paul,
            list(
                OrderFilter {
                    customer_id: shop.jeanne.clone(),
                    ..Default::default()
                },
                0,
                "",
            ),
        ))
        .await
        .expect_err("another customer");
    assert_eq!(err.code(), Code::NotFound);

    // Filters and pages.
    let cancelled = OrderFilter {
        status: OrderStatus::Cancelled as i32,
        ..Default::default()
    };
    assert_eq!(ids(&app, app.admin(list(cancelled, 0, ""))).await, [id(1)]);
    let by_nurse = OrderFilter {
        placed_by: "nurse-1".into(),
        ..Default::default()
    };
    let first = app
        .client
        .list_orders(app.admin(list(by_nurse.clone(), 1, "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.orders[0].id, id(1));
    let second = ids(&app, app.admin(list(by_nurse, 1, &first.next_page_token))).await;
    assert_eq!(second, [id(0)]);
    let bad = OrderFilter {
        kind: "furniture".into(),
        ..Default::default()
    };
    let err = app
        .client
        .list_orders(app.admin(list(bad, 0, "")))
        .await
        .expect_err("bad kind");
    assert_bad_field(&err, "filter.kind");
    let _ = shop.tilleuls;
}

async fn export(app: &TestApp, req: Request<ExportOrdersRequest>) -> String {
    let mut stream = app
        .client
        .clone()
        .export_orders(req)
        .await
        .expect("export")
        .into_inner();
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        data.extend(chunk.expect("chunk").data);
    }
    String::from_utf8(data).unwrap()
}

#[tokio::test]
async fn traceability_exports_who_bought_what_for_whom_as_csv() {
    let mut app = spawn_app().await;
    let (shop, orders) = shop(&mut app).await;
    let csv = export(&app, app.admin(ExportOrdersRequest::default())).await;
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(rows[0].starts_with("placed_at,order_id,kind,status,placed_by,placed_by_role,customer_id,customer_name,residence_id,residence_name"));
    assert_eq!(rows.len(), 1 + 5, "one row per line");
    // Newest first: Paul's own order, then Marcel's by nurse-2.
    assert!(rows[1].contains(&format!(
        ",{},product,placed,web-customer,customer,",
        orders[3].id
    )));
    let marcel = rows[2];
    assert!(marcel.contains(",nurse-2,staff,"), "{marcel}");
    assert!(marcel.contains(",Jeanne Petit,"), "{marcel}");
    assert!(marcel.contains(&format!(",{},Les Glycines,invoice,1,HYG-001,Article HYG-001,3,3.90,0.00,20.00,11.70,2.34,14.04,EUR", shop.glycines)), "{marcel}");
    // The cancelled order is traced with its status; the formula is text.
    assert!(rows[3].contains(",cancelled,nurse-1,staff,"));
    assert!(rows[3].contains(",'=1+1 Martin,"), "{}", rows[3]);

    // Staff export their residences only.
    let nurse = export(&app, app.staff("nurse-2", ExportOrdersRequest::default())).await;
    assert_eq!(nurse.split("\r\n").filter(|l| !l.is_empty()).count(), 2);
    let _ = (shop.marcel, shop.tilleuls, shop.jeanne);
}

#[tokio::test]
async fn statistics_per_item_residence_and_month_leave_out_cancelled_orders() {
    let mut app = spawn_app().await;
    let (shop, _) = shop(&mut app).await;
    let stats = |dimension: StatisticsDimension| GetOrderStatisticsRequest {
        dimension: dimension as i32,
        ..Default::default()
    };
    let rows = app
        .client
        .get_order_statistics(app.admin(stats(StatisticsDimension::Item)))
        .await
        .expect("per item")
        .into_inner()
        .rows;
    let gloves = rows.iter().find(|r| r.key == shop.gloves).unwrap();
    // 2 for Jeanne + 1 for Paul (the 5 were cancelled) at 11.90.
    assert_eq!((gloves.orders, gloves.quantity), (2, 3));
    assert_eq!(gloves.total_excl_vat, eur(3570));
    assert_eq!(gloves.label, "ENT-001 Article ENT-001");
    let soap = rows.iter().find(|r| r.key == shop.soap).unwrap();
    assert_eq!((soap.orders, soap.quantity), (2, 4));

    let rows = app
        .client
        .get_order_statistics(app.admin(stats(StatisticsDimension::Residence)))
        .await
        .unwrap()
        .into_inner()
        .rows;
    let labels: Vec<(&str, i64)> = rows.iter().map(|r| (r.label.as_str(), r.orders)).collect();
    assert!(labels.contains(&("Les Tilleuls", 1)), "{labels:?}");
    assert!(labels.contains(&("Les Glycines", 1)), "{labels:?}");
    assert!(labels.contains(&("(no residence)", 1)), "{labels:?}");

    let month = app
        .client
        .get_order_statistics(app.admin(stats(StatisticsDimension::Month)))
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert_eq!(month.len(), 1);
    assert_eq!(month[0].orders, 3);
    // 35.70 + 2 × 3.90... : every line of the three live orders, with VAT.
    assert_eq!(month[0].total_excl_vat, eur(3570 + 390 * 4));

    // Staff get their residences' figures; customers none.
    let nurse = app
        .client
        .get_order_statistics(app.staff("nurse-2", stats(StatisticsDimension::Item)))
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert_eq!(nurse.len(), 1);
    assert_eq!(nurse[0].quantity, 3);
    let err = app
        .client
        .get_order_statistics(app.as_customer(&shop.paul, stats(StatisticsDimension::Item)))
        .await
        .expect_err("customer");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app
        .client
        .get_order_statistics(app.admin(stats(StatisticsDimension::Unspecified)))
        .await
        .expect_err("no dimension");
    assert_bad_field(&err, "dimension");
}
