//! The orders service through its public gRPC API, against real Postgres
//! and NATS (`make test`).
#![allow(clippy::unwrap_used)]

mod helpers;

mod customers;
mod product_orders;
mod residences;
