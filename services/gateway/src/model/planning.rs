//! Free slots, workers as a customer may see them, interventions and pack
//! balances.

use chrono::{DateTime, Utc};
use relais_proto::planning as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Money, orders::Address, page, pb_enum, some, time};

/// A slot a booking could take: its local date and start time (what a
/// booking's schedule names) and who is free for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Slot {
    #[schema(example = "2026-12-14", format = Date)]
    pub date: String,
    #[schema(example = "09:00")]
    pub start_time: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The qualified workers free for the whole slot (only the chosen one,
    /// when one was asked for).
    pub free_worker_ids: Vec<String>,
}

/// The free slots of a service on the days asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    pub service_id: String,
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
    pub duration_minutes: i32,
    /// In start order; a slot nobody is free for is left out.
    pub slots: Vec<Slot>,
}

/// A worker as a customer may see them to choose one: never their e-mail
/// or phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct Worker {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub photo_url: Option<String>,
    /// The services they do.
    pub skill_service_ids: Vec<String>,
}

impl From<pb::Worker> for Worker {
    fn from(w: pb::Worker) -> Self {
        let f = w.fields.unwrap_or_default();
        Self {
            id: w.id,
            first_name: f.first_name,
            last_name: f.last_name,
            photo_url: some(f.photo_url),
            skill_service_ids: f.skill_service_ids,
        }
    }
}

/// The workers free for a slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    pub items: Vec<Worker>,
}

pb_enum!(
    InterventionStatus from pb::InterventionStatus {
        Planned = Planned,
        Done = Done,
        Cancelled = Cancelled,
    }
);

/// One occurrence of a booking at the customer's.
#[derive(Debug, Serialize, ToSchema)]
pub struct Intervention {
    pub id: String,
    /// The booking, and which of its occurrences (1, 2...).
    pub order_id: String,
    pub occurrence: i32,
    pub service_id: String,
    /// Null: nobody assigned yet (see unassigned_reason).
    pub worker_id: Option<String>,
    pub unassigned_reason: Option<String>,
    pub address: Option<Address>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub status: InterventionStatus,
    /// Cancelled: why.
    pub status_reason: Option<String>,
    /// Done: the time worked.
    pub actual_minutes: Option<i32>,
    /// The hour-pack order paying for it.
    pub hour_pack_order_id: Option<String>,
    /// Why the booking's pack does not pay for this one.
    pub pack_note: Option<String>,
    /// Worth excl. VAT, as planned.
    pub price: Option<Money>,
    /// Changes with every change (a change may name it: expected_version).
    pub version: i64,
    /// Until when its customer may move or cancel it themselves (48 h
    /// before it starts); null once it is no longer planned.
    pub customer_changes_until: Option<DateTime<Utc>>,
}

impl From<pb::Intervention> for Intervention {
    fn from(i: pb::Intervention) -> Self {
        let planned = i.status == pb::InterventionStatus::Planned as i32;
        let customer_changes_until = time(i.start).filter(|_| planned).map(|s| {
            s - chrono::Duration::hours(relais_domain::schedule::CUSTOMER_CHANGE_NOTICE_HOURS)
        });
        Self {
            customer_changes_until,
            id: i.id,
            order_id: i.order_id,
            occurrence: i.occurrence,
            service_id: i.service_id,
            worker_id: some(i.worker_id),
            unassigned_reason: some(i.unassigned_reason),
            address: Address::from_pb(i.address),
            start: time(i.start),
            end: time(i.end),
            status: InterventionStatus::from_pb(i.status),
            status_reason: some(i.status_reason),
            actual_minutes: (i.actual_minutes > 0).then_some(i.actual_minutes),
            hour_pack_order_id: some(i.hour_pack_order_id),
            pack_note: some(i.pack_note),
            price: Money::from_pb(i.price),
            version: i.version,
        }
    }
}

/// Interventions, in start order (the ones a change touched).
#[derive(Debug, Serialize, ToSchema)]
pub struct InterventionList {
    pub items: Vec<Intervention>,
}

page!(
    /// A page of interventions, in start order.
    InterventionPage of Intervention
);

pb_enum!(
    PackStatus from pb::PackStatus {
        Open = Open,
        Exhausted = Exhausted,
    }
);

/// An hour pack bought: minutes bought, planned, consumed, remaining.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackBalance {
    /// The hour-pack order (pay a booking with it by naming it).
    pub pack_order_id: String,
    pub hour_pack_id: String,
    pub name: String,
    pub bought: i32,
    pub planned: i32,
    pub consumed: i32,
    pub remaining: i32,
    pub status: PackStatus,
    /// Empty: every service at the pack's VAT rate.
    pub eligible_service_ids: Vec<String>,
}

impl From<pb::PackBalance> for PackBalance {
    fn from(b: pb::PackBalance) -> Self {
        Self {
            pack_order_id: b.pack_order_id,
            hour_pack_id: b.hour_pack_id,
            name: b.name,
            bought: b.bought,
            planned: b.planned,
            consumed: b.consumed,
            remaining: b.remaining,
            status: PackStatus::from_pb(b.status),
            eligible_service_ids: b.eligible_service_ids,
        }
    }
}

/// Every pack of the customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackBalanceList {
    pub items: Vec<PackBalance>,
}
