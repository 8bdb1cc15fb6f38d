//! What every Relais service shares, written once: configuration, telemetry,
//! Postgres, the transactional outbox and its relay, inbox consumers with dead
//! letters, NATS stream provisioning, gRPC wiring with auth and one error
//! mapping, idempotency keys, the admin HTTP port and graceful shutdown.

pub mod access;
pub mod admin;
pub mod auth;
pub mod config;
pub mod consumer;
pub mod context;
pub mod db;
pub mod dead_letters;
pub mod error;
pub mod grpc;
pub mod http;
pub mod idempotency;
pub mod keys;
pub mod mail;
pub mod messaging;
pub mod migrations;
pub mod nats;
pub mod outbox;
pub mod retention;
pub mod retry;
pub mod rpc_metrics;
pub mod runtime;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod validate;
pub mod write;

pub use error::{Error, FieldViolation, Result};
