//! Changes from either side, for one intervention, the following or all;
//! clashes refused whole, naming the clash.

use chrono::TimeZone;
use prost::Message;
use relais_platform::auth::Role;
use relais_proto::{
    events::InterventionChanged,
    planning::{
        Cancel, ChangeInterventionsRequest, ChangeScope, Intervention, InterventionStatus,
        MarkDone, Reassign, Reschedule, change_interventions_request::Change,
    },
};
use tonic::Code;

use crate::{
    bookings::{book_at, interventions},
    helpers::*,
};

fn change(i: &Intervention, scope: ChangeScope, change: Change) -> ChangeInterventionsRequest {
    ChangeInterventionsRequest {
        intervention_id: i.id.clone(),
        scope: scope as i32,
        expected_version: 0,
        change: Some(change),
    }
}

fn paris(i: &Intervention) -> String {
    chrono_tz::Europe::Paris
        .timestamp_opt(i.start.unwrap().seconds, 0)
        .unwrap()
        .format("%a %H:%M")
        .to_string()
}

#[tokio::test]
async fn changes_apply_to_one_the_following_or_all_and_clashes_are_refused() {
    let stack = spawn().await;
    let cleaning = stack.service("MENAGE").await;
    let ironing = stack.service("REPASSAGE").await;
    let awa = stack.worker("Diallo", &[&cleaning]).await;
    let marc = stack.worker("Petit", &[&cleaning]).await;
    let ironer = stack.worker("Fer", &[&ironing]).await;
    let paul = stack.customer("Durand").await;
    let mut planning = stack.planning.clone();

    let first = book_at(&stack, &paul, &cleaning, &awa, "09:00").await;
    let series = interventions(&stack, &first.id, 3, InterventionStatus::Planned).await;

    // The whole series moves to Marc.
    let moved = planning
        .change_interventions(stack.admin(change(
            &series[0],
            ChangeScope::All,
            Change::Reassign(Reassign {
                worker_id: marc.clone(),
            }),
        )))
        .await
        .expect("reassigned")
        .into_inner()
        .interventions;
    assert_eq!(moved.len(), 3);
    assert!(moved.iter().all(|i| i.worker_id == marc && i.version == 2));

    // Awa takes another booking at 14:00 on the same Mondays.
    let other = book_at(&stack, &paul, &cleaning, &awa, "14:00").await;
    interventions(&stack, &other.id, 3, InterventionStatus::Planned).await;

    // From the second on, Paul's series moves to 14:00 (with Marc, free).
    let later = planning
        .change_interventions(stack.admin(change(
            &series[1],
            ChangeScope::Following,
            Change::Reschedule(Reschedule {
                start: None,
                local_start_time: "14:00".into(),
                duration_minutes: 0,
            }),
        )))
        .await
        .expect("rescheduled")
        .into_inner()
        .interventions;
    assert_eq!(
        later.iter().map(paris).collect::<Vec<_>>(),
        ["Mon 14:00", "Mon 14:00"]
    );
    assert_eq!(later[0].occurrence, 2);

    // Back to Awa at 14:00: she is booked then. Refused, naming it; nothing changed.
    let err = planning
        .change_interventions(stack.admin(change(
            &later[0],
            ChangeScope::One,
            Change::Reassign(Reassign {
                worker_id: awa.clone(),
            }),
        )))
        .await
        .expect_err("clash");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .starts_with("Awa Diallo is already booked at that time on Mon")
            && err.message().contains("13:00-15:00") | err.message().contains("14:00-16:00"),
        "{}",
        err.message()
    );
    // A worker without the skill; a Sunday outside anyone's week.
    let err = planning
        .change_interventions(stack.admin(change(
            &later[0],
            ChangeScope::One,
            Change::Reassign(Reassign {
                worker_id: ironer.clone(),
            }),
        )))
        .await
        .expect_err("no skill");
    assert!(
        err.message().contains("Awa Fer lacks the skill"),
        "{}",
        err.message()
    );
    let sunday = later[0].start.unwrap().seconds - 86_400;
    let err = planning
        .change_interventions(stack.admin(change(
            &later[0],
            ChangeScope::One,
            Change::Reschedule(Reschedule {
                start: Some(prost_types::Timestamp {
                    seconds: sunday,
                    nanos: 0,
                }),
                local_start_time: String::new(),
                duration_minutes: 0,
            }),
        )))
        .await
        .expect_err("sunday");
    assert!(
        err.message().contains("outside their weekly availability"),
        "{}",
        err.message()
    );

    // The ERP cancels the last one: its origin rides on the event.
    let connector = stack.token(Role::Connector, "erp", None);
    let cancelled = planning
        .change_interventions(with_token(
            &connector,
            change(
                &later[1],
                ChangeScope::One,
                Change::Cancel(Cancel {
                    reason: "client absent".into(),
                }),
            ),
        ))
        .await
        .expect("cancelled")
        .into_inner()
        .interventions;
    assert_eq!(cancelled[0].status, InterventionStatus::Cancelled as i32);
    assert_eq!(cancelled[0].status_reason, "client absent");
    assert_eq!(cancelled[0].origin, "erp:conn-1");

    // Nothing has happened yet, so nothing can be marked done; bad requests
    // name the field; a stale version is refused.
    let err = planning
        .change_interventions(stack.admin(change(
            &series[0],
            ChangeScope::One,
            Change::Done(MarkDone { actual_minutes: 90 }),
        )))
        .await
        .expect_err("future");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let mut no_scope = change(
        &series[0],
        ChangeScope::One,
        Change::Cancel(Cancel::default()),
    );
    no_scope.scope = 0;
    let err = planning
        .change_interventions(stack.admin(no_scope))
        .await
        .expect_err("no scope");
    assert_bad_field(&err, "scope");
    assert_bad_field(&err, "cancel.reason");
    let mut stale = change(
        &series[0],
        ChangeScope::One,
        Change::Cancel(Cancel { reason: "x".into() }),
    );
    stale.expected_version = 1;
    let err = planning
        .change_interventions(stack.admin(stale))
        .await
        .expect_err("stale");
    assert_eq!(err.code(), Code::FailedPrecondition);

    // Subscribers saw each change once, with its origin.
    let events = stack.events(14).await;
    let seen = |name: &str| {
        events
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, p)| InterventionChanged::decode(p.as_ref()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seen("intervention.reassigned").len(), 3);
    assert_eq!(seen("intervention.rescheduled").len(), 2);
    let cancels = seen("intervention.cancelled");
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].meta.as_ref().unwrap().origin, "erp:conn-1");
}
