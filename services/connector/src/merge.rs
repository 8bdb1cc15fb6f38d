//! The merge of one record's two sides, field by field, against the state
//! both last agreed on (docs/sync.md). Pure: the caller reads both sides,
//! this says what each field becomes and why; the caller writes it.
//!
//! - A field only one side changed takes that side's value.
//! - A field both sides changed to the same value is simply agreed (the
//!   connector's own write read back, its answer lost or not).
//! - A field both sides changed to different values is a conflict: the
//!   policy's winner, or held for staff (manual).
//! - A field only the shop may change (the ERP holds the record read-only)
//!   keeps the shop's value; an ERP change of it is reported as overwritten.
//! - A field only the ERP may change takes the ERP's value.
//! - Without an agreed state (a binding from before it was kept), the
//!   versions say which side changed since the last sync; a field that
//!   differs when both did is a conflict.

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Shop,
    Erp,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Shop => "shop",
            Side::Erp => "erp",
        }
    }
}

/// Who may change a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Both sides: a same-field change on both is a conflict, settled by
    /// `winner` (None: held for staff).
    Both { winner: Option<Side> },
    /// The shop alone (the ERP's copy is read-only).
    Shop,
    /// The ERP alone (the shop's copy is read-only).
    Erp,
}

/// What the two sides held last time they agreed.
#[derive(Clone, Copy, Debug)]
pub enum Agreed<'a> {
    Known(&'a Map<String, Value>),
    /// Not kept: only whether each side's version moved since the last sync.
    Unknown {
        shop_changed: bool,
        erp_changed: bool,
    },
}

/// A field changed on both sides to different values.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldConflict {
    pub field: String,
    pub shop: Value,
    pub erp: Value,
    pub agreed: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Merged {
    /// What both sides hold once the merge is written (conflicting fields
    /// left held under manual keep the shop's value here; nothing is
    /// written while held).
    pub target: Map<String, Value>,
    pub conflicts: Vec<FieldConflict>,
    /// Fields the ERP changed on a record it holds read-only: the shop's
    /// value is written back (what the ERP had is in `erp`).
    pub overwritten: Vec<FieldConflict>,
    /// A conflict waits for staff: neither side may be written.
    pub held: bool,
}

fn get(m: &Map<String, Value>, k: &str) -> Value {
    m.get(k).cloned().unwrap_or(Value::Null)
}

/// Merges `shop` and `erp` (the same fields, as the ERP's record shows
/// them) against `agreed`; `owner` says who may change each field.
pub fn merge(
    agreed: Agreed<'_>,
    shop: &Map<String, Value>,
    erp: &Map<String, Value>,
    owner: impl Fn(&str) -> Owner,
) -> Merged {
    let mut out = Merged::default();
    for (field, s) in shop {
        let e = get(erp, field);
        if *s == e {
            out.target.insert(field.clone(), s.clone());
            continue;
        }
        let (shop_changed, erp_changed, a) = match agreed {
            Agreed::Known(a) => {
                let a = get(a, field);
                (*s != a, e != a, Some(a))
            }
            Agreed::Unknown {
                shop_changed,
                erp_changed,
            } => (shop_changed, erp_changed, None),
        };
        let seen = || FieldConflict {
            field: field.clone(),
            shop: s.clone(),
            erp: e.clone(),
            agreed: a.clone(),
        };
        let value = match owner(field) {
            Owner::Shop => {
                if erp_changed && a.is_some() {
                    out.overwritten.push(seen());
                }
                s.clone()
            }
            Owner::Erp => {
                // The shop's copy is read-only, yet it changed too: the
                // ERP's value is taken, and the shop's edit is reported.
                if shop_changed && erp_changed {
                    out.conflicts.push(seen());
                }
                e.clone()
            }
            Owner::Both { winner } => match (shop_changed, erp_changed) {
                (true, false) => s.clone(),
                // Neither moved by versions (no agreed state kept), yet
                // they differ: the ERP's, as a pull would have taken it.
                (false, _) => e.clone(),
                // Both changed.
                (true, true) => {
                    out.conflicts.push(seen());
                    match winner {
                        Some(Side::Erp) => e.clone(),
                        Some(Side::Shop) => s.clone(),
                        None => {
                            out.held = true;
                            s.clone()
                        }
                    }
                }
            },
        };
        out.target.insert(field.clone(), value);
    }
    out
}

/// The fields where `a` and `b` differ (a field missing from `b` counts
/// as null).
pub fn differing(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| **v != get(b, k))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    const BOTH_ERP: Owner = Owner::Both {
        winner: Some(Side::Erp),
    };

    #[test]
    fn different_fields_merge_without_conflict() {
        let agreed = map(json!({"email": "a@x", "phone": "1"}));
        let shop = map(json!({"email": "a@x", "phone": "2"}));
        let erp = map(json!({"email": "b@x", "phone": "1"}));
        let m = merge(Agreed::Known(&agreed), &shop, &erp, |_| BOTH_ERP);
        assert_eq!(m.target, map(json!({"email": "b@x", "phone": "2"})));
        assert!(m.conflicts.is_empty() && !m.held);
    }

    #[test]
    fn the_connectors_own_write_read_back_is_no_conflict() {
        // The ERP took the new email (the answer was lost), then the shop
        // changed the phone.
        let agreed = map(json!({"email": "a@x", "phone": "1"}));
        let shop = map(json!({"email": "b@x", "phone": "2"}));
        let erp = map(json!({"email": "b@x", "phone": "1"}));
        let m = merge(Agreed::Known(&agreed), &shop, &erp, |_| BOTH_ERP);
        assert_eq!(m.target, shop);
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn the_same_field_changed_on_both_sides_is_a_conflict_for_the_policy() {
        let agreed = map(json!({"phone": "1"}));
        let shop = map(json!({"phone": "2"}));
        let erp = map(json!({"phone": "3"}));
        for (winner, want) in [(Some(Side::Erp), "3"), (Some(Side::Shop), "2")] {
            let m = merge(Agreed::Known(&agreed), &shop, &erp, |_| Owner::Both {
                winner,
            });
            assert_eq!(m.target["phone"], want);
            assert_eq!(m.conflicts.len(), 1);
            assert!(!m.held);
        }
        let m = merge(Agreed::Known(&agreed), &shop, &erp, |_| Owner::Both {
            winner: None,
        });
        assert!(m.held);
    }

    #[test]
    fn an_erp_edit_of_a_shop_owned_field_is_overwritten_and_reported() {
        let agreed = map(json!({"phone": "1"}));
        let shop = map(json!({"phone": "1"}));
        let erp = map(json!({"phone": "9"}));
        let m = merge(Agreed::Known(&agreed), &shop, &erp, |_| Owner::Shop);
        assert_eq!(m.target["phone"], "1");
        assert_eq!(m.overwritten.len(), 1);
        assert_eq!(m.overwritten[0].erp, "9");
    }

    #[test]
    fn without_an_agreed_state_versions_say_who_changed() {
        let shop = map(json!({"phone": "2"}));
        let erp = map(json!({"phone": "3"}));
        let only_erp = Agreed::Unknown {
            shop_changed: false,
            erp_changed: true,
        };
        assert_eq!(
            merge(only_erp, &shop, &erp, |_| BOTH_ERP).target["phone"],
            "3"
        );
        let both = Agreed::Unknown {
            shop_changed: true,
            erp_changed: true,
        };
        assert_eq!(merge(both, &shop, &erp, |_| BOTH_ERP).conflicts.len(), 1);
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            (0u8..4).prop_map(|n| json!(format!("v{n}")))
        ]
    }

    fn record() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::vec(value(), 4).prop_map(|vs| {
            vs.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("f{i}"), v))
                .collect()
        })
    }

    proptest! {
        /// Whatever the three states: a field one side alone changed takes
        /// that side's value, an unchanged field stays, and every field
        /// where the sides disagree after the merge is a reported conflict.
        #[test]
        fn merge_loses_no_change_unseen(agreed in record(), shop in record(), erp in record(),
                                        winner in prop_oneof![Just(Some(Side::Shop)), Just(Some(Side::Erp)), Just(None)]) {
            let m = merge(Agreed::Known(&agreed), &shop, &erp, |_| Owner::Both { winner });
            for (k, s) in &shop {
                let (a, e) = (&agreed[k], &erp[k]);
                let t = &m.target[k];
                let conflict = m.conflicts.iter().any(|c| &c.field == k);
                if s == e { prop_assert_eq!(t, s); prop_assert!(!conflict); }
                else if s == a { prop_assert_eq!(t, e); prop_assert!(!conflict); }
                else if e == a { prop_assert_eq!(t, s); prop_assert!(!conflict); }
                else {
                    prop_assert!(conflict);
                    match winner {
                        Some(Side::Erp) => prop_assert_eq!(t, e),
                        _ => prop_assert_eq!(t, s),
                    }
                }
            }
            prop_assert_eq!(m.held, winner.is_none() && !m.conflicts.is_empty());
        }
    }
}
