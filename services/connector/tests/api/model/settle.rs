//! Invariant 6: staff settle what is held at the end (under manual, or
//! raised by a rule), then both sides agree with the chosen side's values.

use std::time::Duration;

use relais_proto::connector::{Conflict, ConflictSide, ResolveConflictRequest};
use tonic::Code;

use super::{
    case::{Case, Field, Rec},
    check::{Violation, field_of, listed},
    world::{Snapshot, World},
};

/// Staff settle what is held (under manual, or raised by a rule); then
/// both sides agree, with the chosen side's values in the fields of the
/// conflict.
pub(super) async fn settle_held(
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

pub(super) async fn resolve(
    world: &World,
    id: &str,
    winner: ConflictSide,
) -> Result<Conflict, tonic::Status> {
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
