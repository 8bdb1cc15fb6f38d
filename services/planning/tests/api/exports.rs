//! The payroll / provider export: interventions of a period per provider
//! and worker, with planned and actual minutes and amounts.

use chrono::{Datelike, Days, Utc};
use futures::StreamExt;
use relais_proto::planning::{
    ChangeInterventionsRequest, ChangeScope, ExportInterventionsRequest, InterventionStatus,
    MarkDone, Reschedule, change_interventions_request::Change,
};

use crate::{
    bookings::{book_and_confirm, interventions},
    helpers::*,
};

fn ts(t: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

#[tokio::test]
async fn the_export_gives_each_workers_hours_and_amounts_for_a_period() {
    let stack = spawn().await;
    let cleaning = stack.service("MENAGE").await;
    let awa = stack.worker("Diallo", &[&cleaning]).await;
    let paul = stack.customer("Durand").await;
    let order = book_and_confirm(&stack, &paul, &cleaning, &awa).await;
    let series = interventions(&stack, &order.id, 3, InterventionStatus::Planned).await;
    // 25.00 an hour, 2 h: each is worth 50.00.
    assert_eq!(series[0].price.as_ref().unwrap().amount_cents, 5000);

    // The first took place last Monday at 10:00 Paris (9:00 UTC), as the ERP
    // reports, and lasted 1 h 30.
    let today = Utc::now().date_naive();
    let last_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()) + 7);
    let start = last_monday.and_hms_opt(9, 0, 0).unwrap().and_utc();
    let mut planning = stack.planning.clone();
    planning
        .change_interventions(stack.admin(ChangeInterventionsRequest {
            intervention_id: series[0].id.clone(),
            scope: ChangeScope::One as i32,
            expected_version: 0,
            change: Some(Change::Reschedule(Reschedule {
                start: ts(start),
                local_start_time: String::new(),
                duration_minutes: 0,
            })),
        }))
        .await
        .expect("moved to last Monday");
    planning
        .change_interventions(stack.admin(ChangeInterventionsRequest {
            intervention_id: series[0].id.clone(),
            scope: ChangeScope::One as i32,
            expected_version: 0,
            change: Some(Change::Done(MarkDone { actual_minutes: 90 })),
        }))
        .await
        .expect("done");

    let export = |done_only: bool, provider: &str| ExportInterventionsRequest {
        from: ts(start - chrono::Duration::days(1)),
        to: ts(start + chrono::Duration::days(60)),
        provider: provider.into(),
        worker_id: String::new(),
        done_only,
    };
    let read = |req| {
        let mut planning = stack.planning.clone();
        let req = stack.admin(req);
        async move {
            let mut stream = planning
                .export_interventions(req)
                .await
                .unwrap()
                .into_inner();
            let mut data = Vec::new();
            while let Some(chunk) = stream.next().await {
                data.extend(chunk.unwrap().data);
            }
            String::from_utf8(data).unwrap()
        }
    };
    let csv = read(export(false, "")).await;
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(rows[0].starts_with("provider,worker_id,worker,date,start,end,time_zone,"));
    assert_eq!(rows.len(), 4, "{csv}");
    let done = rows[1];
    assert!(
        done.starts_with(&format!(
            "Agence Lyon,{awa},Awa Diallo,{last_monday},10:00,12:00,Europe/Paris,"
        )),
        "{done}"
    );
    // Prorated to the time worked: 50.00 × 90 / 120 = 37.50.
    assert!(done.ends_with(",done,120,90,,37.50,EUR"), "{done}");
    assert!(rows[2].ends_with(",planned,120,,,50.00,EUR"), "{}", rows[2]);

    let payroll = read(export(true, "Agence Lyon")).await;
    assert_eq!(payroll.split("\r\n").filter(|l| !l.is_empty()).count(), 2);
    let other = read(export(false, "Autre agence")).await;
    assert_eq!(
        other.split("\r\n").filter(|l| !l.is_empty()).count(),
        1,
        "header only"
    );
    let err = planning
        .export_interventions(stack.admin(ExportInterventionsRequest {
            from: ts(start),
            to: ts(start),
            ..Default::default()
        }))
        .await
        .expect_err("empty period");
    assert_bad_field(&err, "to");
}
