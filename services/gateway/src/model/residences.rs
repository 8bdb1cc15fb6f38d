//! Residences, and the office's reading of orders: statistics.

use relais_proto::orders as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Money, orders::Address, some};

/// A care residence: staff order there for its residents.
#[derive(Debug, Serialize, ToSchema)]
pub struct Residence {
    pub id: String,
    pub name: String,
    pub address: Option<Address>,
    /// Where confirmations go when a resident has no e-mail.
    pub email: Option<String>,
    pub phone: Option<String>,
    pub version: i64,
}

impl From<pb::Residence> for Residence {
    fn from(r: pb::Residence) -> Self {
        Self {
            id: r.id,
            name: r.name,
            address: Address::from_pb(r.address),
            email: some(r.email),
            phone: some(r.phone),
            version: r.version,
        }
    }
}

/// The residences the caller works for (staff), or every one (the office).
#[derive(Debug, Serialize, ToSchema)]
pub struct ResidenceList {
    pub items: Vec<Residence>,
}

/// What order statistics are grouped by.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Per catalogue item on the lines (service, product or pack).
    Item,
    Residence,
    Kind,
    /// Per local day, ISO week or month of placement.
    Day,
    Week,
    Month,
}

impl Dimension {
    pub fn into_pb(self) -> i32 {
        use pb::StatisticsDimension as D;
        (match self {
            Dimension::Item => D::Item,
            Dimension::Residence => D::Residence,
            Dimension::Kind => D::Kind,
            Dimension::Day => D::Day,
            Dimension::Week => D::Week,
            Dimension::Month => D::Month,
        }) as i32
    }
}

/// One group of orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatisticsRow {
    /// Item id, residence id, kind, or the period's first day (YYYY-MM-DD).
    pub key: String,
    /// Item reference and name, residence name, or the period.
    pub label: String,
    pub orders: i64,
    /// Units (per item) or lines.
    pub quantity: i64,
    pub total_excl_vat: Option<Money>,
    pub total_incl_vat: Option<Money>,
}

/// Order statistics, one row per group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Statistics {
    pub rows: Vec<StatisticsRow>,
}

impl From<pb::StatisticsRow> for StatisticsRow {
    fn from(r: pb::StatisticsRow) -> Self {
        Self {
            key: r.key,
            label: r.label,
            orders: r.orders,
            quantity: r.quantity,
            total_excl_vat: Money::from_pb(r.total_excl_vat),
            total_incl_vat: Money::from_pb(r.total_incl_vat),
        }
    }
}
