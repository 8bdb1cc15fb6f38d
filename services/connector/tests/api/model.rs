//! Sync fidelity, model-based (DESIGN §5): proptest generates sequences of
//! edits on both sides, pulls, ERP faults and connector restarts, each run
//! against a whole stack of its own; the model records every edit, and at
//! the end both sides must agree, no edit may be lost without a conflict
//! saying so, no ERP record made twice, no write that changed nothing, and
//! Verify must find no drift.
//!
//! The records of a case: two online shop customers (the shop owns them,
//! read-only in the ERP), one ERP customer (the ERP owns it, read-only in
//! the shop), one ERP employee and one shop worker (both two-way), edited
//! field by field; one intervention (a booking with Omar, planning both
//! ways), moved, given to Omar or Awa, or cancelled on either side; one
//! paid product order, cancelled in the shop or moved on (or cancelled)
//! in the ERP. An intervention's start and end are compared as instants
//! (shown as minutes after the booked start), its worker as the worker
//! bound on both sides.
//!
//! What is checked at the end, once faults are off, pushes drained and
//! the ERP pulled twice (a failure names its number):
//! 1. Both sides hold the same mapped fields, unless an open conflict
//!    holds the record (manual, or a rule raised it to staff): then each
//!    side keeps its own edits. 1b. An online customer ends as the shop
//!    has it. 1c. The domain rules (docs/sync.md): an intervention
//!    cancelled in the shop keeps the shop's planning on both sides; one
//!    cancelled in the ERP keeps the shop's time and worker; an order
//!    cancelled on either side ends cancelled (or held), otherwise at the
//!    ERP's furthest status.
//! 2. An edit that did not survive was overtaken by a later edit on the
//!    other side, or a conflict names its field. 2b. Each conflict is a
//!    real one (the field edited on both sides, to different values; an
//!    overwritten ERP edit, only on a record the shop owns; a rule that
//!    raised it to staff, only where docs/sync.md says), names its
//!    fields, is won by the policy's side (or the rule's), whose value
//!    both sides keep. 2c. An order status changed on both sides is a
//!    conflict with its rule. 2r. An edit a domain rule wrote over was
//!    recorded as a conflict (2, where a rule is why).
//! 3. One ERP record per shop record, and no record made twice in the shop.
//! 4. Each side's version moved at most once per edit or conflict (+1).
//! 5. Verify reports no drift.
//! 6. Once staff settle what is held, both sides agree, with the chosen
//!    side's values.
//!
//! Environment:
//! - `RELAIS_MODEL_CASES` (default 4): generated cases (`make soak`: 50).
//! - `RELAIS_MODEL_SEED`: the seed (printed); the same seed generates the
//!   same cases.
//! - `RELAIS_MODEL_POLICY`: erp_wins, shop_wins or manual for every case.
//! - `RELAIS_MODEL_ONLY`: customers, workers, planning or orders: edit
//!   that family's records only (every record is still checked).
//! - `RELAIS_MODEL_SHRINK` (default 8): runs spent shrinking a failure.
//! - `RELAIS_MODEL_KEEP_GOING`: run every case, shrink and report each
//!   failure (by default the first failure stops the run).
//! - `RELAIS_MODEL_IGNORE`: invariants set aside, by number (`2r,6`):
//!   logged, not failed, to look for other failures past a known one.
//! - `RELAIS_MODEL_DRAIN_SECS` (default 30): how long the end waits for
//!   both sides to settle.
//! - `RELAIS_MODEL_REPLAY`: a case as JSON (printed with a failure): runs
//!   that case only.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    fmt,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner},
};
use relais_connector::adapter::ErpAdapter;
use relais_proto::{
    connector::{
        AdapterKind, Conflict, ConflictPolicy, ConflictSide, ConnectionFields,
        CreateConnectionRequest, Direction, FamilySettings, ListDeadLettersRequest,
        OrderStatusRule, ReplayDeadLetterRequest, ResolveConflictRequest, SendAs, VerifyRequest,
    },
    orders::{
        ChangeOrderStatusRequest, GetCustomerRequest, GetOrderRequest, ListCustomersRequest, Order,
        OrderStatus, UpdateCustomerRequest,
    },
    planning::{
        Cancel, ChangeInterventionsRequest, ChangeScope, GetWorkerRequest, Intervention,
        InterventionStatus, ListInterventionsRequest, ListWorkersRequest, Reassign, Reschedule,
        UpdateWorkerRequest, change_interventions_request::Change,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tonic::Code;

use crate::stack::{Stack, fields, spawn, text};

// ---------------------------------------------------------------------------
// What a case is made of.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Rec {
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
    const ALL: [Rec; 7] = [
        Rec::ShopCustomerA,
        Rec::ShopCustomerB,
        Rec::ErpCustomer,
        Rec::ErpWorker,
        Rec::ShopWorker,
        Rec::Intervention,
        Rec::ProductOrder,
    ];
    /// Those edited field by field.
    const PEOPLE: [Rec; 5] = [
        Rec::ShopCustomerA,
        Rec::ShopCustomerB,
        Rec::ErpCustomer,
        Rec::ErpWorker,
        Rec::ShopWorker,
    ];
    /// Those staff can edit in the shop (an ERP customer is read-only there).
    const SHOP_EDITABLE: [Rec; 4] = [
        Rec::ShopCustomerA,
        Rec::ShopCustomerB,
        Rec::ErpWorker,
        Rec::ShopWorker,
    ];

    fn family(self) -> Family {
        match self {
            Rec::ShopCustomerA | Rec::ShopCustomerB | Rec::ErpCustomer => Family::Customers,
            Rec::ErpWorker | Rec::ShopWorker => Family::Workers,
            Rec::Intervention => Family::Planning,
            Rec::ProductOrder => Family::Orders,
        }
    }

    fn is_customer(self) -> bool {
        self.family() == Family::Customers
    }

    /// The connector's name for it (a binding's, a conflict's entity).
    fn entity(self) -> &'static str {
        match self.family() {
            Family::Customers => "customer",
            Family::Workers => "worker",
            Family::Planning => "intervention",
            Family::Orders => "order",
        }
    }

    fn object(self) -> &'static str {
        match self.family() {
            Family::Customers => "customer",
            Family::Workers => "employee",
            Family::Planning => "service",
            Family::Orders => "order",
        }
    }

    /// The fields the model compares.
    fn fields(self) -> &'static [Field] {
        match self.family() {
            Family::Customers | Family::Workers => &Field::PERSON,
            Family::Planning => &Field::PLANNING,
            Family::Orders => &[Field::Status],
        }
    }

    /// Created online: read-only in the ERP, whose edits are overwritten.
    fn shop_owned(self) -> bool {
        matches!(self, Rec::ShopCustomerA | Rec::ShopCustomerB)
    }
}

/// The mapped fields the model compares; the ERP's names on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Field {
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
    const PERSON: [Field; 3] = [Field::FirstName, Field::Email, Field::Phone];
    const PLANNING: [Field; 4] = [Field::Start, Field::End, Field::Worker, Field::Status];

    fn erp(self) -> &'static str {
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
    fn values(self) -> [&'static str; 3] {
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
enum Side {
    Shop,
    Erp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Family {
    Customers,
    Workers,
    Planning,
    Orders,
}

impl Family {
    const ALL: [Family; 4] = [
        Family::Customers,
        Family::Workers,
        Family::Planning,
        Family::Orders,
    ];

    fn name(self) -> &'static str {
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
enum Crew {
    Omar,
    Awa,
}

impl Crew {
    const ALL: [Crew; 2] = [Crew::Omar, Crew::Awa];
}

/// Where the ERP moves a product order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Step {
    Preparing,
    Shipped,
    Delivered,
    Cancelled,
}

impl Step {
    const ALL: [Step; 4] = [
        Step::Preparing,
        Step::Shipped,
        Step::Delivered,
        Step::Cancelled,
    ];

    fn erp(self) -> &'static str {
        match self {
            Step::Preparing => "preparing",
            Step::Shipped => "shipped",
            Step::Delivered => "delivered",
            Step::Cancelled => "cancelled",
        }
    }
}

/// How far along an order's status is (cancelled: none).
fn rank(status: &str) -> Option<u8> {
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
enum Faults {
    Errors,
    LostAnswers,
    Slow,
    Duplicates,
    Everything,
}

impl Faults {
    const ALL: [Faults; 5] = [
        Faults::Errors,
        Faults::LostAnswers,
        Faults::Slow,
        Faults::Duplicates,
        Faults::Everything,
    ];

    fn json(self) -> Value {
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
enum Op {
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
enum Policy {
    ErpWins,
    ShopWins,
    Manual,
}

impl Policy {
    fn pb(self) -> ConflictPolicy {
        match self {
            Policy::ErpWins => ConflictPolicy::ErpWins,
            Policy::ShopWins => ConflictPolicy::ShopWins,
            Policy::Manual => ConflictPolicy::Manual,
        }
    }

    fn from_env(v: &str) -> Option<Self> {
        match v {
            "erp_wins" => Some(Policy::ErpWins),
            "shop_wins" => Some(Policy::ShopWins),
            "manual" => Some(Policy::Manual),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Case {
    policy: Policy,
    ops: Vec<Op>,
    /// The side staff pick when they settle what is held at the end.
    settle_for_shop: bool,
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

fn case(policy: Option<Policy>, only: Option<Family>) -> impl Strategy<Value = Case> {
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

// ---------------------------------------------------------------------------
// Running a case.

/// One edit that changed a value, in the order the test made them.
#[derive(Clone, Debug)]
struct Edit {
    seq: usize,
    /// The op that made it (a move edits start and end in one op).
    op: usize,
    side: Side,
    rec: Rec,
    field: Field,
    value: String,
    /// When the edit began: one begun after a conflict was detected is
    /// none of that conflict's business.
    began: DateTime<Utc>,
}

#[derive(Default)]
struct Totals {
    cases: usize,
    edits: usize,
    faults: usize,
    restarts: usize,
    conflicts: usize,
    dead_letters: usize,
    /// Violations of invariants set aside (RELAIS_MODEL_IGNORE).
    ignored: usize,
    /// Conflicts seen by record and rule (or policy): what the cases reached.
    seen: BTreeMap<String, usize>,
}

/// A broken rule: which invariant, and what was seen.
#[derive(Clone, Debug)]
struct Violation {
    invariant: &'static str,
    what: String,
}

#[derive(Default)]
struct Outcome {
    violations: Vec<Violation>,
    log: Vec<String>,
}

impl Outcome {
    fn first(&self) -> Option<&'static str> {
        self.violations.first().map(|v| v.invariant)
    }

    fn report(&self) -> String {
        let mut s = String::new();
        for v in &self.violations {
            s.push_str(&format!("  [{}] {}\n", v.invariant, v.what));
        }
        s.push_str("  what happened:\n");
        for l in &self.log {
            s.push_str(&format!("    {l}\n"));
        }
        s
    }
}

#[derive(Clone, Debug)]
struct Ids {
    shop: String,
    erp: String,
}

type Values = BTreeMap<Field, String>;

/// Both sides of every record, once.
struct Snapshot {
    shop: BTreeMap<Rec, (Values, i64)>,
    erp: BTreeMap<Rec, (Values, i64)>,
}

impl Snapshot {
    fn shop(&self, rec: Rec, field: Field) -> &str {
        self.shop[&rec].0[&field].as_str()
    }

    fn erp(&self, rec: Rec, field: Field) -> &str {
        self.erp[&rec].0[&field].as_str()
    }

    fn converged(&self, rec: Rec) -> bool {
        rec.fields()
            .iter()
            .all(|f| self.shop(rec, *f) == self.erp(rec, *f))
    }
}

struct World {
    stack: Stack,
    conn: String,
    policy: Policy,
    ids: BTreeMap<Rec, Ids>,
    /// The workers an intervention may go to.
    crew: BTreeMap<Crew, Ids>,
    /// The booking of the intervention (planning lists it by booking).
    booking: String,
    /// The intervention's booked start: times are shown from it.
    booked: DateTime<Utc>,
    /// Each side's version and values once set up (both sides agreed).
    start: Snapshot,
    faults: Option<Faults>,
    edits: Vec<Edit>,
    /// The op being applied.
    op: usize,
    log: Vec<String>,
    faults_set: usize,
    restarts: usize,
}

fn err(e: impl fmt::Display) -> String {
    e.to_string()
}

/// The connection under test: customers, workers, planning and product
/// orders both ways (orders sent once paid), bookings pushed.
async fn connect(stack: &Stack, policy: Policy) -> String {
    let family = |f: &str, d: Direction| FamilySettings {
        family: f.into(),
        direction: d as i32,
        schedule: String::new(),
    };
    let rule = |status: &str, send_as: SendAs| OrderStatusRule {
        status: status.into(),
        send_as: send_as as i32,
    };
    stack
        .connector
        .clone()
        .create_connection(stack.admin(CreateConnectionRequest {
            idempotency_key: "model".into(),
            fields: Some(ConnectionFields {
                name: "model-erp".into(),
                adapter: AdapterKind::ReferenceErp as i32,
                endpoint: stack.erp_base.clone(),
                secret_ref: String::new(),
                secret: crate::stack::ERP_KEYS.into(),
                families: vec![
                    family("customers", Direction::Both),
                    family("workers", Direction::Both),
                    family("planning", Direction::Both),
                    family("bookings", Direction::Push),
                    family("orders", Direction::Both),
                ],
                order_statuses: vec![
                    rule("validated", SendAs::NotSent),
                    rule("paid", SendAs::Order),
                ],
                conflict_policy: policy.pb() as i32,
                enabled: true,
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap()
        .id
}

fn erp_values(r: &relais_connector::adapter::ErpRecord) -> Values {
    Field::PERSON
        .iter()
        .map(|f| (*f, text(r, f.erp()).to_owned()))
        .collect()
}

fn instant(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// A shop order's status as the ERP names it (what the connector sends).
fn order_status(o: &Order) -> &'static str {
    match o.status() {
        OrderStatus::Placed | OrderStatus::Quote => "validated",
        OrderStatus::Confirmed => "paid",
        OrderStatus::Preparing => "preparing",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered | OrderStatus::Completed => "delivered",
        OrderStatus::Cancelled => "cancelled",
        _ => "?",
    }
}

fn intervention_status(i: &Intervention) -> &'static str {
    match i.status() {
        InterventionStatus::Planned => "planned",
        InterventionStatus::Done => "done",
        InterventionStatus::Cancelled => "cancelled",
        InterventionStatus::Unspecified => "?",
    }
}

impl World {
    /// A fresh stack with the case's records, bound and agreed on both sides.
    async fn set_up(policy: Policy) -> Result<World, String> {
        let stack = spawn().await;
        let conn = connect(&stack, policy).await;
        let service = stack.service("MENAGE").await;
        let erp = stack.erp();
        let alpha = stack.customer("Alpha").await;
        let bravo = stack.customer("Bravo").await;
        let omar = stack.shop_worker("Omar", &service).await;
        let awa = stack.shop_worker("Awa", &service).await;
        let jeanne = erp
            .upsert(
                "customer",
                None,
                "model-jeanne",
                &fields(json!({
                    "first_name": "Jeanne", "last_name": "Martin",
                    "email": "jeanne@example.org", "phone": "04 78 00 00 12",
                    "address": { "line1": "4 allée des Tilleuls", "postal_code": "69003", "city": "Lyon" },
                })),
            )
            .await
            .map_err(err)?;
        let lea = erp
            .upsert(
                "employee",
                None,
                "model-lea",
                &fields(json!({
                    "first_name": "Léa", "last_name": "Moreau", "email": "lea@example.org",
                    "phone": "06 12 34 56 78", "active": true,
                })),
            )
            .await
            .map_err(err)?;
        for family in ["customers", "workers"] {
            stack.sync(&conn, family, false).await.map_err(err)?;
        }
        // Bravo's booking with Omar (one intervention, tomorrow 9:00), and
        // Alpha's product order, paid: both sent.
        let booking = stack.book(&bravo, &service, &omar, 1).await.id;
        let gloves = crate::orders::product(&stack).await;
        let order = stack.paid_product_order(&alpha, &gloves).await.id;
        let by_shop_id = |object: &'static str, id: String| {
            let stack = &stack;
            async move {
                stack
                    .erp_eventually(object, 1, |r| text(r, "shop_id") == id)
                    .await
                    .remove(0)
            }
        };
        let erp_alpha = by_shop_id("customer", alpha.clone()).await;
        let erp_bravo = by_shop_id("customer", bravo.clone()).await;
        let erp_omar = by_shop_id("employee", omar.clone()).await;
        let erp_awa = by_shop_id("employee", awa.clone()).await;
        let visit = stack
            .erp_eventually("service", 1, |s| text(s, "status") == "planned")
            .await
            .remove(0);
        let erp_order = stack
            .erp_eventually("order", 1, |o| {
                text(o, "shop_id") == order && text(o, "status") == "paid"
            })
            .await
            .remove(0);
        let shop_jeanne = stack
            .customers_matching("Martin")
            .await
            .pop()
            .ok_or("the ERP customer never reached the shop")?
            .id;
        let shop_lea = stack
            .planning
            .clone()
            .list_workers(stack.admin(ListWorkersRequest::default()))
            .await
            .map_err(err)?
            .into_inner()
            .workers
            .into_iter()
            .find(|w| w.fields.as_ref().is_some_and(|f| f.external_ref == lea.id))
            .ok_or("the ERP employee never reached the shop")?
            .id;
        let jeanne = erp.get("customer", &jeanne.id).await.map_err(err)?;
        let lea = erp.get("employee", &lea.id).await.map_err(err)?;
        stack
            .bound(
                &conn,
                "customer",
                &[erp_alpha.clone(), erp_bravo.clone(), jeanne.clone()],
            )
            .await;
        stack
            .bound(
                &conn,
                "worker",
                &[erp_omar.clone(), erp_awa.clone(), lea.clone()],
            )
            .await;
        stack
            .bound(&conn, "intervention", std::slice::from_ref(&visit))
            .await;
        stack
            .bound(&conn, "order", std::slice::from_ref(&erp_order))
            .await;
        let ids: BTreeMap<Rec, Ids> = [
            (Rec::ShopCustomerA, alpha, erp_alpha.id),
            (Rec::ShopCustomerB, bravo, erp_bravo.id),
            (Rec::ErpCustomer, shop_jeanne, jeanne.id),
            (Rec::ErpWorker, shop_lea, lea.id),
            (Rec::ShopWorker, omar.clone(), erp_omar.id.clone()),
            (
                Rec::Intervention,
                text(&visit, "shop_id").to_owned(),
                visit.id.clone(),
            ),
            (Rec::ProductOrder, order, erp_order.id),
        ]
        .into_iter()
        .map(|(r, shop, erp)| (r, Ids { shop, erp }))
        .collect();
        let crew: BTreeMap<Crew, Ids> = [
            (Crew::Omar, omar, erp_omar.id),
            (Crew::Awa, awa, erp_awa.id),
        ]
        .into_iter()
        .map(|(c, shop, erp)| (c, Ids { shop, erp }))
        .collect();
        let mut world = World {
            stack,
            conn,
            policy,
            ids,
            crew,
            booking,
            booked: DateTime::<Utc>::MIN_UTC,
            start: Snapshot {
                shop: BTreeMap::new(),
                erp: BTreeMap::new(),
            },
            faults: None,
            edits: Vec::new(),
            op: 0,
            log: Vec::new(),
            faults_set: 0,
            restarts: 0,
        };
        world.booked = instant(world.shop_intervention().await?.start.as_ref())
            .ok_or("the intervention has no start")?;
        // The connector may still be finishing its first writes (an
        // intervention is sent, then its booking moves on): the start is
        // what both sides hold once nothing moves.
        let mut start = world.snapshot().await?;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let again = world.snapshot().await?;
            let same = again.shop == start.shop && again.erp == start.erp;
            start = again;
            if same {
                break;
            }
        }
        world.start = start;
        for rec in Rec::ALL {
            if !world.start.converged(rec) {
                return Err(format!(
                    "set-up: {rec:?} differs before any edit: shop {:?}, ERP {:?}",
                    world.start.shop[&rec], world.start.erp[&rec]
                ));
            }
        }
        Ok(world)
    }

    /// An instant as the model shows it: minutes after the booked start.
    fn minutes(&self, t: Option<DateTime<Utc>>) -> String {
        match t {
            Some(t) => format!("{:+}m", (t - self.booked).num_minutes()),
            None => "none".into(),
        }
    }

    fn crew_of(&self, id: &str, side: Side) -> String {
        if id.is_empty() {
            return String::new();
        }
        self.crew
            .iter()
            .find(|(_, ids)| {
                (match side {
                    Side::Shop => &ids.shop,
                    Side::Erp => &ids.erp,
                }) == id
            })
            .map_or_else(|| format!("worker {id}"), |(c, _)| format!("{c:?}"))
    }

    /// A field's value as the ERP shows it (a conflict's values), as the
    /// model shows it.
    fn shown(&self, field: Field, erp: &str) -> String {
        match field {
            Field::Start | Field::End => match DateTime::parse_from_rfc3339(erp) {
                Ok(t) => self.minutes(Some(t.with_timezone(&Utc))),
                Err(_) => erp.to_owned(),
            },
            Field::Worker => self.crew_of(erp, Side::Erp),
            _ => erp.to_owned(),
        }
    }

    async fn shop_intervention(&self) -> Result<Intervention, String> {
        let id = &self.ids[&Rec::Intervention].shop;
        self.stack
            .planning
            .clone()
            .list_interventions(self.stack.admin(ListInterventionsRequest {
                order_id: self.booking.clone(),
                ..Default::default()
            }))
            .await
            .map_err(err)?
            .into_inner()
            .interventions
            .into_iter()
            .find(|i| &i.id == id)
            .ok_or_else(|| "the intervention is gone from the shop".to_owned())
    }

    async fn shop_order(&self) -> Result<Order, String> {
        self.stack
            .orders
            .clone()
            .get_order(self.stack.admin(GetOrderRequest {
                id: self.ids[&Rec::ProductOrder].shop.clone(),
            }))
            .await
            .map_err(err)?
            .into_inner()
            .order
            .ok_or_else(|| "no order".to_owned())
    }

    async fn shop_side(&self, rec: Rec) -> Result<(Values, i64), String> {
        let id = self.ids[&rec].shop.clone();
        let (values, version) = match rec.family() {
            Family::Customers => {
                let c = self
                    .stack
                    .orders
                    .clone()
                    .get_customer(self.stack.admin(GetCustomerRequest { id }))
                    .await
                    .map_err(err)?
                    .into_inner()
                    .customer
                    .ok_or("no customer")?;
                let f = c.fields.unwrap_or_default();
                (
                    vec![
                        (Field::FirstName, f.first_name),
                        (Field::Email, f.email),
                        (Field::Phone, f.phone),
                    ],
                    c.version,
                )
            }
            Family::Workers => {
                let w = self
                    .stack
                    .planning
                    .clone()
                    .get_worker(self.stack.admin(GetWorkerRequest { id }))
                    .await
                    .map_err(err)?
                    .into_inner()
                    .worker
                    .ok_or("no worker")?;
                let f = w.fields.unwrap_or_default();
                (
                    vec![
                        (Field::FirstName, f.first_name),
                        (Field::Email, f.email),
                        (Field::Phone, f.phone),
                    ],
                    w.version,
                )
            }
            Family::Planning => {
                let i = self.shop_intervention().await?;
                (
                    vec![
                        (Field::Start, self.minutes(instant(i.start.as_ref()))),
                        (Field::End, self.minutes(instant(i.end.as_ref()))),
                        (Field::Worker, self.crew_of(&i.worker_id, Side::Shop)),
                        (Field::Status, intervention_status(&i).to_owned()),
                    ],
                    i.version,
                )
            }
            Family::Orders => {
                let o = self.shop_order().await?;
                (
                    vec![(Field::Status, order_status(&o).to_owned())],
                    o.version,
                )
            }
        };
        Ok((values.into_iter().collect(), version))
    }

    async fn erp_side(&self, rec: Rec) -> Result<(Values, i64), String> {
        let r = self
            .stack
            .erp()
            .get(rec.object(), &self.ids[&rec].erp)
            .await
            .map_err(err)?;
        let values = match rec.family() {
            Family::Customers | Family::Workers => erp_values(&r),
            Family::Planning | Family::Orders => rec
                .fields()
                .iter()
                .map(|f| (*f, self.shown(*f, text(&r, f.erp()))))
                .collect(),
        };
        Ok((values, r.version))
    }

    async fn snapshot(&self) -> Result<Snapshot, String> {
        let mut s = Snapshot {
            shop: BTreeMap::new(),
            erp: BTreeMap::new(),
        };
        for rec in Rec::ALL {
            s.shop.insert(rec, self.shop_side(rec).await?);
            s.erp.insert(rec, self.erp_side(rec).await?);
        }
        Ok(s)
    }

    fn record(&mut self, side: Side, rec: Rec, field: Field, value: &str, began: DateTime<Utc>) {
        let seq = self.edits.len() + 1;
        self.edits.push(Edit {
            seq,
            op: self.op,
            side,
            rec,
            field,
            value: value.into(),
            began,
        });
    }

    /// Staff edit one field in the shop; false when it held that already.
    async fn shop_edit(&self, rec: Rec, field: Field, value: &str) -> Result<bool, String> {
        let id = self.ids[&rec].shop.clone();
        // The connector may write the record between our read and our
        // write: the version check refuses ours, and we read again.
        for _ in 0..5 {
            let stale = if rec.is_customer() {
                let c = self
                    .stack
                    .orders
                    .clone()
                    .get_customer(self.stack.admin(GetCustomerRequest { id: id.clone() }))
                    .await
                    .map_err(err)?
                    .into_inner()
                    .customer
                    .ok_or("no customer")?;
                let mut f = c.fields.unwrap_or_default();
                let slot = match field {
                    Field::FirstName => &mut f.first_name,
                    Field::Email => &mut f.email,
                    Field::Phone => &mut f.phone,
                    _ => return Err(format!("{field:?} is no customer field")),
                };
                if slot == value {
                    return Ok(false);
                }
                *slot = value.into();
                self.stack
                    .orders
                    .clone()
                    .update_customer(self.stack.admin(UpdateCustomerRequest {
                        id: id.clone(),
                        expected_version: c.version,
                        fields: Some(f),
                    }))
                    .await
                    .err()
            } else {
                let w = self
                    .stack
                    .planning
                    .clone()
                    .get_worker(self.stack.admin(GetWorkerRequest { id: id.clone() }))
                    .await
                    .map_err(err)?
                    .into_inner()
                    .worker
                    .ok_or("no worker")?;
                let mut f = w.fields.unwrap_or_default();
                let slot = match field {
                    Field::FirstName => &mut f.first_name,
                    Field::Email => &mut f.email,
                    Field::Phone => &mut f.phone,
                    _ => return Err(format!("{field:?} is no worker field")),
                };
                if slot == value {
                    return Ok(false);
                }
                *slot = value.into();
                self.stack
                    .planning
                    .clone()
                    .update_worker(self.stack.admin(UpdateWorkerRequest {
                        id: id.clone(),
                        expected_version: w.version,
                        fields: Some(f),
                    }))
                    .await
                    .err()
            };
            match stale {
                None => return Ok(true),
                Some(s) if matches!(s.code(), Code::FailedPrecondition | Code::Aborted) => {}
                Some(s) => return Err(format!("{:?}: {}", s.code(), s.message())),
            }
        }
        Err("the record kept changing under the edit".into())
    }

    /// Staff change the intervention in planning, as `wanted` says (None:
    /// it is so already); false when it was so.
    async fn shop_change(
        &self,
        wanted: impl Fn(&Intervention) -> Option<Change>,
    ) -> Result<bool, String> {
        // The connector may change it between our read and our change.
        for _ in 0..5 {
            let i = self.shop_intervention().await?;
            let Some(change) = wanted(&i) else {
                return Ok(false);
            };
            let changed = self
                .stack
                .planning
                .clone()
                .change_interventions(self.stack.admin(ChangeInterventionsRequest {
                    intervention_id: i.id.clone(),
                    scope: ChangeScope::One as i32,
                    expected_version: i.version,
                    change: Some(change),
                }))
                .await;
            match changed {
                Ok(_) => return Ok(true),
                Err(s) if s.message().contains("version mismatch") => {}
                Err(s) => return Err(format!("{:?}: {}", s.code(), s.message())),
            }
        }
        Err("the intervention kept changing under the change".into())
    }

    /// Staff cancel the product order; false when it was cancelled.
    async fn shop_cancel_order(&self) -> Result<bool, String> {
        for _ in 0..5 {
            let o = self.shop_order().await?;
            if o.status() == OrderStatus::Cancelled {
                return Ok(false);
            }
            let changed = self
                .stack
                .orders
                .clone()
                .change_order_status(self.stack.admin(ChangeOrderStatusRequest {
                    id: o.id.clone(),
                    expected_version: o.version,
                    status: OrderStatus::Cancelled as i32,
                    reason: "cancelled in the shop (model)".into(),
                    ..Default::default()
                }))
                .await;
            match changed {
                Ok(_) => return Ok(true),
                Err(s) if s.message().contains("version mismatch") => {}
                Err(s) => return Err(format!("{:?}: {}", s.code(), s.message())),
            }
        }
        Err("the order kept changing under the change".into())
    }

    /// Someone edits the ERP's record of `rec`: `edit` says what to write,
    /// given the record now (None: it holds that already; Err: nobody
    /// would make that edit); false when it held that already.
    async fn erp_write(
        &self,
        rec: Rec,
        edit: impl Fn(&relais_connector::adapter::ErpRecord) -> Result<Option<Value>, String>,
    ) -> Result<bool, String> {
        // The faults are the connector's to suffer, not the test's: off
        // for the length of this edit.
        if self.faults.is_some() {
            self.stack.faults(json!({})).await;
        }
        let erp = self.stack.erp();
        let id = &self.ids[&rec].erp;
        let edited = async {
            let current = erp.get(rec.object(), id).await.map_err(err)?;
            let Some(change) = edit(&current)? else {
                return Ok(false);
            };
            erp.upsert(rec.object(), Some(id), "", &fields(change))
                .await
                .map_err(err)?;
            Ok(true)
        }
        .await;
        if let Some(f) = self.faults {
            self.stack.faults(f.json()).await;
        }
        edited
    }

    /// Someone edits one field in the ERP; false when it held that already.
    async fn erp_edit(&self, rec: Rec, field: Field, value: &str) -> Result<bool, String> {
        self.erp_write(rec, |current| {
            Ok((text(current, field.erp()) != value).then(|| json!({ field.erp(): value })))
        })
        .await
    }

    /// Someone changes the intervention in the ERP; an intervention
    /// closed there is not changed any more.
    async fn erp_visit(
        &self,
        change: impl Fn(&Self, &relais_connector::adapter::ErpRecord) -> Option<Value>,
    ) -> Result<bool, String> {
        self.erp_write(Rec::Intervention, |current| match text(current, "status") {
            "planned" => Ok(change(self, current)),
            other => Err(format!("the ERP's intervention is {other}")),
        })
        .await
    }

    async fn apply(&mut self, op: &Op) -> String {
        let began = Utc::now();
        let said = |r: Result<bool, String>| match r {
            Ok(true) => None,
            Ok(false) => Some("held it already: no edit".to_owned()),
            Err(e) => Some(format!("no edit: {e}")),
        };
        // The edits an op made, when it made them.
        let mut made: Vec<(Side, Rec, Field, String)> = Vec::new();
        let mut done = |r: Result<bool, String>, edits: Vec<(Side, Rec, Field, String)>| {
            let s = said(r);
            if s.is_none() {
                made = edits;
            }
            s
        };
        let at = |hours: u8| self.booked + chrono::Duration::hours(i64::from(hours));
        let moved = |side: Side, hours: u8| {
            let m = 60 * i64::from(hours);
            vec![
                (side, Rec::Intervention, Field::Start, format!("{m:+}m")),
                (
                    side,
                    Rec::Intervention,
                    Field::End,
                    format!("{:+}m", m + 120),
                ),
            ]
        };
        let out = match op {
            Op::ShopEdit { rec, field, value } => done(
                self.shop_edit(*rec, *field, value).await,
                vec![(Side::Shop, *rec, *field, value.clone())],
            ),
            Op::ErpEdit { rec, field, value } => done(
                self.erp_edit(*rec, *field, value).await,
                vec![(Side::Erp, *rec, *field, value.clone())],
            ),
            Op::ShopReschedule { hours } => {
                let to = at(*hours);
                let r = self
                    .shop_change(|i| {
                        (instant(i.start.as_ref()) != Some(to)).then(|| {
                            Change::Reschedule(Reschedule {
                                start: Some(timestamp(to)),
                                local_start_time: String::new(),
                                duration_minutes: 120,
                            })
                        })
                    })
                    .await;
                done(r, moved(Side::Shop, *hours))
            }
            Op::ErpReschedule { hours } => {
                let to = at(*hours);
                // Written with an offset of its own, as an ERP user in
                // Paris would: the same instant.
                let paris = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
                let r = self
                    .erp_visit(|_, current| {
                        let now = DateTime::parse_from_rfc3339(text(current, "start"))
                            .ok()
                            .map(|t| t.with_timezone(&Utc));
                        (now != Some(to)).then(|| {
                            json!({
                                "start": to.with_timezone(&paris).to_rfc3339(),
                                "end": (to + chrono::Duration::minutes(120)).with_timezone(&paris).to_rfc3339(),
                            })
                        })
                    })
                    .await;
                done(r, moved(Side::Erp, *hours))
            }
            Op::ShopReassign(who) => {
                let id = self.crew[who].shop.clone();
                let r = self
                    .shop_change(|i| {
                        (i.worker_id != id).then(|| {
                            Change::Reassign(Reassign {
                                worker_id: id.clone(),
                            })
                        })
                    })
                    .await;
                done(
                    r,
                    vec![(
                        Side::Shop,
                        Rec::Intervention,
                        Field::Worker,
                        format!("{who:?}"),
                    )],
                )
            }
            Op::ErpReassign(who) => {
                let id = self.crew[who].erp.clone();
                let r = self
                    .erp_visit(|_, current| {
                        (text(current, "employee") != id).then(|| json!({ "employee": id }))
                    })
                    .await;
                done(
                    r,
                    vec![(
                        Side::Erp,
                        Rec::Intervention,
                        Field::Worker,
                        format!("{who:?}"),
                    )],
                )
            }
            Op::ShopCancelIntervention => {
                let r = self
                    .shop_change(|i| {
                        (i.status() != InterventionStatus::Cancelled).then(|| {
                            Change::Cancel(Cancel {
                                reason: "cancelled in the shop (model)".into(),
                            })
                        })
                    })
                    .await;
                done(
                    r,
                    vec![(
                        Side::Shop,
                        Rec::Intervention,
                        Field::Status,
                        "cancelled".into(),
                    )],
                )
            }
            Op::ErpCancelIntervention => {
                let r = self
                    .erp_visit(|_, _| {
                        Some(json!({ "status": "cancelled", "status_reason": "cancelled in the ERP (model)" }))
                    })
                    .await;
                done(
                    r,
                    vec![(
                        Side::Erp,
                        Rec::Intervention,
                        Field::Status,
                        "cancelled".into(),
                    )],
                )
            }
            Op::ShopCancelOrder => done(
                self.shop_cancel_order().await,
                vec![(
                    Side::Shop,
                    Rec::ProductOrder,
                    Field::Status,
                    "cancelled".into(),
                )],
            ),
            Op::ErpOrder(step) => {
                let r = self
                    .erp_write(Rec::ProductOrder, |current| {
                        let now = text(current, "status");
                        if now == "cancelled" {
                            return Err("the ERP's order is cancelled".into());
                        }
                        if now == step.erp() {
                            return Ok(None);
                        }
                        if *step != Step::Cancelled && rank(step.erp()) < rank(now) {
                            return Err(format!("the ERP's order is {now}, never moved back"));
                        }
                        // The documents of each step the ERP passed.
                        Ok(Some(match step {
                            Step::Preparing => {
                                json!({ "status": "preparing", "picking_list": "PL-0031" })
                            }
                            Step::Shipped | Step::Delivered => json!({
                                "status": step.erp(), "picking_list": "PL-0031",
                                "delivery_note": "BL-0042",
                            }),
                            Step::Cancelled => json!({
                                "status": "cancelled", "status_reason": "cancelled in the ERP (model)",
                            }),
                        }))
                    })
                    .await;
                done(
                    r,
                    vec![(
                        Side::Erp,
                        Rec::ProductOrder,
                        Field::Status,
                        step.erp().into(),
                    )],
                )
            }
            Op::Pull(family) => Some(
                match self.stack.sync(&self.conn, family.name(), false).await {
                    Ok(progress) => match progress.last().and_then(|p| p.run.clone()) {
                        Some(r) => format!(
                            "{:?}: applied {}, skipped {}, failed {} {:?}",
                            r.status(),
                            r.applied,
                            r.skipped,
                            r.failed,
                            r.errors
                        ),
                        None => "no run".into(),
                    },
                    Err(s) => format!("{:?}: {}", s.code(), s.message()),
                },
            ),
            Op::WaitPushes { ms } => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                None
            }
            Op::Faults(f) => {
                self.stack.faults(f.json()).await;
                self.faults = Some(*f);
                self.faults_set += 1;
                None
            }
            Op::ClearFaults => {
                self.stack.faults(json!({})).await;
                self.faults = None;
                None
            }
            Op::RestartConnector => {
                self.stack.stop_connector();
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.stack.start_connector().await;
                self.restarts += 1;
                None
            }
        };
        let first = self.edits.len() + 1;
        for (side, rec, field, value) in made {
            self.record(side, rec, field, &value, began);
        }
        match out {
            Some(s) => s,
            None if self.edits.len() >= first => {
                let last = self.edits.len();
                if last == first {
                    format!("edit #{first}")
                } else {
                    format!("edits #{first}-#{last}")
                }
            }
            None => String::new(),
        }
    }

    /// Open conflicts: what staff must settle; the record is held on both
    /// sides meanwhile (under manual, or under any policy when a rule
    /// raised it to staff).
    fn held<'a>(&self, rec: Rec, conflicts: &'a [Conflict]) -> Vec<&'a Conflict> {
        conflicts
            .iter()
            .filter(|c| {
                // Any kind but an overwritten ERP edit (a conflict without
                // a kind, from before kinds, holds the record as well).
                c.kind != "erp_overwritten"
                    && c.winner.is_empty()
                    && c.resolved_at.is_none()
                    && self.rec_of(c) == Some(rec)
            })
            .collect()
    }

    fn rec_of(&self, c: &Conflict) -> Option<Rec> {
        Rec::ALL.into_iter().find(|r| {
            r.entity() == c.entity
                && (self.ids[r].shop == c.internal_id || self.ids[r].erp == c.external_id)
        })
    }

    /// Every record converged, or held for staff.
    async fn settled(&self) -> bool {
        let (Ok(s), conflicts) = (self.snapshot().await, self.conflicts().await) else {
            return false;
        };
        Rec::ALL
            .iter()
            .all(|r| s.converged(*r) || !self.held(*r, &conflicts).is_empty())
    }

    async fn conflicts(&self) -> Vec<Conflict> {
        self.stack.conflicts(&self.conn, false).await
    }

    /// Runs each family's pull once.
    async fn pull_all(&self) {
        for family in Family::ALL {
            let _ = self.stack.sync(&self.conn, family.name(), false).await;
        }
    }

    /// Pulls and waits (up to `within`) until both sides settle; dead
    /// letters are replayed, as staff would. Gives up sooner when nothing
    /// moved for a while (a stuck record would only spend the whole wait).
    /// The number replayed.
    async fn drain(&mut self, within: Duration) -> usize {
        // An event a stopped connector had taken but not acknowledged
        // comes back after JetStream's ack wait (30 s): after a restart,
        // stillness is only believed past it.
        let (still, within) = if self.restarts > 0 {
            (Duration::from_secs(35), within.max(Duration::from_secs(40)))
        } else {
            (Duration::from_secs(10), within)
        };
        let deadline = Instant::now() + within;
        let mut replayed = 0;
        let mut last: Option<(String, usize, Instant)> = None;
        loop {
            let dead = self
                .stack
                .connector
                .clone()
                .list_dead_letters(self.stack.admin(ListDeadLettersRequest {
                    connection_id: self.conn.clone(),
                }))
                .await
                .map(|r| r.into_inner().dead_letters)
                .unwrap_or_default();
            for d in dead {
                self.log.push(format!(
                    "drain: dead letter {} {} ({}), replayed",
                    d.entity, d.internal_id, d.error
                ));
                let _ = self
                    .stack
                    .connector
                    .clone()
                    .replay_dead_letter(self.stack.admin(ReplayDeadLetterRequest { id: d.id }))
                    .await;
                replayed += 1;
            }
            self.pull_all().await;
            if self.settled().await {
                return replayed;
            }
            if Instant::now() >= deadline {
                self.log
                    .push(format!("drain: not settled after {} s", within.as_secs()));
                return replayed;
            }
            // Both sides' values and versions: a write anywhere changes them.
            let state = match self.snapshot().await {
                Ok(s) => format!("{:?} {:?}", s.shop, s.erp),
                Err(e) => e,
            };
            match &last {
                Some((seen, n, since)) if *seen == state && *n == replayed => {
                    if since.elapsed() >= still {
                        self.log.push(format!(
                            "drain: not settled, and nothing moved for {} s",
                            still.as_secs()
                        ));
                        return replayed;
                    }
                }
                _ => last = Some((state, replayed, Instant::now())),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn last_edit(&self, rec: Rec, field: Field, side: Side) -> Option<&Edit> {
        self.edits
            .iter()
            .rfind(|e| e.rec == rec && e.field == field && e.side == side)
    }

    fn edited(&self, rec: Rec, field: Field, side: Side) -> bool {
        self.last_edit(rec, field, side).is_some()
    }
}

/// A conflict's value as text (values are JSON text, as the ERP shows them).
fn plain(v: &str) -> String {
    match serde_json::from_str::<Value>(v) {
        Ok(Value::String(s)) => s,
        _ => v.to_owned(),
    }
}

fn listed(c: &Conflict) -> Vec<&str> {
    c.values.iter().map(|v| v.field.as_str()).collect()
}

/// The model's field of `rec` a conflict's field names, if it is one.
fn field_of(rec: Rec, name: &str) -> Option<Field> {
    rec.fields().iter().copied().find(|f| f.erp() == name)
}

/// Held for staff by a domain rule (any policy), not by the manual policy.
fn raised(c: &Conflict) -> bool {
    !c.rule.is_empty() && c.winner.is_empty()
}

/// The invariants, on the final state.
async fn check(world: &World, s: &Snapshot, conflicts: &[Conflict]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut fail = |invariant: &'static str, what: String| out.push(Violation { invariant, what });
    let policy = world.policy;

    // 1. Convergence; a held record keeps each side's own edit of the
    // fields in conflict.
    for rec in Rec::ALL {
        let held = world.held(rec, conflicts);
        if held.is_empty() {
            for field in rec.fields() {
                let (shop, erp) = (s.shop(rec, *field), s.erp(rec, *field));
                if shop != erp {
                    fail(
                        "1 convergence",
                        format!("{rec:?}.{}: shop {shop:?}, ERP {erp:?}", field.erp()),
                    );
                }
            }
            continue;
        }
        for c in held {
            // Held: the connector writes neither side, so an edit begun
            // after the conflict stays where it was made.
            let detected = c
                .detected_at
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32));
            for field in rec.fields() {
                if listed(c).contains(&field.erp()) {
                    // Checked below, whenever the edit was made.
                    continue;
                }
                for (side, now) in [
                    (Side::Shop, s.shop(rec, *field)),
                    (Side::Erp, s.erp(rec, *field)),
                ] {
                    if let Some(e) = world.last_edit(rec, *field, side)
                        && detected.is_some_and(|d| e.began > d)
                        && e.value != now
                    {
                        fail(
                            "1 convergence",
                            format!(
                                "{rec:?}.{} is held (conflict {}), yet the connector wrote the {side:?} side over its edit #{} {:?} made since: it holds {now:?}",
                                field.erp(),
                                c.id,
                                e.seq,
                                e.value
                            ),
                        );
                    }
                }
            }
            for name in listed(c) {
                let Some(field) = field_of(rec, name) else {
                    continue;
                };
                for (side, now) in [
                    (Side::Shop, s.shop(rec, field)),
                    (Side::Erp, s.erp(rec, field)),
                ] {
                    if let Some(e) = world.last_edit(rec, field, side)
                        && e.value != now
                    {
                        fail(
                            "1 convergence",
                            format!(
                                "{rec:?}.{name} is held (conflict {}), yet the {side:?} side holds {now:?}, not its own edit #{} {:?}",
                                c.id, e.seq, e.value
                            ),
                        );
                    }
                }
            }
        }
    }

    // 1b. Ownership: a record created online ends as the shop has it.
    for rec in Rec::ALL.into_iter().filter(|r| r.shop_owned()) {
        for field in rec.fields() {
            let own = world
                .last_edit(rec, *field, Side::Shop)
                .map_or(world.start.shop(rec, *field), |e| e.value.as_str());
            let now = s.shop(rec, *field);
            if now != own {
                fail(
                    "1b ownership",
                    format!(
                        "{rec:?}.{}: the shop owns it and last set {own:?}, it holds {now:?} (the ERP's edit taken)",
                        field.erp()
                    ),
                );
            }
        }
    }

    // 1c. The order rules: a cancellation on either side ends cancelled
    // on both (unless held for staff); otherwise the order ends where the
    // ERP last moved it (it only moves forward), or as sent.
    let order = Rec::ProductOrder;
    if s.converged(order) && world.held(order, conflicts).is_empty() {
        let status = |side| world.last_edit(order, Field::Status, side);
        let cancelled = |side| {
            world
                .edits
                .iter()
                .any(|e| e.rec == order && e.side == side && e.value == "cancelled")
        };
        let (want, why) = if cancelled(Side::Shop) {
            ("cancelled", "the shop cancelled it")
        } else if cancelled(Side::Erp) {
            ("cancelled", "the ERP cancelled it")
        } else if let Some(e) = status(Side::Erp) {
            (e.value.as_str(), "the ERP's furthest status")
        } else {
            (world.start.shop(order, Field::Status), "as sent")
        };
        let now = s.shop(order, Field::Status);
        if now != want {
            fail(
                "1c rules",
                format!("ProductOrder ends {now:?} on both sides, not {want:?} ({why})"),
            );
        }
    }

    // 2. No edit lost unseen: an edit that did not survive was overtaken
    // by a later edit on the other side, or a conflict names its field.
    // 2r: the same, where a rule took the intervention's planning from
    // the shop (cancelled on either side).
    for rec in Rec::ALL {
        if !s.converged(rec) {
            // Reported above; what it ends as is unknown.
            continue;
        }
        for field in rec.fields() {
            let now = s.shop(rec, *field);
            let named = conflicts
                .iter()
                .any(|c| world.rec_of(c) == Some(rec) && listed(c).contains(&field.erp()));
            for (side, other) in [(Side::Shop, Side::Erp), (Side::Erp, Side::Shop)] {
                let Some(e) = world.last_edit(rec, *field, side) else {
                    continue;
                };
                if e.value == now {
                    continue;
                }
                let overtaken = world
                    .last_edit(rec, *field, other)
                    .is_some_and(|o| o.seq > e.seq);
                if overtaken || named {
                    continue;
                }
                let by_rule = rec == Rec::Intervention
                    && *field != Field::Status
                    && s.shop(rec, Field::Status) != "planned";
                fail(
                    if by_rule {
                        "2r rule, unrecorded"
                    } else {
                        "2 lost edit"
                    },
                    format!(
                        "{rec:?}.{}: the {side:?}'s edit #{} {:?} was lost without a conflict (both hold {now:?}{})",
                        field.erp(),
                        e.seq,
                        e.value,
                        if by_rule {
                            format!(", the intervention {}", s.shop(rec, Field::Status))
                        } else {
                            String::new()
                        }
                    ),
                );
            }
        }
    }

    // 2b. Every conflict is a real one and names its fields; a policy's
    // winner is the policy's side, and its value is what both sides keep
    // (unless a later edit moved on); a rule holds a record for staff
    // only where docs/sync.md says.
    for c in conflicts {
        let Some(rec) = world.rec_of(c) else {
            fail(
                "2b conflicts",
                format!(
                    "conflict {} on {} {}, not a record of the case",
                    c.id, c.entity, c.internal_id
                ),
            );
            continue;
        };
        let names = listed(c);
        if !matches!(c.kind.as_str(), "conflict" | "erp_overwritten") {
            fail(
                "2b conflicts",
                format!(
                    "conflict {} on {rec:?} (winner {:?}) is of kind {:?}, naming fields {names:?}: neither conflict nor erp_overwritten",
                    c.id, c.winner, c.kind
                ),
            );
            continue;
        }
        if names.is_empty() {
            fail(
                "2b conflicts",
                format!(
                    "conflict {} on {rec:?} (kind {:?}, winner {:?}) names no field",
                    c.id, c.kind, c.winner
                ),
            );
        }
        match c.kind.as_str() {
            "conflict" => {
                if rec.shop_owned() {
                    fail(
                        "2b conflicts",
                        format!(
                            "conflict {} on {rec:?}, which the shop owns: the ERP's edits of it are overwritten (kind erp_overwritten), never in conflict",
                            c.id
                        ),
                    );
                }
                for v in &c.values {
                    let field = field_of(rec, &v.field);
                    let (sv, ev) = match field {
                        Some(f) => (
                            world.shown(f, &plain(&v.shop)),
                            world.shown(f, &plain(&v.erp)),
                        ),
                        None => (plain(&v.shop), plain(&v.erp)),
                    };
                    if raised(c) {
                        // Held for staff by a rule: an order cancelled on
                        // one side after the other moved it on.
                        let moved_on = |v: &str| rank(v).is_some_and(|r| r >= 2);
                        let shipped = |v: &str| rank(v).is_some_and(|r| r >= 3);
                        let due = rec == Rec::ProductOrder
                            && field == Some(Field::Status)
                            && ((sv == "cancelled" && shipped(&ev))
                                || (ev == "cancelled" && moved_on(&sv)));
                        if !due {
                            fail(
                                "2b conflicts",
                                format!(
                                    "conflict {} holds {rec:?} for staff by the rule {:?} on {}: shop {sv:?}, ERP {ev:?}, where docs/sync.md raises nothing",
                                    c.id, c.rule, v.field
                                ),
                            );
                        }
                        continue;
                    }
                    let both = field.is_some_and(|f| {
                        world.edited(rec, f, Side::Shop) && world.edited(rec, f, Side::Erp)
                    });
                    // A rule may name an edit of one side it wrote over
                    // (docs/sync.md: a conflict decided by a rule is
                    // recorded).
                    if (!both && c.rule.is_empty()) || sv == ev {
                        fail(
                            "2b conflicts",
                            format!(
                                "false conflict {} on {rec:?}.{}: shop {sv:?}, ERP {ev:?} (edited on both sides: {both}; rule {:?})",
                                c.id, v.field, c.rule
                            ),
                        );
                    }
                }
                let wanted = match policy {
                    // A rule decides before the policy (its side is
                    // checked below, by the value kept).
                    _ if !c.rule.is_empty() => None,
                    Policy::ErpWins => Some("erp"),
                    Policy::ShopWins => Some("shop"),
                    Policy::Manual => None,
                };
                match wanted {
                    Some(w) if c.winner != w => fail(
                        "2b conflicts",
                        format!(
                            "conflict {} on {rec:?} under {policy:?} won by {:?}",
                            c.id, c.winner
                        ),
                    ),
                    None if c.rule.is_empty()
                        && !c.winner.is_empty()
                        && c.resolved_by.is_empty() =>
                    {
                        fail(
                            "2b conflicts",
                            format!(
                                "conflict {} on {rec:?} under manual settled by no one (winner {:?})",
                                c.id, c.winner
                            ),
                        )
                    }
                    _ => {}
                }
            }
            "erp_overwritten" => {
                if !rec.shop_owned() {
                    fail(
                        "2b conflicts",
                        format!(
                            "conflict {} overwrote the ERP's edit of {rec:?}, which both sides edit",
                            c.id
                        ),
                    );
                }
                for v in &c.values {
                    if !field_of(rec, &v.field).is_some_and(|f| world.edited(rec, f, Side::Erp)) {
                        fail(
                            "2b conflicts",
                            format!(
                                "conflict {} says the ERP edited {rec:?}.{}, it did not",
                                c.id, v.field
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    for rec in Rec::ALL.into_iter().filter(|r| s.converged(*r)) {
        for field in rec.fields() {
            // The newest settled conflict naming the field.
            let Some((c, v)) = conflicts
                .iter()
                .filter(|c| {
                    c.kind == "conflict" && !c.winner.is_empty() && world.rec_of(c) == Some(rec)
                })
                .filter_map(|c| {
                    c.values
                        .iter()
                        .find(|v| v.field == field.erp())
                        .map(|v| (c, v))
                })
                .max_by_key(|(c, _)| c.detected_at.as_ref().map(|t| (t.seconds, t.nanos)))
            else {
                continue;
            };
            let won = world.shown(
                *field,
                &plain(if c.winner == "erp" { &v.erp } else { &v.shop }),
            );
            let now = s.shop(rec, *field);
            let newest = world
                .edits
                .iter()
                .rfind(|e| e.rec == rec && e.field == *field)
                .map(|e| e.value.as_str());
            if now != won && Some(now) != newest {
                fail(
                    "2b conflicts",
                    format!(
                        "{rec:?}.{}: conflict {} won by the {} with {won:?}{}, both sides hold {now:?}",
                        field.erp(),
                        c.id,
                        c.winner,
                        if c.rule.is_empty() {
                            String::new()
                        } else {
                            format!(" (rule {:?})", c.rule)
                        }
                    ),
                );
            }
        }
    }

    // 2c. An order status changed on both sides is a conflict decided by
    // a rule: the shop could cancel only while the ERP's move had not
    // reached it, so an ERP move before the shop's cancellation met it
    // (unless the ERP cancelled as well).
    let cancel = world
        .edits
        .iter()
        .find(|e| e.rec == order && e.side == Side::Shop && e.value == "cancelled");
    if let Some(cancel) = cancel
        && let Some(moved) = world
            .edits
            .iter()
            .rfind(|e| e.rec == order && e.side == Side::Erp && e.seq < cancel.seq)
        // Cancelled there too, before or after: the two may have met on
        // the same value, no conflict.
        && !world
            .edits
            .iter()
            .any(|e| e.rec == order && e.side == Side::Erp && e.value == "cancelled")
        && !conflicts.iter().any(|c| {
            world.rec_of(c) == Some(order) && listed(c).contains(&"status") && !c.rule.is_empty()
        })
    {
        fail(
            "2c order conflict",
            format!(
                "the ERP moved the order to {:?} (edit #{}), the shop cancelled it before that reached it (edit #{}): no conflict with a rule recorded",
                moved.value, moved.seq, cancel.seq
            ),
        );
    }

    // 3. No record made twice, on either side.
    let mut made: BTreeMap<&str, Vec<relais_connector::adapter::ErpRecord>> = BTreeMap::new();
    for object in ["customer", "employee", "service", "order", "quote"] {
        made.insert(object, world.stack.erp_records(object).await);
    }
    for rec in Rec::ALL {
        let shop_id = &world.ids[&rec].shop;
        let same: Vec<&str> = made[rec.object()]
            .iter()
            .filter(|r| r.id == world.ids[&rec].erp || text(r, "shop_id") == shop_id)
            .map(|r| r.id.as_str())
            .collect();
        if same.len() != 1 {
            fail(
                "3 duplicates",
                format!("{rec:?} is {} ERP records: {same:?}", same.len()),
            );
        }
    }
    let counts: Vec<(&str, usize)> = made.iter().map(|(o, r)| (*o, r.len())).collect();
    let expected = vec![
        ("customer", 3),
        ("employee", 3),
        ("order", 1),
        ("quote", 1),
        ("service", 1),
    ];
    if counts != expected {
        fail(
            "3 duplicates",
            format!("the ERP holds {counts:?}, {expected:?} made"),
        );
    }
    let shop_customers = world
        .stack
        .orders
        .clone()
        .list_customers(world.stack.admin(ListCustomersRequest::default()))
        .await
        .map(|r| r.into_inner().customers.len())
        .unwrap_or_default();
    let shop_workers = world
        .stack
        .planning
        .clone()
        .list_workers(world.stack.admin(ListWorkersRequest::default()))
        .await
        .map(|r| r.into_inner().workers.len())
        .unwrap_or_default();
    let shop_interventions = world
        .stack
        .planning
        .clone()
        .list_interventions(world.stack.admin(ListInterventionsRequest {
            order_id: world.booking.clone(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().interventions.len())
        .unwrap_or_default();
    if (shop_customers, shop_workers, shop_interventions) != (3, 3, 1) {
        fail(
            "3 duplicates",
            format!(
                "the shop holds {shop_customers} customers (3 made), {shop_workers} workers (3 made) and {shop_interventions} interventions (1 booked)"
            ),
        );
    }

    // 4. No write that changed nothing: each side's version moved at most
    // once per edit or conflict, plus one of slack. An ERP that moves an
    // order on passes the shop through each status between (three at most).
    for rec in Rec::ALL {
        let mut ops: Vec<usize> = world
            .edits
            .iter()
            .filter(|e| e.rec == rec)
            .map(|e| e.op)
            .collect();
        ops.dedup();
        let edits = ops.len() as i64;
        let on_it = conflicts
            .iter()
            .filter(|c| world.rec_of(c) == Some(rec))
            .count() as i64;
        let steps = if rec == Rec::ProductOrder { 3 } else { 1 };
        for (side, start, now, per_edit) in [
            (Side::Shop, world.start.shop[&rec].1, s.shop[&rec].1, steps),
            (Side::Erp, world.start.erp[&rec].1, s.erp[&rec].1, 1),
        ] {
            let bound = start + edits * per_edit + on_it + 1;
            if now > bound {
                fail(
                    "4 extra writes",
                    format!(
                        "{rec:?} on the {side:?} side went from version {start} to {now} with {edits} edits and {on_it} conflicts (at most {bound})"
                    ),
                );
            }
        }
    }
    out
}

/// 5. Verify finds no drift.
async fn verify(world: &World) -> Vec<Violation> {
    let report = world
        .stack
        .connector
        .clone()
        .verify(world.stack.admin(VerifyRequest {
            connection_id: world.conn.clone(),
            repair: false,
        }))
        .await;
    let report = match report {
        Ok(r) => r.into_inner().report.unwrap_or_default(),
        Err(s) => {
            return vec![Violation {
                invariant: "5 verify",
                what: format!("Verify failed: {:?} {}", s.code(), s.message()),
            }];
        }
    };
    let drift = (
        report.differing,
        report.missing_in_erp,
        report.missing_in_shop,
        report.duplicates,
    );
    if drift == (0, 0, 0, 0) {
        return Vec::new();
    }
    vec![Violation {
        invariant: "5 verify",
        what: format!(
            "Verify: {} differing, {} missing in the ERP, {} missing in the shop, {} duplicates (of {} compared): {:?}",
            drift.0, drift.1, drift.2, drift.3, report.compared, report.drifts
        ),
    }]
}

/// Staff settle what is held (under manual, or raised by a rule); then
/// both sides agree, with the chosen side's values in the fields of the
/// conflict.
async fn settle_held(
    world: &mut World,
    case: &Case,
    s: &Snapshot,
    conflicts: &[Conflict],
    drain: Duration,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let chosen = if case.settle_for_shop {
        ConflictSide::Shop
    } else {
        ConflictSide::Erp
    };
    let mut expected: Vec<(Rec, Field, String, ConflictSide)> = Vec::new();
    let mut settled_any = false;
    for rec in Rec::ALL {
        for c in world.held(rec, conflicts) {
            settled_any = true;
            let mut side = chosen;
            let mut settled = resolve(world, &c.id, side).await;
            if settled
                .as_ref()
                .is_err_and(|e| e.code() == Code::FailedPrecondition)
            {
                // A choice the engine refuses (the ERP's version of a
                // record the shop owns, reported by 2b; a status the
                // shop cannot go back to): staff settle for the other
                // side, as the refusal says.
                world.log.push(format!(
                    "staff settle conflict {} on {rec:?} for the {side:?}: refused ({})",
                    c.id,
                    settled
                        .as_ref()
                        .err()
                        .map(|e| e.message())
                        .unwrap_or_default()
                ));
                side = if side == ConflictSide::Shop {
                    ConflictSide::Erp
                } else {
                    ConflictSide::Shop
                };
                settled = resolve(world, &c.id, side).await;
            }
            for name in listed(c) {
                if let Some(field) = field_of(rec, name) {
                    let v = if side == ConflictSide::Shop {
                        s.shop(rec, field)
                    } else {
                        s.erp(rec, field)
                    };
                    expected.push((rec, field, v.to_owned(), side));
                }
            }
            world.log.push(format!(
                "staff settle conflict {} on {rec:?} for the {side:?}: {}",
                c.id,
                match settled {
                    Ok(_) => "done".to_owned(),
                    Err(e) => format!("{:?} {}", e.code(), e.message()),
                }
            ));
        }
    }
    if !settled_any {
        return out;
    }
    world.drain(drain).await;
    let Ok(after) = world.snapshot().await else {
        return vec![Violation {
            invariant: "6 settled",
            what: "the records could not be read after staff settled".into(),
        }];
    };
    for rec in Rec::ALL {
        for field in rec.fields() {
            let (shop, erp) = (after.shop(rec, *field), after.erp(rec, *field));
            if shop != erp {
                out.push(Violation {
                    invariant: "6 settled",
                    what: format!(
                        "{rec:?}.{} after staff settled: shop {shop:?}, ERP {erp:?}",
                        field.erp()
                    ),
                });
            }
        }
    }
    for (rec, field, v, side) in expected {
        if after.shop(rec, field) != v {
            out.push(Violation {
                invariant: "6 settled",
                what: format!(
                    "{rec:?}.{}: staff chose the {side:?}'s {v:?}, the shop holds {:?}",
                    field.erp(),
                    after.shop(rec, field)
                ),
            });
        }
    }
    let open = world.stack.conflicts(&world.conn, true).await;
    if !open.is_empty() {
        out.push(Violation {
            invariant: "6 settled",
            what: format!(
                "{} conflicts still open after staff settled them",
                open.len()
            ),
        });
    }
    out
}

async fn resolve(world: &World, id: &str, winner: ConflictSide) -> Result<Conflict, tonic::Status> {
    let mut tries = 0;
    loop {
        let settled = world
            .stack
            .connector
            .clone()
            .resolve_conflict(world.stack.admin(ResolveConflictRequest {
                id: id.into(),
                winner: winner as i32,
            }))
            .await
            .map(|r| r.into_inner().conflict.unwrap_or_default());
        tries += 1;
        match settled {
            // "Retry later": staff would, a few times.
            Err(s) if s.code() == Code::Unavailable && tries < 4 => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one case on a stack of its own.
async fn run_case(case: &Case, totals: &RefCell<Totals>) -> Outcome {
    let drain = Duration::from_secs(env("RELAIS_MODEL_DRAIN_SECS", 30));
    let started = Instant::now();
    let mut world = match World::set_up(case.policy).await {
        Ok(w) => w,
        Err(e) => {
            return Outcome {
                violations: vec![Violation {
                    invariant: "0 set-up",
                    what: e,
                }],
                log: Vec::new(),
            };
        }
    };
    world
        .log
        .push(format!("set up in {} ms", started.elapsed().as_millis()));
    for (i, op) in case.ops.iter().enumerate() {
        let t = Instant::now();
        world.op = i;
        let said = match tokio::time::timeout(Duration::from_secs(90), world.apply(op)).await {
            Ok(said) => said,
            Err(_) => "no answer in 90 s".into(),
        };
        world.log.push(format!(
            "{i:>2}. {op:?} ({} ms) {said}",
            t.elapsed().as_millis()
        ));
    }
    // The end: no faults, pushes drained, ERP changes pulled (twice).
    world.stack.faults(json!({})).await;
    world.faults = None;
    let t = Instant::now();
    let replayed = world.drain(drain).await;
    for _ in 0..2 {
        world.pull_all().await;
    }
    // What the final pulls settled (a policy's write) reaches the other side.
    if !world.settled().await {
        world.drain(Duration::from_secs(5)).await;
    }
    world
        .log
        .push(format!("drained in {} ms", t.elapsed().as_millis()));
    let mut violations = Vec::new();
    let conflicts = world.conflicts().await;
    match world.snapshot().await {
        Ok(s) => {
            for rec in Rec::ALL {
                world.log.push(format!(
                    "end {rec:?}: shop v{} {:?} | ERP v{} {:?}",
                    s.shop[&rec].1, s.shop[&rec].0, s.erp[&rec].1, s.erp[&rec].0
                ));
            }
            for c in &conflicts {
                world.log.push(format!(
                    "conflict {} on {:?}: kind {:?}, winner {:?}, rule {:?}, fields {:?}",
                    c.id,
                    world.rec_of(c),
                    c.kind,
                    c.winner,
                    c.rule,
                    c.values
                        .iter()
                        .map(|v| format!(
                            "{} shop {} erp {} agreed {}",
                            v.field, v.shop, v.erp, v.agreed
                        ))
                        .collect::<Vec<_>>()
                ));
            }
            violations.extend(check(&world, &s, &conflicts).await);
            violations.extend(verify(&world).await);
            violations.extend(settle_held(&mut world, case, &s, &conflicts, drain).await);
        }
        Err(e) => violations.push(Violation {
            invariant: "0 read",
            what: format!("the records could not be read at the end: {e}"),
        }),
    }
    violations.sort_by_key(|v| v.invariant);
    // Invariants set aside (RELAIS_MODEL_IGNORE): said, not failed.
    let ignored = std::env::var("RELAIS_MODEL_IGNORE").unwrap_or_default();
    let ignored: Vec<&str> = ignored.split(',').map(str::trim).collect();
    let (set_aside, violations): (Vec<Violation>, Vec<Violation>) = violations
        .into_iter()
        .partition(|v| ignored.contains(&v.invariant.split(' ').next().unwrap_or_default()));
    for v in &set_aside {
        world
            .log
            .push(format!("ignored [{}] {}", v.invariant, v.what));
    }
    totals.borrow_mut().ignored += set_aside.len();
    world
        .log
        .push(format!("case took {} s", started.elapsed().as_secs()));
    {
        let mut t = totals.borrow_mut();
        t.cases += 1;
        t.edits += world.edits.len();
        t.faults += world.faults_set;
        t.restarts += world.restarts;
        t.conflicts += conflicts.len();
        t.dead_letters += replayed;
        for c in &conflicts {
            let what = format!(
                "{:?} {} {}",
                world.rec_of(c),
                c.kind,
                if c.rule.is_empty() {
                    "(policy)"
                } else {
                    &c.rule
                }
            );
            *t.seen.entry(what).or_default() += 1;
        }
    }
    Outcome {
        violations,
        log: std::mem::take(&mut world.log),
    }
}

/// Cheap shrinking: each run costs a stack and seconds, so instead of
/// proptest's one op at a time, drop halves, then quarters... of the ops,
/// keeping a smaller case when it still breaks the same invariant; at most
/// `budget` runs.
fn shrink(
    rt: &tokio::runtime::Runtime,
    totals: &RefCell<Totals>,
    mut best: Case,
    mut outcome: Outcome,
    budget: usize,
) -> (Case, Outcome) {
    let Some(target) = outcome.first() else {
        return (best, outcome);
    };
    let mut runs = 0;
    let mut chunk = best.ops.len().div_ceil(2);
    while chunk >= 1 && runs < budget {
        let mut at = 0;
        while at < best.ops.len() && runs < budget {
            let mut smaller = best.clone();
            smaller.ops.drain(at..(at + chunk).min(best.ops.len()));
            runs += 1;
            let tried = rt.block_on(run_case(&smaller, totals));
            eprintln!(
                "model: shrink run {runs}/{budget}: {} ops: {}",
                smaller.ops.len(),
                if tried.violations.iter().any(|v| v.invariant == target) {
                    "still fails, kept"
                } else {
                    "passes, dropped"
                }
            );
            if tried.violations.iter().any(|v| v.invariant == target) {
                best = smaller;
                outcome = tried;
            } else {
                at += chunk;
            }
        }
        chunk /= 2;
    }
    (best, outcome)
}

#[test]
fn sync_fidelity_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let totals = RefCell::new(Totals::default());
    let shrink_budget = env("RELAIS_MODEL_SHRINK", 8usize);
    let started = Instant::now();

    // Each failure: the smallest case found, what broke, and where it came from.
    let failures: Vec<(Case, Outcome, String)> = if let Ok(json) =
        std::env::var("RELAIS_MODEL_REPLAY")
    {
        let case: Case = serde_json::from_str(&json).expect("RELAIS_MODEL_REPLAY: a case as JSON");
        eprintln!("model: replaying\n{case}");
        let outcome = rt.block_on(run_case(&case, &totals));
        if outcome.violations.is_empty() {
            Vec::new()
        } else {
            vec![(case, outcome, "replayed".to_owned())]
        }
    } else {
        let seed: u64 = env("RELAIS_MODEL_SEED", rand::random::<u64>());
        let cases: u32 = env("RELAIS_MODEL_CASES", 4);
        let keep_going = std::env::var("RELAIS_MODEL_KEEP_GOING").is_ok_and(|v| v != "0");
        let policy = std::env::var("RELAIS_MODEL_POLICY")
            .ok()
            .and_then(|p| Policy::from_env(&p));
        eprintln!(
            "model: seed {seed} (RELAIS_MODEL_SEED={seed} generates the same cases), {cases} cases"
        );
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases,
                // Shrinking is ours (see shrink): proptest's would spend a
                // stack per dropped op.
                max_shrink_iters: 0,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        );
        let failed: RefCell<Vec<(Case, Outcome)>> = RefCell::new(Vec::new());
        let n = std::cell::Cell::new(0);
        let only = match std::env::var("RELAIS_MODEL_ONLY").as_deref() {
            Ok("customers") => Some(Family::Customers),
            Ok("workers") => Some(Family::Workers),
            Ok("planning" | "interventions") => Some(Family::Planning),
            Ok("orders") => Some(Family::Orders),
            _ => None,
        };
        let result = runner.run(&case(policy, only), |case| {
            n.set(n.get() + 1);
            eprintln!("model: case {} of {cases}: {case}", n.get());
            let t = Instant::now();
            // A case that panics leaves no outcome: said as such.
            let panicked = Outcome {
                violations: vec![Violation {
                    invariant: "0 panicked",
                    what: "the case panicked: see the panic above".into(),
                }],
                log: Vec::new(),
            };
            failed.borrow_mut().push((case.clone(), panicked));
            let outcome = rt.block_on(run_case(&case, &totals));
            eprintln!(
                "model: case {} {} in {} s",
                n.get(),
                match outcome.first() {
                    None => "passed".to_owned(),
                    Some(i) => format!("failed [{i}]"),
                },
                t.elapsed().as_secs()
            );
            let broke = !outcome.violations.is_empty();
            let mut all = failed.borrow_mut();
            if broke {
                eprintln!(
                    "model: case failed:\n{case}{}model: replay it with RELAIS_MODEL_REPLAY='{}'",
                    outcome.report(),
                    serde_json::to_string(&case).unwrap_or_default()
                );
                if let Some(last) = all.last_mut() {
                    last.1 = outcome;
                }
            } else {
                all.pop();
            }
            if broke && !keep_going {
                Err(TestCaseError::fail("an invariant broke"))
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) | Err(TestError::Fail(..)) => {}
            Err(e) => panic!("model: {e}"),
        }
        failed
            .into_inner()
            .into_iter()
            .map(|(case, outcome)| {
                let (case, outcome) = shrink(&rt, &totals, case, outcome, shrink_budget);
                (case, outcome, format!("seed {seed}"))
            })
            .collect()
    };

    let t = totals.borrow();
    eprintln!(
        "model: {} cases run in {} s, {} edits, {} faults set, {} restarts, {} conflicts seen, {} dead letters replayed, {} violations ignored, {} failed",
        t.cases,
        started.elapsed().as_secs(),
        t.edits,
        t.faults,
        t.restarts,
        t.conflicts,
        t.dead_letters,
        t.ignored,
        failures.len()
    );
    for (what, n) in &t.seen {
        eprintln!("model: {n:>4} conflicts on {what}");
    }
    if !failures.is_empty() {
        let mut report = String::new();
        for (case, outcome, origin) in &failures {
            report.push_str(&format!(
                "sync fidelity broken ({origin}); smallest case found:\n{case}{}\nreplay it with RELAIS_MODEL_REPLAY='{}'\n\n",
                outcome.report(),
                serde_json::to_string(case).unwrap_or_default()
            ));
        }
        panic!("{report}");
    }
}
