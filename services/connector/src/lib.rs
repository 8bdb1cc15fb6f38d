//! The connector bridge (DESIGN §2, §5): the shop and the ERP kept in step.
//! This first part is the adapter side: one trait for every ERP, and its
//! implementation for the reference ERP. Connections, bindings, flows,
//! schedules and conflicts come next.

pub mod adapter;
pub mod reference_erp;
