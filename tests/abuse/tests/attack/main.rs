//! The attacker suite: every RPC of every service (enumerated from the
//! descriptor set, so a new RPC is attacked without a line here), called
//! with two tenants, every role and bad inputs, against the whole stack in
//! this process on real Postgres and NATS (`make test`).
//!
//! Tenant A creates one record of each kind through the APIs. Then:
//! 1. each role of tenant B calls every RPC with A's ids in every id-like
//!    field (B's tokens even claim A's customer, residence and connection):
//!    no answer to B may hold A's ids or strings, and A's data, read back
//!    through every Get/List/Find/Export RPC, must be as it was;
//! 2. A's admin calls every RPC with one bad value at a time in each field
//!    (control characters, 20,000 characters, far dates, extremes of every
//!    number, unknown enum values);
//! 3. every role of both tenants calls every RPC plainly, then with a body
//!    of random bytes that is not protobuf.
//!
//! On every call: no INTERNAL, UNKNOWN or broken connection, no panic, no
//! hang, an INVALID_ARGUMENT names its field, no message over 1 kB. All
//! violations are printed as one table before the test fails.
#![allow(clippy::unwrap_used)]

mod call;
mod check;
mod inputs;
mod stack;
mod world;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Value};
use rand::{Rng, SeedableRng, rngs::StdRng};
use relais_platform::auth::Role;

use crate::{
    call::Outcome,
    check::{Probe, Report, prefix},
    inputs::{A_MARKER, B_MARKER, Filler},
    world::{ROLES, Tenant, World},
};

/// The random bodies are the same on every run, so a failure reproduces.
const SEED: u64 = 0x5EED_AB05;
/// Where B's copy of A's ERP connection points: nothing listens there, so
/// B never reads, through the shared reference ERP, records A pushed to it.
const DEAD_ERP: &str = "http://127.0.0.1:9";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_resists_another_tenant_every_role_and_bad_inputs() {
    check::watch_panics();
    let started = Instant::now();
    let mut world = World::start().await;
    world.seed_tenant_a().await;
    let mut report = Report::new();
    for p in check::take_panics() {
        report.add("panic", &probe("(seeding)", "A admin", ""), "", p);
    }
    eprintln!(
        "abuse: stack up and tenant A seeded in {:?}; {} methods",
        started.elapsed(),
        world.methods.len()
    );

    let reads = read_requests(&world);
    let before = settled_snapshot(&world, &reads).await;
    let t = Instant::now();
    attack_from_b(&world, &mut report).await;
    compare(&before, &snapshot(&world, &reads).await, &mut report);
    eprintln!("abuse: tenant B done in {:?}", t.elapsed());

    let t = Instant::now();
    bad_inputs(&world, &mut report).await;
    eprintln!("abuse: bad inputs done in {:?}", t.elapsed());

    let t = Instant::now();
    every_role(&world, &mut report).await;
    eprintln!("abuse: every role done in {:?}", t.elapsed());

    // Consumers may still be working on what the calls published.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for p in check::take_panics() {
        report.add("panic", &probe("(background)", "", ""), "", p);
    }
    println!("{}", report.print());
    eprintln!("abuse: {} calls in {:?}", report.calls, started.elapsed());
    assert!(
        report.violations.is_empty(),
        "{} violations in {} calls (table above)",
        report.violations.len(),
        report.calls
    );
}

/// Calls `p.method` and checks its answer, including the refusals some
/// answers carry in-band (BulkUpsert's per-item `error` and `field`).
async fn checked(
    world: &World,
    report: &mut Report,
    p: &Probe,
    token: &str,
    body: Vec<u8>,
) -> Outcome {
    let out = world.raw(&p.method, token, body).await;
    report.check(p, &out);
    let output = world.method(&p.method).output();
    let (Some(error), Some(field)) = (
        output.get_field_by_name("error"),
        output.get_field_by_name("field"),
    ) else {
        return out;
    };
    for b in &out.bodies {
        let Ok(m) = DynamicMessage::decode(output.clone(), b.as_slice()) else {
            continue;
        };
        let text = |f| m.get_field(f).as_str().unwrap_or_default().to_owned();
        let (error, field) = (text(&error), text(&field));
        if error.starts_with("internal error") {
            report.add("internal", p, "OK, in-band", &error);
        } else if error.starts_with("invalid argument") && field.trim().is_empty() {
            report.add("no field", p, "OK, in-band", &error);
        }
        if error.len() > check::MAX_MESSAGE {
            report.add("long message", p, "OK, in-band", prefix(&error, 200));
        }
    }
    out
}

fn probe(method: &str, caller: &str, input: &str) -> Probe {
    Probe {
        method: method.to_owned(),
        caller: caller.to_owned(),
        input: input.to_owned(),
    }
}

fn filler(world: &World) -> Filler<'_> {
    Filler {
        ids: &world.ids,
        erp_base: &world.stack.erp_base,
        secret: stack::ERP_KEYS,
    }
}

/// The request A's seeding made for `path`, or one made from its
/// descriptor with A's ids in its id fields.
fn base(world: &World, path: &str) -> DynamicMessage {
    base_with(world, path, None).1
}

/// The request A's seeding made for `path` that sets `field`, if one did,
/// else its first; and the role that made it.
fn base_with(world: &World, path: &str, field: Option<&FieldDescriptor>) -> (Role, DynamicMessage) {
    let m = world.method(path);
    let decoded: Vec<(Role, DynamicMessage)> = world
        .templates
        .get(path)
        .into_iter()
        .flatten()
        .map(|(role, b)| {
            (
                *role,
                DynamicMessage::decode(m.input(), b.as_slice()).unwrap(),
            )
        })
        .collect();
    let setting = decoded
        .iter()
        .find(|(_, msg)| field.is_some_and(|f| msg.has_field(f)));
    match setting.or(decoded.first()) {
        Some(found) => found.clone(),
        None => (Role::Admin, filler(world).message(&m.input(), m.name(), 0)),
    }
}

/// A's request as B sends it: A's ids kept, A's strings made B's.
fn as_b(world: &World, mut msg: DynamicMessage) -> DynamicMessage {
    let erp = world.stack.erp_base.clone();
    inputs::map_strings(&mut msg, &|s| {
        s.replace(A_MARKER, B_MARKER)
            .replace("ALPHATENANT", "BETATENANT")
            .replace("Alphatenant", "Betatenant")
            .replace(&erp, DEAD_ERP)
    });
    msg
}

fn role_name(tenant: &Tenant, role: Role) -> String {
    let t = if tenant.name.starts_with('a') {
        "A"
    } else {
        "B"
    };
    format!("{t} {}", role.as_str())
}

/// Part 1: tenant B with A's ids.
async fn attack_from_b(world: &World, report: &mut Report) {
    // B's tokens claim A's customer, residence and connection: the tenant
    // of the token must win over them.
    let b = Tenant {
        customer: world.a.customer.clone(),
        residence: world.a.residence.clone(),
        connection: world.a.connection.clone(),
        ..world.b.clone()
    };
    let a_ids: BTreeSet<String> = world.ids.all().union(&world.a_uuids).cloned().collect();
    for path in world.methods.keys() {
        let msg = as_b(world, base(world, path));
        for role in ROLES {
            let who = role_name(&b, role);
            let p = probe(path, &who, "A's ids");
            attack(world, report, &p, &b.token(role), &msg, &a_ids).await;
        }
        // Every id A has, in each id field at the top of the request, in
        // case a field takes an id of another kind than its name says.
        let m = world.method(path);
        let admin = b.token(Role::Admin);
        for field in m.input().fields().filter(inputs::is_id_like) {
            for (kind, id) in &world.ids.by_kind {
                let mut sprayed = msg.clone();
                let v = Value::String(id.clone());
                sprayed.set_field(
                    &field,
                    if field.is_list() {
                        Value::List(vec![v])
                    } else {
                        v
                    },
                );
                let p = probe(path, "B admin", &format!("{}=A's {kind}", field.name()));
                attack(world, report, &p, &admin, &sprayed, &a_ids).await;
            }
        }
    }
}

async fn attack(
    world: &World,
    report: &mut Report,
    p: &Probe,
    token: &str,
    msg: &DynamicMessage,
    a_ids: &BTreeSet<String>,
) {
    let out = checked(world, report, p, token, msg.encode_to_vec()).await;
    let code = out
        .code()
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|| "OK".into());
    for leak in leaks(world, &p.method, msg, &out, a_ids) {
        report.add("cross-tenant", p, &code, leak);
    }
}

/// What of A's an answer to B holds: A's strings anywhere, A's ids in the
/// answer (but in an echoed correlation id, or in an `origin`, which is
/// `erp:<connection>` of B's own token claim: B's connector tokens here
/// claim A's connection, and that claim comes from B's token issuer, not
/// from A's data), or in an error message that B did not send them in.
fn leaks(
    world: &World,
    path: &str,
    sent: &DynamicMessage,
    out: &Outcome,
    a_ids: &BTreeSet<String>,
) -> Vec<String> {
    let m = world.method(path);
    let mut found = Vec::new();
    for body in &out.bodies {
        let mut fields = Vec::new();
        match DynamicMessage::decode(m.output(), body.as_slice()) {
            Ok(msg) => inputs::strings(&msg, "", &mut fields),
            Err(_) => fields.push((
                "(undecodable)".into(),
                String::from_utf8_lossy(body).into_owned(),
            )),
        }
        for (field, value) in fields {
            if value.to_lowercase().contains(A_MARKER) {
                found.push(format!("{field} = {}", prefix(&value, 80)));
            } else if !field.ends_with("correlation_id")
                && !field.ends_with("origin")
                && let Some(id) = a_ids.iter().find(|id| value.contains(id.as_str()))
            {
                found.push(format!("{field} holds A's {id}"));
            }
        }
    }
    if let Some(s) = &out.status {
        let mut sent_strings = Vec::new();
        inputs::strings(sent, "", &mut sent_strings);
        let msg = s.message();
        if msg.to_lowercase().contains(A_MARKER) {
            found.push(format!("message: {}", prefix(msg, 120)));
        } else if let Some(id) = a_ids.iter().find(|id| {
            msg.contains(id.as_str()) && !sent_strings.iter().any(|(_, v)| v.contains(id.as_str()))
        }) {
            found.push(format!(
                "message names A's {id} B never sent: {}",
                prefix(msg, 120)
            ));
        }
    }
    found
}

/// The reads of A's data: every Get/List/Find/Export RPC.
fn read_requests(world: &World) -> BTreeMap<String, Vec<u8>> {
    world
        .methods
        .iter()
        .filter(|(_, m)| {
            ["Get", "List", "Find", "Export"]
                .iter()
                .any(|p| m.name().starts_with(p))
        })
        .map(|(path, _)| (path.clone(), base(world, path).encode_to_vec()))
        .collect()
}

/// A's data as A's admin reads it: each read's answers, one line a field.
async fn snapshot(
    world: &World,
    reads: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<String>> {
    let admin = world.a.token(Role::Admin);
    let mut out = BTreeMap::new();
    for (path, body) in reads {
        let answer = world.raw(path, &admin, body.clone()).await;
        let output = world.method(path).output();
        let mut lines = Vec::new();
        match &answer.status {
            Some(s) => lines.push(format!("{:?}: {}", s.code(), s.message())),
            None => {
                for (i, b) in answer.bodies.iter().enumerate() {
                    match DynamicMessage::decode(output.clone(), b.as_slice()) {
                        Ok(m) => inputs::flatten(&m, &format!("#{i}"), &mut lines),
                        Err(e) => lines.push(format!("#{i} undecodable: {e}")),
                    }
                }
            }
        }
        out.insert(path.clone(), lines);
    }
    out
}

/// A snapshot once A's own background work (invoices drafted from events,
/// pushes to the ERP) has settled: two in a row alike.
async fn settled_snapshot(
    world: &World,
    reads: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<String>> {
    let mut last = snapshot(world, reads).await;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let next = snapshot(world, reads).await;
        if next == last {
            return next;
        }
        last = next;
    }
    panic!("tenant A's data never settled; it changes by itself");
}

/// Every read of A's whose answer changed, with the lines that did.
fn compare(
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
    report: &mut Report,
) {
    for (path, was) in before {
        let now = &after[path];
        if was == now {
            continue;
        }
        let gone: Vec<&str> = was
            .iter()
            .filter(|l| !now.contains(l))
            .map(String::as_str)
            .collect();
        let new: Vec<&str> = now
            .iter()
            .filter(|l| !was.contains(l))
            .map(String::as_str)
            .collect();
        report.add(
            "A changed",
            &probe(path, "A admin", "read after B's calls"),
            "",
            format!(
                "gone: {} | new: {}",
                prefix(&gone.join("; "), 200),
                prefix(&new.join("; "), 200)
            ),
        );
    }
}

/// Calls that change or remove what later calls need go last.
fn destructive(name: &str) -> bool {
    [
        "Delete",
        "Remove",
        "Replay",
        "Resolve",
        "Validate",
        "Change",
        "CreateCreditNote",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Part 2: one bad value at a time in each field, as the role of A that
/// made the method's template (its admin for most).
async fn bad_inputs(world: &World, report: &mut Report) {
    let fill = filler(world);
    let mut order: Vec<_> = world.methods.iter().collect();
    order.sort_by_key(|(path, m)| (destructive(m.name()), (*path).clone()));
    let mut n = 0u64;
    for (path, m) in order {
        for leaf in inputs::leaves(&m.input()) {
            let Some(last) = leaf.last() else { continue };
            let (role, base) = base_with(world, path, leaf.first());
            let (token, who) = (world.a.token(role), role_name(&world.a, role));
            let current = inputs::string_at(&base, &leaf);
            for (label, value) in inputs::bad_values(last, &current) {
                n += 1;
                let mut msg = base.clone();
                // A key or number seen before returns the first answer:
                // each variant gets its own, unless it is the one attacked.
                for (field, fresh) in [
                    ("idempotency_key", uuid::Uuid::now_v7().to_string()),
                    ("external_number", format!("ALPHATENANT-X{n}")),
                ] {
                    let attacked = leaf.len() == 1 && last.name() == field;
                    if let Some(f) = m.input().get_field_by_name(field)
                        && !attacked
                    {
                        msg.set_field(&f, Value::String(fresh));
                    }
                }
                inputs::set_at(&mut msg, &leaf, value, &fill, m.name());
                let p = probe(path, &who, &format!("{}={label}", inputs::label(&leaf)));
                checked(world, report, &p, &token, msg.encode_to_vec()).await;
            }
        }
    }
}

/// Part 3: every role of both tenants, a plain call (A's own requests, so
/// that reads and writes as each role run to their end), then random bytes.
async fn every_role(world: &World, report: &mut Report) {
    let mut rng = StdRng::seed_from_u64(SEED);
    for path in world.methods.keys() {
        let m = world.method(path);
        for tenant in [&world.a, &world.b] {
            let msg = if tenant.name == world.a.name {
                base(world, path)
            } else {
                as_b(world, base(world, path))
            };
            for role in ROLES {
                let token = tenant.token(role);
                let who = role_name(tenant, role);
                // B's plain calls were part 1.
                if tenant.name == world.a.name {
                    let p = probe(path, &who, "plain");
                    checked(world, report, &p, &token, msg.encode_to_vec()).await;
                }
                let body = garbage(&mut rng, &m.input());
                let p = probe(path, &who, &format!("random bytes {}", hex(&body)));
                checked(world, report, &p, &token, body).await;
            }
        }
    }
}

/// Up to 48 random bytes that do not decode as `desc`.
fn garbage(rng: &mut StdRng, desc: &prost_reflect::MessageDescriptor) -> Vec<u8> {
    loop {
        let len = rng.random_range(1..48);
        let body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if DynamicMessage::decode(desc.clone(), body.as_slice()).is_err() {
            return body;
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().take(8).map(|x| format!("{x:02x}")).collect()
}
