//! Connections: per tenant, one ERP (adapter, endpoint, secret reference),
//! which way each data family flows and when it is pulled, how order
//! statuses are sent, and who wins a conflict.
//!
//! `model.rs` holds a connection, `fields.rs` checks what an admin gives,
//! `store.rs` keeps connections in the database.

mod fields;
mod model;
mod store;

pub use fields::{Fields, parse};
pub use model::*;
pub use store::*;
