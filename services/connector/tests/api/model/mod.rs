//! Sync fidelity, model-based (docs/architecture.md §5): proptest generates sequences of
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
//!
//! Where it is: `case.rs` (what a case is made of, and the strategies
//! generating cases), `world.rs` (the stack and records a case runs on),
//! `read.rs`, `edit.rs` and `apply.rs` (reading both sides, editing them,
//! applying an op), `check/` (invariants 1 to 5), `settle.rs` (6); here,
//! the runner: one case run, shrinking a failure, and the test.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    time::{Duration, Instant},
};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::json;

use case::{Case, Family, Policy, Rec, case};
use check::{Violation, check, verify};
use settle::settle_held;
use world::World;

mod apply;
mod case;
mod check;
mod edit;
mod read;
mod settle;
mod world;

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
