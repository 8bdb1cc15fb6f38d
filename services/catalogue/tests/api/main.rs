#![allow(clippy::unwrap_used)]

//! The catalogue service through its public gRPC API, against real Postgres
//! and NATS (`make test`).

mod helpers;

mod admin;
mod auth;
mod bulk;
mod categories;
mod idempotency;
mod packs;
mod prices;
mod products;
mod support;
mod wiring;
