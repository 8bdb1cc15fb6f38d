//! The connector through its public gRPC API, with the real orders,
//! catalogue and planning services whose events it follows and the real
//! reference ERP over HTTP, against real Postgres and NATS (`make test`).
#![allow(clippy::unwrap_used)]

mod catalogue;
mod csv_exchange;
mod customers;
mod documents;
mod faults;
mod fidelity;
mod flows;
mod full;
mod isolation;
mod model;
mod orders;
mod planning;
mod reference_erp;
mod secrets;
mod stack;
mod tryton;
mod workers;
