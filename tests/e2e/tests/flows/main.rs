//! End-to-end tests of Relais: each seed flow through the whole stack the
//! testkit starts in this process (catalogue, orders, planning, billing,
//! the reference ERP and the connector, as the flow needs), on real
//! Postgres and NATS, asserting what a user or a subscriber sees. Each
//! service's own rules are tested in its own test binary.
//!
//! Run with `cargo test -p relais-e2e` (after `scripts/stack.sh up` and
//! `. .local/env`, as for `make test`).
#![allow(clippy::unwrap_used)]

mod support;

mod booking_to_erp;
mod dead_letters;
mod erp_catalogue;
mod erp_workers;
mod hour_packs;
mod invoice_payment_mail;
mod order_status_from_erp;
mod resident_monthly_invoice;
mod tax_certificate;
mod trace_tree;
