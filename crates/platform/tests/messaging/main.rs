//! The outbox and inbox promises (docs/architecture.md §4), against real Postgres and a
//! real nats-server: what a subscriber sees, whatever fails on the way.
#![allow(clippy::unwrap_used)]

mod helpers;

mod cancelled;
mod consumer;
mod credentials;
mod database;
mod faults;
mod outbox;
