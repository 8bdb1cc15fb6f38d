//! Customers and workers as staff and the office see them: contact
//! details included (the services leave out what a caller may not see).

use relais_proto::{orders as ord, planning as plan};
use serde::Serialize;
use utoipa::ToSchema;

use super::{orders::Address, page, some};

/// A customer: online, a resident of a residence, or from the ERP.
#[derive(Debug, Serialize, ToSchema)]
pub struct Customer {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Option<Address>,
    pub delivery_address: Option<Address>,
    /// Set for a resident.
    pub residence_id: Option<String>,
    /// Price group; null: base prices.
    pub customer_family: Option<String>,
    /// Whether a card is saved (never the card itself).
    pub has_saved_card: bool,
    /// "shop", or "erp:<connection>" for a customer from the ERP.
    pub origin: String,
    /// From the ERP: only the connector changes it.
    pub read_only: bool,
    pub version: i64,
}

impl From<ord::Customer> for Customer {
    fn from(c: ord::Customer) -> Self {
        let f = c.fields.unwrap_or_default();
        Self {
            id: c.id,
            first_name: f.first_name,
            last_name: f.last_name,
            email: some(f.email),
            phone: some(f.phone),
            billing_address: Address::from_pb(f.billing_address),
            delivery_address: Address::from_pb(f.delivery_address),
            residence_id: some(f.residence_id),
            customer_family: some(f.customer_family),
            has_saved_card: !f.payment_method_ref.is_empty(),
            origin: c.origin,
            read_only: c.read_only,
            version: c.version,
        }
    }
}

page!(
    /// A page of customers.
    CustomerPage of Customer
);

/// A weekly period a worker can be booked, in their time zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeeklySlot {
    /// ISO weekday: 1 = Monday ... 7 = Sunday.
    pub weekday: i32,
    #[schema(example = "08:00")]
    pub start_time: String,
    #[schema(example = "12:00")]
    pub end_time: String,
}

/// A worker (intervenant) with their contact, skills and weekly hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffWorker {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub photo_url: Option<String>,
    /// The legal entity employing them; null: the tenant.
    pub provider: Option<String>,
    pub skill_service_ids: Vec<String>,
    pub availability: Vec<WeeklySlot>,
    pub time_zone: String,
    pub active: bool,
    pub origin: String,
    pub version: i64,
}

impl From<plan::Worker> for StaffWorker {
    fn from(w: plan::Worker) -> Self {
        let f = w.fields.unwrap_or_default();
        Self {
            id: w.id,
            first_name: f.first_name,
            last_name: f.last_name,
            email: some(f.email),
            phone: some(f.phone),
            photo_url: some(f.photo_url),
            provider: some(f.provider),
            skill_service_ids: f.skill_service_ids,
            availability: f
                .availability
                .into_iter()
                .map(|s| WeeklySlot {
                    weekday: s.weekday,
                    start_time: s.start_time,
                    end_time: s.end_time,
                })
                .collect(),
            time_zone: if f.time_zone.is_empty() {
                "Europe/Paris".into()
            } else {
                f.time_zone
            },
            active: f.active,
            origin: w.origin,
            version: w.version,
        }
    }
}

page!(
    /// A page of workers.
    StaffWorkerPage of StaffWorker
);
