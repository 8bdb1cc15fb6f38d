//! The billing service through its public gRPC API, with the real orders
//! and catalogue services whose events it follows, against real Postgres
//! and NATS (`make test`).
#![allow(clippy::unwrap_used)]

mod access;
mod helpers;
mod invoices;
mod limits;
mod payments;
mod stack;
