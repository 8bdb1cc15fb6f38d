//! A page of ERP records applied to the shop, by what it holds: each
//! object goes to its family's pull (customers_pull.rs, catalogue_pull.rs…).

use relais_platform::error::Result;

use crate::{
    adapter::ErpRecord,
    connections::Connection,
    runs::{Failed, Run},
    shared::Shared,
    workers_pull::{self, Applied},
};

/// What a pull reads and how a page of it is applied.
#[derive(Clone, Copy)]
pub(crate) enum Object {
    Employees,
    Customers,
    OrderStates,
    Families,
    Articles,
    Invoices,
    Certificates,
    Interventions,
}

impl Object {
    pub(crate) fn erp_object(self) -> &'static str {
        match self {
            Object::Employees => "employee",
            Object::Customers => "customer",
            Object::OrderStates => "order",
            Object::Families => "family",
            Object::Articles => "article",
            Object::Invoices => "invoice",
            Object::Certificates => "taxcertificate",
            Object::Interventions => "service",
        }
    }

    /// Where its cursor is kept.
    pub(super) fn cursor(self) -> &'static str {
        match self {
            Object::Employees => "workers",
            Object::Customers => "customers",
            Object::OrderStates => "orders",
            Object::Families => "catalogue:family",
            Object::Articles => "catalogue:article",
            Object::Invoices => "invoices",
            Object::Certificates => "certificates",
            Object::Interventions => "planning",
        }
    }
}

/// Applies records of `object` (a page, or one parked record): counts
/// what was applied or skipped; what failed is returned with why, for the
/// caller to park or report.
pub(crate) async fn apply_records(
    shared: &Shared,
    c: &Connection,
    object: Object,
    records: &[ErpRecord],
    run: &mut Run,
) -> Result<Vec<Failed>> {
    let mut failed = Vec::new();
    let mut fail = |rec: &ErpRecord, why: String| {
        failed.push(Failed {
            id: rec.id.clone(),
            at: rec.updated_at,
            why,
        })
    };
    match object {
        Object::Employees => {
            for rec in records {
                match workers_pull::apply_employee(shared, c, rec, run).await {
                    Ok(Applied::Changed) => run.applied += 1,
                    Ok(Applied::Unchanged) => run.skipped += 1,
                    Err(e) => fail(rec, e.to_string()),
                }
                run.done += 1;
            }
        }
        Object::Customers | Object::OrderStates => {
            for rec in records {
                let applied = if matches!(object, Object::Customers) {
                    crate::customers_pull::apply(shared, c, rec).await
                } else {
                    crate::customers_pull::order_state(shared, c, rec).await
                };
                match applied {
                    Ok(true) => run.applied += 1,
                    Ok(false) => run.skipped += 1,
                    Err(e) => fail(rec, format!("{e:#}")),
                }
                run.done += 1;
            }
        }
        Object::Interventions => {
            for rec in records {
                match crate::planning_pull::apply(shared, c, rec).await {
                    Ok(crate::planning_pull::Outcome::Changed) => run.applied += 1,
                    Ok(crate::planning_pull::Outcome::Unchanged) => run.skipped += 1,
                    Err(e) => fail(rec, format!("{e:#}")),
                }
                run.done += 1;
            }
        }
        Object::Invoices | Object::Certificates => {
            for rec in records {
                match crate::document_imports::send(shared, c, object.erp_object(), rec).await {
                    Ok(crate::document_imports::Sent::Sent) => run.applied += 1,
                    Ok(crate::document_imports::Sent::Skipped) => run.skipped += 1,
                    Err(e) => fail(rec, format!("{e:#}")),
                }
                run.done += 1;
            }
        }
        Object::Families | Object::Articles => {
            return crate::catalogue_pull::apply_page(shared, c, object.erp_object(), records, run)
                .await;
        }
    }
    Ok(failed)
}
