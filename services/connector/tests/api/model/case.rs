//! What a case is made of: the records (`Rec`) and the fields the model
//! compares (`Field`), the sides, families, workers, order steps and ERP
//! faults; the ops (`Op`) a case is a sequence of, the conflict policy,
//! and the proptest strategies that generate them.

use std::fmt;

use proptest::prelude::*;
use relais_proto::connector::ConflictPolicy;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum Rec {
    /// Online shop customers: the shop owns them.
    ShopCustomerA,
    ShopCustomerB,
    /// Made in the ERP: the ERP owns it, the shop cannot edit it.
    ErpCustomer,
    /// Made in the ERP, edited on both sides.
    ErpWorker,
    /// Made in the shop, edited on both sides.
    ShopWorker,
    /// The one intervention of a booking with Omar (the shop worker):
    /// its planning goes both ways.
    Intervention,
    /// A paid product order: its status goes both ways, by the rules.
    ProductOrder,
}

impl Rec {
    pub(super) const ALL: [Rec; 7] = [
        Rec::ShopCustomerA,
        Rec::ShopCustomerB,
        Rec::ErpCustomer,
        Rec::ErpWorker,
        Rec::ShopWorker,
        Rec::Intervention,
        Rec::ProductOrder,
    ];
    /// Those edited field by field.
    pub(super) const PEOPLE: [Rec; 5] = [
        Rec::ShopCustomerA,
        Rec::ShopCustomerB,
        Rec::ErpCustomer,
        Rec::ErpWorker,
        Rec::ShopWorker,
    ];
    /// Those staff can edit in the shop (an ERP customer is read-only there).
    pub(super) const SHOP_EDITABLE: [Rec; 4] = [
        Rec::ShopCustomerA,
        Rec::ShopCustomerB,
        Rec::ErpWorker,
        Rec::ShopWorker,
    ];

    pub(super) fn family(self) -> Family {
        match self {
            Rec::ShopCustomerA | Rec::ShopCustomerB | Rec::ErpCustomer => Family::Customers,
            Rec::ErpWorker | Rec::ShopWorker => Family::Workers,
            Rec::Intervention => Family::Planning,
            Rec::ProductOrder => Family::Orders,
        }
    }

    pub(super) fn is_customer(self) -> bool {
        self.family() == Family::Customers
    }

    /// The connector's name for it (a binding's, a conflict's entity).
    pub(super) fn entity(self) -> &'static str {
        match self.family() {
            Family::Customers => "customer",
            Family::Workers => "worker",
            Family::Planning => "intervention",
            Family::Orders => "order",
        }
    }

    pub(super) fn object(self) -> &'static str {
        match self.family() {
            Family::Customers => "customer",
            Family::Workers => "employee",
            Family::Planning => "service",
            Family::Orders => "order",
        }
    }

    /// The fields the model compares.
    pub(super) fn fields(self) -> &'static [Field] {
        match self.family() {
            Family::Customers | Family::Workers => &Field::PERSON,
            Family::Planning => &Field::PLANNING,
            Family::Orders => &[Field::Status],
        }
    }

    /// Created online: read-only in the ERP, whose edits are overwritten.
    pub(super) fn shop_owned(self) -> bool {
        matches!(self, Rec::ShopCustomerA | Rec::ShopCustomerB)
    }
}

/// The mapped fields the model compares; the ERP's names on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum Field {
    FirstName,
    Email,
    Phone,
    /// An intervention's start and end, as minutes after the booked start.
    Start,
    End,
    /// An intervention's worker: Omar or Awa (bound on both sides).
    Worker,
    /// An intervention's (planned, cancelled) or an order's (paid,
    /// preparing, shipped, delivered, cancelled), as the ERP names it.
    Status,
}

impl Field {
    pub(super) const PERSON: [Field; 3] = [Field::FirstName, Field::Email, Field::Phone];
    pub(super) const PLANNING: [Field; 4] =
        [Field::Start, Field::End, Field::Worker, Field::Status];

    pub(super) fn erp(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Start => "start",
            Field::End => "end",
            Field::Worker => "employee",
            Field::Status => "status",
        }
    }

    /// Few values, so that both sides sometimes pick the same one.
    pub(super) fn values(self) -> [&'static str; 3] {
        match self {
            Field::FirstName => ["Ana", "Basile", "Chloé"],
            Field::Email => ["ana@example.net", "basile@example.net", "chloe@example.net"],
            Field::Phone => ["01 11 11 11 11", "02 22 22 22 22", "03 33 33 33 33"],
            // Not edited as free values (see the planning and order ops).
            _ => ["", "", ""],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Side {
    Shop,
    Erp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Family {
    Customers,
    Workers,
    Planning,
    Orders,
}

impl Family {
    pub(super) const ALL: [Family; 4] = [
        Family::Customers,
        Family::Workers,
        Family::Planning,
        Family::Orders,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Family::Customers => "customers",
            Family::Workers => "workers",
            Family::Planning => "planning",
            Family::Orders => "orders",
        }
    }
}

/// The two workers an intervention may go to: both shop workers with the
/// booking's skill, bound to ERP employees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum Crew {
    Omar,
    Awa,
}

impl Crew {
    pub(super) const ALL: [Crew; 2] = [Crew::Omar, Crew::Awa];
}

/// Where the ERP moves a product order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Step {
    Preparing,
    Shipped,
    Delivered,
    Cancelled,
}

impl Step {
    pub(super) const ALL: [Step; 4] = [
        Step::Preparing,
        Step::Shipped,
        Step::Delivered,
        Step::Cancelled,
    ];

    pub(super) fn erp(self) -> &'static str {
        match self {
            Step::Preparing => "preparing",
            Step::Shipped => "shipped",
            Step::Delivered => "delivered",
            Step::Cancelled => "cancelled",
        }
    }
}

/// How far along an order's status is (cancelled: none).
pub(super) fn rank(status: &str) -> Option<u8> {
    match status {
        "validated" => Some(0),
        "paid" => Some(1),
        "preparing" => Some(2),
        "shipped" => Some(3),
        "delivered" => Some(4),
        _ => None,
    }
}

/// ERP faults, a few fixed shapes (readable in a failing case). Lost
/// answers wait longer than the connector's ERP timeout (1500 ms in
/// `ConnectorConfig::quick`), so the connector gives up on a write that
/// happened. Rates stay low enough that six attempts rarely all fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Faults {
    Errors,
    LostAnswers,
    Slow,
    Duplicates,
    Everything,
}

impl Faults {
    pub(super) const ALL: [Faults; 5] = [
        Faults::Errors,
        Faults::LostAnswers,
        Faults::Slow,
        Faults::Duplicates,
        Faults::Everything,
    ];

    pub(super) fn json(self) -> Value {
        match self {
            Faults::Errors => json!({ "error_rate": 0.2 }),
            Faults::LostAnswers => json!({ "lost_answer_rate": 0.3, "lost_answer_ms": 2500 }),
            Faults::Slow => json!({ "delay_ms": 400 }),
            Faults::Duplicates => json!({ "duplicate_rate": 0.5 }),
            Faults::Everything => json!({
                "error_rate": 0.1, "delay_ms": 150, "lost_answer_rate": 0.2,
                "lost_answer_ms": 2000, "duplicate_rate": 0.3,
            }),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) enum Op {
    ShopEdit {
        rec: Rec,
        field: Field,
        value: String,
    },
    ErpEdit {
        rec: Rec,
        field: Field,
        value: String,
    },
    /// The intervention moved to `hours` after its booked start (same
    /// length), in planning.
    ShopReschedule {
        hours: u8,
    },
    /// The same in the ERP: its start and end.
    ErpReschedule {
        hours: u8,
    },
    ShopReassign(Crew),
    ErpReassign(Crew),
    ShopCancelIntervention,
    ErpCancelIntervention,
    /// Staff cancel the product order (the shop allows it while paid).
    ShopCancelOrder,
    /// The ERP moves the order on (never back), or cancels it.
    ErpOrder(Step),
    Pull(Family),
    /// Leaves the connector time to push.
    WaitPushes {
        ms: u64,
    },
    Faults(Faults),
    ClearFaults,
    RestartConnector,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Policy {
    ErpWins,
    ShopWins,
    Manual,
}

impl Policy {
    pub(super) fn pb(self) -> ConflictPolicy {
        match self {
            Policy::ErpWins => ConflictPolicy::ErpWins,
            Policy::ShopWins => ConflictPolicy::ShopWins,
            Policy::Manual => ConflictPolicy::Manual,
        }
    }

    pub(super) fn from_env(v: &str) -> Option<Self> {
        match v {
            "erp_wins" => Some(Policy::ErpWins),
            "shop_wins" => Some(Policy::ShopWins),
            "manual" => Some(Policy::Manual),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Case {
    pub(super) policy: Policy,
    pub(super) ops: Vec<Op>,
    /// The side staff pick when they settle what is held at the end.
    pub(super) settle_for_shop: bool,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "policy {:?}, staff settle for the {}, {} ops:",
            self.policy,
            if self.settle_for_shop { "shop" } else { "ERP" },
            self.ops.len()
        )?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  {i:>2}. {op:?}")?;
        }
        Ok(())
    }
}

/// The records a case edits: all, or one family's (RELAIS_MODEL_ONLY).
fn in_scope(only: Option<Family>) -> impl Fn(&Rec) -> bool {
    move |r| only.is_none_or(|f| r.family() == f)
}

fn op(only: Option<Family>) -> impl Strategy<Value = Op> {
    let field = || prop::sample::select(Field::PERSON.to_vec());
    let shop: Vec<Rec> = Rec::SHOP_EDITABLE
        .into_iter()
        .filter(in_scope(only))
        .collect();
    let erp: Vec<Rec> = Rec::PEOPLE.into_iter().filter(in_scope(only)).collect();
    let families: Vec<Family> = match only {
        Some(f) => vec![f],
        None => Family::ALL.to_vec(),
    };
    let wants = |f: Family| only.is_none_or(|o| o == f);
    let mut ops: Vec<(u32, BoxedStrategy<Op>)> = Vec::new();
    if !shop.is_empty() {
        ops.push((
            4,
            (prop::sample::select(shop), field(), 0..3usize)
                .prop_map(|(rec, field, i)| Op::ShopEdit {
                    rec,
                    field,
                    value: field.values()[i].into(),
                })
                .boxed(),
        ));
    }
    if !erp.is_empty() {
        ops.push((
            4,
            (prop::sample::select(erp), field(), 0..3usize)
                .prop_map(|(rec, field, i)| Op::ErpEdit {
                    rec,
                    field,
                    value: field.values()[i].into(),
                })
                .boxed(),
        ));
    }
    if wants(Family::Planning) {
        // Moves stay within the workers' hours (7:00-20:00): 9:00 to 14:00.
        let hours = || 0u8..=3;
        let crew = || prop::sample::select(Crew::ALL.to_vec());
        ops.push((
            3,
            hours()
                .prop_map(|hours| Op::ShopReschedule { hours })
                .boxed(),
        ));
        ops.push((
            3,
            hours()
                .prop_map(|hours| Op::ErpReschedule { hours })
                .boxed(),
        ));
        ops.push((2, crew().prop_map(Op::ShopReassign).boxed()));
        ops.push((2, crew().prop_map(Op::ErpReassign).boxed()));
        ops.push((1, Just(Op::ShopCancelIntervention).boxed()));
        ops.push((1, Just(Op::ErpCancelIntervention).boxed()));
    }
    if wants(Family::Orders) {
        ops.push((1, Just(Op::ShopCancelOrder).boxed()));
        ops.push((
            3,
            prop::sample::select(Step::ALL.to_vec())
                .prop_map(Op::ErpOrder)
                .boxed(),
        ));
    }
    ops.push((4, prop::sample::select(families).prop_map(Op::Pull).boxed()));
    ops.push((
        2,
        prop::sample::select(vec![200u64, 800, 2000])
            .prop_map(|ms| Op::WaitPushes { ms })
            .boxed(),
    ));
    ops.push((
        1,
        prop::sample::select(Faults::ALL.to_vec())
            .prop_map(Op::Faults)
            .boxed(),
    ));
    ops.push((1, Just(Op::ClearFaults).boxed()));
    ops.push((1, Just(Op::RestartConnector).boxed()));
    prop::strategy::Union::new_weighted(ops)
}

pub(super) fn case(policy: Option<Policy>, only: Option<Family>) -> impl Strategy<Value = Case> {
    let policy = match policy {
        Some(p) => Just(p).boxed(),
        None => {
            prop::sample::select(vec![Policy::ErpWins, Policy::ShopWins, Policy::Manual]).boxed()
        }
    };
    (
        policy,
        prop::collection::vec(op(only), 12..=25),
        any::<bool>(),
    )
        .prop_map(|(policy, ops, settle_for_shop)| Case {
            policy,
            ops,
            settle_for_shop,
        })
}
