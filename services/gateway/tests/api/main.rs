//! The gateway over real HTTP, in front of the real services (the
//! testkit's stack: Postgres, NATS, catalogue, orders, planning, billing),
//! asserting what an API client sees: statuses, JSON, problem details,
//! PDFs (`make test`; or `cargo test -p relais-gateway` after
//! `scripts/stack.sh up` and `. .local/env`).
#![allow(clippy::unwrap_used)]

mod support;

mod access_table;
mod accounts;
mod auth;
mod card;
mod connections;
mod cors;
mod interventions;
mod journey;
mod messaging;
mod office;
mod openapi;
mod orders;
mod residences;
mod unavailable;
mod visitor;
