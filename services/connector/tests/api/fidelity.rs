//! Sync fidelity (docs/sync.md): each case seen losing an edit or leaving
//! the two sides split, as a named regression. After each, both sides hold
//! the same data, every same-field edit on both sides is a recorded
//! conflict, and `verify` finds no drift.

use std::time::Duration;

use relais_connector::adapter::{ErpAdapter, ErpRecord};
use relais_platform::testing;
use relais_proto::{
    connector::{ConflictPolicy, ConflictSide, ResolveConflictRequest},
    orders::{ChangeOrderStatusRequest, GetCustomerRequest, GetOrderRequest, OrderStatus},
    planning::{GetWorkerRequest, ListWorkersRequest, UpdateWorkerRequest, Worker, WorkerFields},
};
use serde_json::json;

use crate::stack::{Stack, fields, spawn, spawn_with, text};

/// An ERP employee, pulled into the shop and bound: (ERP record, worker).
async fn erp_worker(stack: &Stack, connection: &str) -> (ErpRecord, Worker) {
    let erp = stack.erp();
    let employee = erp
        .upsert(
            "employee",
            None,
            "erp-nina",
            &fields(
                json!({ "first_name": "Nina", "last_name": "Petit", "active": true,
                            "email": "nina@old.example", "phone": "01 00 00 00 00" }),
            ),
        )
        .await
        .unwrap();
    stack.sync(connection, "workers", false).await.unwrap();
    let worker = stack
        .planning
        .clone()
        .list_workers(stack.admin(ListWorkersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .workers
        .pop()
        .unwrap();
    let employee = erp.get("employee", &employee.id).await.unwrap();
    stack
        .bound(connection, "worker", std::slice::from_ref(&employee))
        .await;
    (employee, worker)
}

async fn worker_now(stack: &Stack, id: &str) -> Worker {
    stack
        .planning
        .clone()
        .get_worker(stack.admin(GetWorkerRequest { id: id.into() }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap()
}

/// The shop edits the worker: `edit` changes her fields.
async fn shop_edit(stack: &Stack, id: &str, edit: impl FnOnce(&mut WorkerFields)) -> Worker {
    let w = worker_now(stack, id).await;
    let mut f = w.fields.clone().unwrap();
    edit(&mut f);
    stack
        .planning
        .clone()
        .update_worker(stack.admin(UpdateWorkerRequest {
            id: w.id.clone(),
            expected_version: w.version,
            fields: Some(f),
        }))
        .await
        .unwrap()
        .into_inner()
        .worker
        .unwrap()
}

async fn no_drift(stack: &Stack, connection: &str) {
    let report = stack.verify(connection, false).await;
    assert_eq!(
        (
            report.differing,
            report.missing_in_erp,
            report.missing_in_shop,
            report.duplicates
        ),
        (0, 0, 0, 0),
        "{report:?}"
    );
}

/// Case 1: the ERP commits the worker's new email but its answer is lost;
/// the shop then changes her phone and a pull runs before the write is
/// retried. The pull recognises the connector's own write by content: no
/// conflict, and the phone reaches the ERP.
#[tokio::test]
async fn a_shop_edit_after_a_lost_answer_is_neither_lost_nor_a_conflict() {
    // Retries come late: the pull runs first, as when the ERP is slow.
    let stack = spawn_with(|cfg| cfg.push.retry_base = Duration::from_secs(20)).await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let (employee, worker) = erp_worker(&stack, &connection).await;

    stack
        .faults(json!({ "lost_answer_rate": 1.0, "lost_answer_ms": 2500 }))
        .await;
    shop_edit(&stack, &worker.id, |f| f.email = "nina@new.example".into()).await;
    stack
        .erp_eventually("employee", 1, |e| {
            e.id == employee.id && text(e, "email") == "nina@new.example"
        })
        .await;
    stack.faults(json!({})).await;
    shop_edit(&stack, &worker.id, |f| f.phone = "06 11 11 11 11".into()).await;
    stack.sync(&connection, "workers", false).await.unwrap();

    let now = worker_now(&stack, &worker.id).await.fields.unwrap();
    assert_eq!(
        (now.email.as_str(), now.phone.as_str()),
        ("nina@new.example", "06 11 11 11 11"),
        "the shop keeps both of its edits"
    );
    stack
        .erp_eventually("employee", 1, |e| {
            e.id == employee.id
                && text(e, "email") == "nina@new.example"
                && text(e, "phone") == "06 11 11 11 11"
        })
        .await;
    let conflicts = stack.conflicts(&connection, false).await;
    assert!(conflicts.is_empty(), "no false conflict: {conflicts:?}");
    no_drift(&stack, &connection).await;
}

/// Found by the model test: the connector's write of a phone is committed
/// but its answer lost, then the shop changes the same phone again before
/// the write is retried. The ERP holding the connector's own value is not
/// an ERP edit: the shop's newer phone wins, with no conflict.
#[tokio::test]
async fn a_newer_shop_edit_of_a_field_whose_write_lost_its_answer_is_kept() {
    let stack = spawn_with(|cfg| cfg.push.retry_base = Duration::from_secs(20)).await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let (employee, worker) = erp_worker(&stack, &connection).await;

    stack
        .faults(json!({ "lost_answer_rate": 1.0, "lost_answer_ms": 2500 }))
        .await;
    shop_edit(&stack, &worker.id, |f| f.phone = "02 22 22 22 22".into()).await;
    stack
        .erp_eventually("employee", 1, |e| {
            e.id == employee.id && text(e, "phone") == "02 22 22 22 22"
        })
        .await;
    stack.faults(json!({})).await;
    shop_edit(&stack, &worker.id, |f| f.phone = "01 11 11 11 11".into()).await;
    stack.sync(&connection, "workers", false).await.unwrap();
    stack
        .erp_eventually("employee", 1, |e| {
            e.id == employee.id && text(e, "phone") == "01 11 11 11 11"
        })
        .await;
    let now = worker_now(&stack, &worker.id).await.fields.unwrap();
    assert_eq!(now.phone, "01 11 11 11 11", "the shop's newer edit stays");
    let conflicts = stack.conflicts(&connection, false).await;
    assert!(conflicts.is_empty(), "no false conflict: {conflicts:?}");
    no_drift(&stack, &connection).await;
}

/// Different fields changed on each side merge, with no conflict.
#[tokio::test]
async fn edits_of_different_fields_on_each_side_merge_without_a_conflict() {
    let mut stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::Manual).await;
    let (employee, worker) = erp_worker(&stack, &connection).await;
    // Both edits between two syncs.
    stack.stop_connector();
    stack
        .erp()
        .upsert(
            "employee",
            Some(&employee.id),
            "",
            &fields(json!({ "email": "nina@erp.example" })),
        )
        .await
        .unwrap();
    shop_edit(&stack, &worker.id, |f| f.phone = "06 22 22 22 22".into()).await;
    stack.start_connector().await;
    stack.sync(&connection, "workers", false).await.unwrap();
    stack
        .erp_eventually("employee", 1, |e| {
            e.id == employee.id
                && text(e, "email") == "nina@erp.example"
                && text(e, "phone") == "06 22 22 22 22"
        })
        .await;
    let now = worker_now(&stack, &worker.id).await.fields.unwrap();
    assert_eq!(
        (now.email.as_str(), now.phone.as_str()),
        ("nina@erp.example", "06 22 22 22 22")
    );
    assert!(stack.conflicts(&connection, false).await.is_empty());
    no_drift(&stack, &connection).await;
}

/// Case 2: an online customer edited on both sides (customers both ways,
/// ERP wins). The customer is the shop's (read-only in the ERP): the ERP's
/// edit is written over and recorded, and both sides end equal.
#[tokio::test]
async fn an_online_customer_edited_on_both_sides_ends_equal_with_the_erps_edit_recorded() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let paul = stack.customer("Durand").await;
    let in_erp = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await
        .remove(0);
    stack
        .bound(&connection, "customer", std::slice::from_ref(&in_erp))
        .await;
    stack
        .erp()
        .upsert(
            "customer",
            Some(&in_erp.id),
            "",
            &fields(json!({ "phone": "09 99 99 99 99" })),
        )
        .await
        .unwrap();
    let current = stack
        .orders
        .clone()
        .get_customer(stack.admin(GetCustomerRequest { id: paul.clone() }))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let mut f = current.fields.clone().unwrap();
    f.phone = "06 33 33 33 33".into();
    stack
        .orders
        .clone()
        .update_customer(stack.admin(relais_proto::orders::UpdateCustomerRequest {
            id: paul.clone(),
            expected_version: current.version,
            fields: Some(f),
        }))
        .await
        .unwrap();
    stack.sync(&connection, "customers", false).await.unwrap();
    stack
        .erp_eventually("customer", 1, |c| {
            c.id == in_erp.id && text(c, "phone") == "06 33 33 33 33"
        })
        .await;
    let overwritten = testing::eventually(Duration::from_secs(15), || async {
        stack
            .conflicts(&connection, false)
            .await
            .into_iter()
            .find(|c| c.kind == "erp_overwritten" && c.internal_id == paul)
    })
    .await
    .expect("the ERP's edit is recorded");
    let phone = overwritten
        .values
        .iter()
        .find(|v| v.field == "phone")
        .expect("the phone is named");
    assert_eq!(phone.erp, "\"09 99 99 99 99\"", "what the ERP had");
    assert_eq!(phone.shop, "\"06 33 33 33 33\"", "what the shop restored");
    no_drift(&stack, &connection).await;
}

/// Case 2, product orders: the ERP starts preparing an order the shop
/// cancels meanwhile. Whatever the policy, the cancellation reaches the
/// ERP (the ERP would otherwise ship a cancelled order), and the conflict
/// is recorded with the rule that decided it.
async fn a_cancellation_is_never_left_preparing(policy: ConflictPolicy) {
    let mut stack = spawn().await;
    let connection = crate::orders::connect_orders_with(&stack, policy).await;
    let placed = crate::orders::paid_order(&stack).await;
    let sent = stack
        .erp_eventually("order", 1, |o| text(o, "shop_id") == placed.id)
        .await
        .remove(0);
    stack
        .bound(&connection, "order", std::slice::from_ref(&sent))
        .await;
    // Both edits between two syncs.
    stack.stop_connector();
    stack
        .erp()
        .upsert(
            "order",
            Some(&sent.id),
            "",
            &fields(json!({ "status": "preparing", "picking_list": "PL-7" })),
        )
        .await
        .unwrap();
    stack
        .orders
        .clone()
        .change_order_status(stack.admin(ChangeOrderStatusRequest {
            id: placed.id.clone(),
            status: OrderStatus::Cancelled as i32,
            reason: "client absent".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    stack.start_connector().await;
    stack.sync(&connection, "orders", false).await.unwrap();
    stack
        .erp_eventually("order", 1, |o| {
            o.id == sent.id && text(o, "status") == "cancelled"
        })
        .await;
    let order = stack
        .orders
        .clone()
        .get_order(stack.admin(GetOrderRequest {
            id: placed.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status(), OrderStatus::Cancelled);
    let conflict = testing::eventually(Duration::from_secs(15), || async {
        stack
            .conflicts(&connection, false)
            .await
            .into_iter()
            .find(|c| c.internal_id == placed.id && c.kind == "conflict")
    })
    .await
    .expect("the two statuses are a recorded conflict");
    assert_eq!(conflict.winner, "shop", "{conflict:?}");
    assert!(!conflict.rule.is_empty(), "{conflict:?}");
    no_drift(&stack, &connection).await;
}

#[tokio::test]
async fn an_order_cancelled_in_the_shop_while_the_erp_prepares_it_is_cancelled_there_erp_wins() {
    a_cancellation_is_never_left_preparing(ConflictPolicy::ErpWins).await;
}

#[tokio::test]
async fn an_order_cancelled_in_the_shop_while_the_erp_prepares_it_is_cancelled_there_shop_wins() {
    a_cancellation_is_never_left_preparing(ConflictPolicy::ShopWins).await;
}

/// Case 3: under manual, a record changed on both sides is held: neither
/// the next pull nor the queued push writes either side; settled for the
/// shop, the shop's current state (a later edit included) is written and
/// both sides end equal.
#[tokio::test]
async fn a_manual_conflict_holds_both_sides_until_staff_settle_it_with_the_current_state() {
    let mut stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::Manual).await;
    let (employee, worker) = erp_worker(&stack, &connection).await;
    // Both edits between two syncs.
    stack.stop_connector();
    stack
        .erp()
        .upsert(
            "employee",
            Some(&employee.id),
            "",
            &fields(json!({ "email": "nina@erp.example" })),
        )
        .await
        .unwrap();
    shop_edit(&stack, &worker.id, |f| f.email = "nina@shop.example".into()).await;
    stack.start_connector().await;
    stack.sync(&connection, "workers", false).await.unwrap();
    let conflict = stack.open_conflict(&connection).await;
    assert_eq!(conflict.values.len(), 1, "{conflict:?}");
    assert_eq!(conflict.values[0].field, "email");

    // Held: a later shop edit and another pull write nothing anywhere.
    shop_edit(&stack, &worker.id, |f| f.phone = "06 44 44 44 44".into()).await;
    stack.sync(&connection, "workers", false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = stack.erp().get("employee", &employee.id).await.unwrap();
    assert_eq!(text(&held, "email"), "nina@erp.example");
    assert_eq!(
        text(&held, "phone"),
        "01 00 00 00 00",
        "nothing written while held"
    );
    let shop = worker_now(&stack, &worker.id).await.fields.unwrap();
    assert_eq!(shop.email, "nina@shop.example", "the shop's side untouched");
    let report = stack.verify(&connection, false).await;
    assert_eq!((report.held, report.differing), (1, 0), "{report:?}");

    let settled = stack
        .connector
        .clone()
        .resolve_conflict(stack.admin(ResolveConflictRequest {
            id: conflict.id.clone(),
            winner: ConflictSide::Shop as i32,
        }))
        .await
        .unwrap()
        .into_inner()
        .conflict
        .unwrap();
    assert_eq!(settled.winner, "shop");
    // Written by the settlement itself, read back: no waiting.
    let after = stack.erp().get("employee", &employee.id).await.unwrap();
    assert_eq!(
        (text(&after, "email"), text(&after, "phone")),
        ("nina@shop.example", "06 44 44 44 44"),
        "the shop's current state, not its last queued one"
    );
    no_drift(&stack, &connection).await;
    assert!(stack.conflicts(&connection, true).await.is_empty());
}

/// Case 7: a shop-owned record of a push-only family edited in the ERP.
/// `verify` reports it; repaired, the shop's version is restored and the
/// ERP's edit recorded for staff.
#[tokio::test]
async fn an_erp_edit_of_a_shop_owned_record_is_reported_restored_and_recorded() {
    let stack = spawn().await;
    let connection = crate::orders::connect_orders_with(&stack, ConflictPolicy::ErpWins).await;
    let paul = stack.customer("Durand").await;
    let in_erp = stack
        .erp_eventually("customer", 1, |c| text(c, "shop_id") == paul)
        .await
        .remove(0);
    stack
        .bound(&connection, "customer", std::slice::from_ref(&in_erp))
        .await;
    stack
        .erp()
        .upsert(
            "customer",
            Some(&in_erp.id),
            "",
            &fields(json!({ "last_name": "Dupont" })),
        )
        .await
        .unwrap();
    let report = stack.verify(&connection, false).await;
    assert_eq!(report.differing, 1, "{report:?}");
    assert_eq!(report.drifts[0].fields, vec!["last_name".to_owned()]);
    assert_eq!(
        text(
            &stack.erp().get("customer", &in_erp.id).await.unwrap(),
            "last_name"
        ),
        "Dupont",
        "a report changes nothing"
    );

    let repaired = stack.verify(&connection, true).await;
    assert_eq!(repaired.repaired, 1, "{repaired:?}");
    let restored = stack.erp().get("customer", &in_erp.id).await.unwrap();
    assert_eq!(text(&restored, "last_name"), "Durand");
    let recorded = stack
        .conflicts(&connection, false)
        .await
        .into_iter()
        .find(|c| c.kind == "erp_overwritten")
        .expect("the ERP's edit is recorded");
    assert_eq!(recorded.values[0].erp, "\"Dupont\"");
    no_drift(&stack, &connection).await;
}
