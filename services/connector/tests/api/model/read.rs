//! Reading the world: each side's record of a case's records, a snapshot
//! of both, the conflicts and what they hold, the edits made; and
//! draining (pulling until both sides settle, replaying dead letters).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use relais_connector::adapter::ErpAdapter;
use relais_proto::{
    connector::{Conflict, ListDeadLettersRequest, ReplayDeadLetterRequest},
    orders::{GetCustomerRequest, GetOrderRequest, Order},
    planning::{GetWorkerRequest, Intervention, ListInterventionsRequest},
};

use super::{
    case::{Family, Field, Rec, Side},
    world::{
        Edit, Snapshot, Values, World, erp_values, err, instant, intervention_status, order_status,
    },
};
use crate::stack::text;

impl World {
    pub(super) async fn shop_intervention(&self) -> Result<Intervention, String> {
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

    pub(super) async fn shop_order(&self) -> Result<Order, String> {
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

    pub(super) async fn shop_side(&self, rec: Rec) -> Result<(Values, i64), String> {
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

    pub(super) async fn erp_side(&self, rec: Rec) -> Result<(Values, i64), String> {
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

    pub(super) async fn snapshot(&self) -> Result<Snapshot, String> {
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

    /// Open conflicts: what staff must settle; the record is held on both
    /// sides meanwhile (under manual, or under any policy when a rule
    /// raised it to staff).
    pub(super) fn held<'a>(&self, rec: Rec, conflicts: &'a [Conflict]) -> Vec<&'a Conflict> {
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

    pub(super) fn rec_of(&self, c: &Conflict) -> Option<Rec> {
        Rec::ALL.into_iter().find(|r| {
            r.entity() == c.entity
                && (self.ids[r].shop == c.internal_id || self.ids[r].erp == c.external_id)
        })
    }

    /// Every record converged, or held for staff.
    pub(super) async fn settled(&self) -> bool {
        let (Ok(s), conflicts) = (self.snapshot().await, self.conflicts().await) else {
            return false;
        };
        Rec::ALL
            .iter()
            .all(|r| s.converged(*r) || !self.held(*r, &conflicts).is_empty())
    }

    pub(super) async fn conflicts(&self) -> Vec<Conflict> {
        self.stack.conflicts(&self.conn, false).await
    }

    /// Runs each family's pull once.
    pub(super) async fn pull_all(&self) {
        for family in Family::ALL {
            let _ = self.stack.sync(&self.conn, family.name(), false).await;
        }
    }

    /// Pulls and waits (up to `within`) until both sides settle; dead
    /// letters are replayed, as staff would. Gives up sooner when nothing
    /// moved for a while (a stuck record would only spend the whole wait).
    /// The number replayed.
    pub(super) async fn drain(&mut self, within: Duration) -> usize {
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
                    // Every one the tests make.
                    page: Some(relais_proto::types::PageRequest {
                        page_size: 500,
                        ..Default::default()
                    }),
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

    pub(super) fn last_edit(&self, rec: Rec, field: Field, side: Side) -> Option<&Edit> {
        self.edits
            .iter()
            .rfind(|e| e.rec == rec && e.field == field && e.side == side)
    }

    pub(super) fn edited(&self, rec: Rec, field: Field, side: Side) -> bool {
        self.last_edit(rec, field, side).is_some()
    }
}
