//! Planning changes both ways (seed 000): an intervention rescheduled,
//! reassigned or cancelled in the ERP is changed so in the shop on a sync,
//! and not sent back; one rescheduled in the shop reaches the ERP.

use std::time::Duration;

use relais_connector::adapter::ErpAdapter;
use relais_platform::testing;
use relais_proto::{
    connector::{ConflictPolicy, ConflictSide, ResolveConflictRequest},
    planning::{
        ChangeInterventionsRequest, ChangeScope, InterventionStatus, ListInterventionsRequest,
        Reschedule, change_interventions_request::Change,
    },
};
use serde_json::json;

use crate::stack::{fields, spawn, text};

fn plus_hour(t: &str) -> String {
    (chrono::DateTime::parse_from_rfc3339(t).unwrap() + chrono::Duration::hours(1))
        .with_timezone(&chrono::Utc)
        .to_rfc3339()
}

#[tokio::test]
async fn planning_changes_reach_the_other_side_both_ways() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::ErpWins).await;
    let service = stack.service("MENAGE").await;
    let awa = stack.shop_worker("Awa", &service).await;
    let omar = stack.shop_worker("Omar", &service).await;
    let paul = stack.customer("Durand").await;
    let order = stack.book(&paul, &service, &awa, 4).await;
    let services = stack
        .erp_eventually("service", 4, |s| text(s, "status") == "planned")
        .await;
    stack.bound(&connection, "intervention", &services).await;
    let omar_employee = stack
        .erp_eventually("employee", 1, |e| text(e, "shop_id") == omar)
        .await
        .remove(0)
        .id;
    let by_occurrence = |n: i64| {
        services
            .iter()
            .find(|s| s.fields["occurrence"] == json!(n))
            .unwrap()
            .clone()
    };
    let (first, second, third) = (by_occurrence(1), by_occurrence(2), by_occurrence(3));
    let erp = stack.erp();
    let new_start = plus_hour(text(&first, "start"));
    let new_end = plus_hour(text(&first, "end"));
    erp.upsert(
        "service",
        Some(&first.id),
        "",
        &fields(json!({ "start": new_start, "end": new_end })),
    )
    .await
    .unwrap();
    // Moved and reassigned in one edit.
    let second_start = plus_hour(text(&second, "start"));
    let second_end = plus_hour(text(&second, "end"));
    erp.upsert(
        "service",
        Some(&second.id),
        "",
        &fields(json!({ "employee": omar_employee, "start": second_start, "end": second_end })),
    )
    .await
    .unwrap();
    erp.upsert(
        "service",
        Some(&third.id),
        "",
        &fields(json!({ "status": "cancelled" })),
    )
    .await
    .unwrap();

    let run = stack.sync(&connection, "planning", false).await.unwrap();
    let run = run.last().unwrap().run.clone().unwrap();
    assert_eq!((run.applied, run.failed), (3, 0), "{run:?}");

    let list = || async {
        stack
            .planning
            .clone()
            .list_interventions(stack.admin(ListInterventionsRequest {
                order_id: order.id.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .interventions
    };
    let now = list().await;
    let shop = |id: &str| now.iter().find(|i| i.id == id).unwrap().clone();
    let moved = shop(text(&first, "shop_id"));
    let start = chrono::DateTime::from_timestamp(moved.start.unwrap().seconds, 0).unwrap();
    assert_eq!(start.to_rfc3339(), new_start, "rescheduled as in the ERP");
    let both = shop(text(&second, "shop_id"));
    assert_eq!(both.worker_id, omar, "reassigned to Omar");
    let both_start = chrono::DateTime::from_timestamp(both.start.unwrap().seconds, 0).unwrap();
    assert_eq!(
        both_start.to_rfc3339(),
        second_start,
        "and moved, in the same edit"
    );
    assert_eq!(
        shop(text(&third, "shop_id")).status(),
        InterventionStatus::Cancelled
    );
    assert_eq!(
        shop(text(&by_occurrence(4), "shop_id")).worker_id,
        awa,
        "untouched"
    );

    // Not sent back: the ERP's records keep the version the ERP gave them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for s in [&first, &second, &third] {
        let read = erp.get("service", &s.id).await.unwrap();
        assert_eq!(read.version, s.version + 1, "no echo of {}", s.id);
    }

    // The other way: a reschedule in the shop reaches the ERP.
    let fourth = shop(text(&by_occurrence(4), "shop_id"));
    let later = fourth.start.unwrap().seconds + 2 * 3600;
    stack
        .planning
        .clone()
        .change_interventions(stack.admin(ChangeInterventionsRequest {
            intervention_id: fourth.id.clone(),
            scope: ChangeScope::One as i32,
            expected_version: fourth.version,
            change: Some(Change::Reschedule(Reschedule {
                start: Some(prost_types::Timestamp {
                    seconds: later,
                    nanos: 0,
                }),
                local_start_time: String::new(),
                duration_minutes: 120,
            })),
        }))
        .await
        .unwrap();
    let expected = chrono::DateTime::from_timestamp(later, 0)
        .unwrap()
        .to_rfc3339();
    testing::eventually(Duration::from_secs(15), || async {
        let r = erp.get("service", &by_occurrence(4).id).await.ok()?;
        (text(&r, "start") == expected).then_some(())
    })
    .await
    .expect("the shop's reschedule in the ERP");
}

#[tokio::test]
async fn an_intervention_moved_on_both_sides_waits_for_staff_who_keep_the_erps_time() {
    let stack = spawn().await;
    let connection = stack.connect(ConflictPolicy::Manual).await;
    let service = stack.service("MENAGE").await;
    let awa = stack.shop_worker("Awa", &service).await;
    let paul = stack.customer("Durand").await;
    stack.book(&paul, &service, &awa, 1).await;
    let erp_record = stack
        .erp_eventually("service", 1, |s| text(s, "status") == "planned")
        .await
        .remove(0);
    stack
        .bound(
            &connection,
            "intervention",
            std::slice::from_ref(&erp_record),
        )
        .await;
    // The ERP moves it an hour later; the shop, two hours later.
    let erp_start = plus_hour(text(&erp_record, "start"));
    stack
        .erp()
        .upsert(
            "service",
            Some(&erp_record.id),
            "",
            &fields(json!({ "start": erp_start, "end": plus_hour(text(&erp_record, "end")) })),
        )
        .await
        .unwrap();
    let shop = stack
        .planning
        .clone()
        .list_interventions(stack.admin(ListInterventionsRequest {
            worker_id: awa.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .interventions
        .remove(0);
    stack
        .planning
        .clone()
        .change_interventions(stack.admin(ChangeInterventionsRequest {
            intervention_id: shop.id.clone(),
            scope: ChangeScope::One as i32,
            expected_version: shop.version,
            change: Some(Change::Reschedule(Reschedule {
                start: Some(prost_types::Timestamp {
                    seconds: shop.start.unwrap().seconds + 2 * 3600,
                    nanos: 0,
                }),
                local_start_time: String::new(),
                duration_minutes: 120,
            })),
        }))
        .await
        .unwrap();
    let conflict = stack.open_conflict(&connection).await;
    assert_eq!(conflict.entity, "intervention");

    let settled = stack
        .connector
        .clone()
        .resolve_conflict(stack.admin(ResolveConflictRequest {
            id: conflict.id.clone(),
            winner: ConflictSide::Erp as i32,
        }))
        .await
        .unwrap()
        .into_inner()
        .conflict
        .unwrap();
    assert_eq!(settled.winner, "erp");
    let now = stack
        .planning
        .clone()
        .list_interventions(stack.admin(ListInterventionsRequest {
            worker_id: awa,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .interventions
        .remove(0);
    let start = chrono::DateTime::from_timestamp(now.start.unwrap().seconds, 0).unwrap();
    assert_eq!(
        start.to_rfc3339(),
        erp_start,
        "the ERP's time, kept by staff"
    );
}
