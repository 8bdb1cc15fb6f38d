//! Applying one op of a case to the world, recording the edits it made.

use std::time::Duration;

use chrono::{DateTime, Utc};
use relais_proto::planning::{
    Cancel, InterventionStatus, Reassign, Reschedule, change_interventions_request::Change,
};
use serde_json::json;

use super::{
    case::{Field, Op, Rec, Side, Step, rank},
    world::{World, instant, timestamp},
};
use crate::stack::text;

impl World {
    pub(super) async fn apply(&mut self, op: &Op) -> String {
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
}
