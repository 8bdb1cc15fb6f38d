//! A bound record's fields as the merge sees them: which are never merged,
//! which both sides may plan, values compared as instants, and who may
//! change each field on a connection.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{
    merge::{Owner, Side},
    writer::Push,
};

/// Not merged: set once at creation (the shop's id, whether the ERP holds
/// the record read-only), or the shop's own words for what the merged
/// fields say (an order's status name in the shop).
pub(super) const IDENTITY: [&str; 3] = ["shop_id", "read_only", "shop_status"];

/// Fields of an intervention both sides may change (planning is two-way);
/// the rest is the booking's, the shop's.
pub(super) const PLANNED: [&str; 5] = ["start", "end", "employee", "status", "actual_minutes"];

/// A time field written as RFC 3339: compared as instants, whatever the
/// offset an ERP user typed.
pub(super) fn canonical(field: &str, v: &Value) -> Value {
    if matches!(field, "start" | "end" | "placed_at")
        && let Some(t) = v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        return t.with_timezone(&Utc).to_rfc3339().into();
    }
    v.clone()
}

pub(super) fn canonical_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !IDENTITY.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), canonical(k, v)))
        .collect()
}

pub(super) fn status_of(m: &Map<String, Value>) -> String {
    m.get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl Push<'_> {
    /// Who may change `field` of `entity` on this connection;
    /// `shop_owned`: a customer created online (read-only in the ERP).
    pub(super) fn owner(
        &self,
        entity: &str,
        field: &str,
        shop_owned: bool,
        settle: Option<Side>,
    ) -> Owner {
        let c = self.c;
        if shop_owned {
            return Owner::Shop;
        }
        let (sends, pulls) = match entity {
            "customer" => (c.sends("customers"), c.pulls("customers")),
            // Hours go one way: the ERP's, when it sends some.
            "worker" if field == "availability" => (false, true),
            "worker" => (c.sends("workers"), c.pulls("workers")),
            "intervention" if PLANNED.contains(&field) => (
                c.sends("bookings") || c.sends("planning"),
                c.pulls("planning"),
            ),
            // The status of an order the ERP moves on (its orders pull);
            // domain rules decide it before any policy (`order_rules`).
            "order" | "quote" if field == "status" => (true, c.pulls("orders")),
            _ => (true, false),
        };
        let winner = settle.or(match c.policy().winner() {
            Some("erp") => Some(Side::Erp),
            Some("shop") => Some(Side::Shop),
            _ => None,
        });
        match (sends, pulls) {
            (true, true) => Owner::Both { winner },
            (false, true) => Owner::Erp,
            _ => Owner::Shop,
        }
    }
}
