//! The orders service through its public gRPC API, against real Postgres
//! and NATS (`make test`).
#![allow(clippy::unwrap_used)]

mod helpers;

mod bookings;
mod customers;
mod lifecycle;
mod payment_methods;
mod product_orders;
mod reports;
mod residences;
