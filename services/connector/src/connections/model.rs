//! A connection as the service holds it: its ERP, which way each family
//! flows, how order statuses are sent, who wins a conflict.

use chrono::{DateTime, Utc};
use relais_platform::context::timestamp;
use relais_proto::connector as pb;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secrets::Sealed;

/// The data families, and the directions each can flow.
pub const FAMILIES: [(&str, &[Dir]); 8] = [
    ("customers", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("workers", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("bookings", &[Dir::Push]),
    ("planning", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("orders", &[Dir::Pull, Dir::Push, Dir::Both]),
    ("catalogue", &[Dir::Pull]),
    ("invoices", &[Dir::Pull]),
    ("certificates", &[Dir::Pull]),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    Off,
    Pull,
    Push,
    Both,
}

impl Dir {
    pub(super) fn from_pb(d: i32) -> Option<Self> {
        match pb::Direction::try_from(d).ok()? {
            pb::Direction::Off => Some(Dir::Off),
            pb::Direction::Pull => Some(Dir::Pull),
            pb::Direction::Push => Some(Dir::Push),
            pb::Direction::Both => Some(Dir::Both),
            pb::Direction::Unspecified => None,
        }
    }

    fn to_pb(self) -> pb::Direction {
        match self {
            Dir::Off => pb::Direction::Off,
            Dir::Pull => pb::Direction::Pull,
            Dir::Push => pb::Direction::Push,
            Dir::Both => pb::Direction::Both,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    ErpWins,
    ShopWins,
    Manual,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::ErpWins => "erp_wins",
            Policy::ShopWins => "shop_wins",
            Policy::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "shop_wins" => Policy::ShopWins,
            "manual" => Policy::Manual,
            _ => Policy::ErpWins,
        }
    }

    /// Which side a conflict goes to: `erp`, `shop`, or None while it waits
    /// for staff.
    pub fn winner(self) -> Option<&'static str> {
        match self {
            Policy::ErpWins => Some("erp"),
            Policy::ShopWins => Some("shop"),
            Policy::Manual => None,
        }
    }

    pub fn to_pb(self) -> pb::ConflictPolicy {
        match self {
            Policy::ErpWins => pb::ConflictPolicy::ErpWins,
            Policy::ShopWins => pb::ConflictPolicy::ShopWins,
            Policy::Manual => pb::ConflictPolicy::Manual,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Family {
    pub family: String,
    pub direction: Dir,
    pub schedule: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusRule {
    pub status: String,
    /// not_sent, quote, order.
    pub send_as: String,
}

/// What `connections.settings` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub families: Vec<Family>,
    pub order_statuses: Vec<StatusRule>,
    pub conflict_policy: Policy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterKind {
    ReferenceErp,
    Tryton,
    Csv,
}

impl AdapterKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            AdapterKind::ReferenceErp => "reference_erp",
            AdapterKind::Tryton => "tryton",
            AdapterKind::Csv => "csv",
        }
    }

    /// The families an adapter's ERP holds.
    pub fn families(self) -> Vec<&'static str> {
        match self {
            AdapterKind::ReferenceErp => FAMILIES.iter().map(|(f, _)| *f).collect(),
            // Parties, products and sales (docs/architecture.md §2 through Tryton's models).
            AdapterKind::Tryton => vec!["customers", "catalogue", "orders"],
            // What EBP / Sage style imports and exports hold.
            AdapterKind::Csv => vec!["customers", "catalogue", "orders"],
        }
    }

    /// True when the ERP keeps a quote and the order it becomes as one
    /// record (a Tryton sale, quoted then confirmed).
    pub fn quote_is_order(self) -> bool {
        self == AdapterKind::Tryton
    }

    pub fn carries(self, family: &str) -> bool {
        self.families().contains(&family)
    }

    pub(super) fn parse(s: &str) -> Self {
        match s {
            "tryton" => AdapterKind::Tryton,
            "csv" => AdapterKind::Csv,
            _ => AdapterKind::ReferenceErp,
        }
    }

    fn to_pb(self) -> pb::AdapterKind {
        match self {
            AdapterKind::ReferenceErp => pb::AdapterKind::ReferenceErp,
            AdapterKind::Tryton => pb::AdapterKind::Tryton,
            AdapterKind::Csv => pb::AdapterKind::Csv,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Connection {
    pub id: Uuid,
    pub tenant: Uuid,
    pub name: String,
    pub adapter: AdapterKind,
    pub endpoint: String,
    pub secret_ref: String,
    /// Credentials stored with the connection, sealed.
    pub sealed: Option<Sealed>,
    pub settings: Settings,
    pub enabled: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Connection {
    /// The origin stamped on the changes this ERP makes in the shop.
    pub fn origin(&self) -> String {
        format!("erp:{}", self.name)
    }

    pub fn direction(&self, family: &str) -> Dir {
        self.settings
            .families
            .iter()
            .find(|f| f.family == family)
            .map_or(Dir::Off, |f| f.direction)
    }

    /// The family flows to the ERP, whether or not the connection is paused
    /// (a paused connection's writes wait in the queue).
    pub fn sends(&self, family: &str) -> bool {
        matches!(self.direction(family), Dir::Push | Dir::Both)
    }

    pub fn pushes(&self, family: &str) -> bool {
        self.enabled && matches!(self.direction(family), Dir::Push | Dir::Both)
    }

    pub fn pulls(&self, family: &str) -> bool {
        self.enabled && matches!(self.direction(family), Dir::Pull | Dir::Both)
    }

    /// How a product order in `status` (paid, validated, cancelled) is
    /// sent: `quote`, `order`, or None (not sent).
    pub fn send_as(&self, status: &str) -> Option<&'static str> {
        match self
            .settings
            .order_statuses
            .iter()
            .find(|r| r.status == status)
            .map(|r| r.send_as.as_str())
        {
            Some("quote") => Some("quote"),
            Some("order") => Some("order"),
            _ => None,
        }
    }

    /// Who wins a conflict found while pulling `family`: the policy's side,
    /// unless the shop never sends that family back (then only the ERP's
    /// version can bring both sides in step).
    pub fn pull_winner(&self, family: &str) -> Option<&'static str> {
        if self.sends(family) {
            self.policy().winner()
        } else {
            Some("erp")
        }
    }

    pub fn policy(&self) -> Policy {
        self.settings.conflict_policy
    }

    pub fn to_pb(&self) -> pb::Connection {
        let s = &self.settings;
        pb::Connection {
            id: self.id.to_string(),
            fields: Some(pb::ConnectionFields {
                name: self.name.clone(),
                adapter: self.adapter.to_pb() as i32,
                endpoint: self.endpoint.clone(),
                secret_ref: self.secret_ref.clone(),
                // Write-only: never sent back, not even to its admins.
                secret: String::new(),
                families: s
                    .families
                    .iter()
                    .map(|f| pb::FamilySettings {
                        family: f.family.clone(),
                        direction: f.direction.to_pb() as i32,
                        schedule: f.schedule.clone(),
                    })
                    .collect(),
                order_statuses: s
                    .order_statuses
                    .iter()
                    .map(|r| pb::OrderStatusRule {
                        status: r.status.clone(),
                        send_as: match r.send_as.as_str() {
                            "quote" => pb::SendAs::Quote,
                            "order" => pb::SendAs::Order,
                            _ => pb::SendAs::NotSent,
                        } as i32,
                    })
                    .collect(),
                conflict_policy: s.conflict_policy.to_pb() as i32,
                enabled: self.enabled,
            }),
            version: self.version,
            created_at: Some(timestamp(self.created_at)),
            updated_at: Some(timestamp(self.updated_at)),
            has_secret: self.sealed.is_some(),
        }
    }
}
