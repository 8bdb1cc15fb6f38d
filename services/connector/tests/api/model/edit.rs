//! Editing either side, as staff or the ERP's users would: the model
//! records each edit; each edit says whether it changed anything.

use chrono::{DateTime, Utc};
use relais_connector::adapter::ErpAdapter;
use relais_proto::{
    orders::{ChangeOrderStatusRequest, GetCustomerRequest, OrderStatus, UpdateCustomerRequest},
    planning::{
        ChangeInterventionsRequest, ChangeScope, GetWorkerRequest, Intervention,
        UpdateWorkerRequest, change_interventions_request::Change,
    },
};
use serde_json::{Value, json};
use tonic::Code;

use super::{
    case::{Field, Rec, Side},
    world::{Edit, World, err},
};
use crate::stack::{fields, text};

impl World {
    pub(super) fn record(
        &mut self,
        side: Side,
        rec: Rec,
        field: Field,
        value: &str,
        began: DateTime<Utc>,
    ) {
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
    pub(super) async fn shop_edit(
        &self,
        rec: Rec,
        field: Field,
        value: &str,
    ) -> Result<bool, String> {
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
    pub(super) async fn shop_change(
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
    pub(super) async fn shop_cancel_order(&self) -> Result<bool, String> {
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
    pub(super) async fn erp_write(
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
    pub(super) async fn erp_edit(
        &self,
        rec: Rec,
        field: Field,
        value: &str,
    ) -> Result<bool, String> {
        self.erp_write(rec, |current| {
            Ok((text(current, field.erp()) != value).then(|| json!({ field.erp(): value })))
        })
        .await
    }

    /// Someone changes the intervention in the ERP; an intervention
    /// closed there is not changed any more.
    pub(super) async fn erp_visit(
        &self,
        change: impl Fn(&Self, &relais_connector::adapter::ErpRecord) -> Option<Value>,
    ) -> Result<bool, String> {
        self.erp_write(Rec::Intervention, |current| match text(current, "status") {
            "planned" => Ok(change(self, current)),
            other => Err(format!("the ERP's intervention is {other}")),
        })
        .await
    }
}
