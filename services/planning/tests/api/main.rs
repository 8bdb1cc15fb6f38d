//! The planning service through its public gRPC API, with the real orders
//! and catalogue services whose events it follows, against real Postgres
//! and NATS (`make test`).
#![allow(clippy::unwrap_used)]

mod helpers;

mod bookings;
mod changes;
mod exports;
mod ledger;
mod workers;
