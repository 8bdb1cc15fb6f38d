//! Seeding the demo tenant in every service `relais dev` runs (idempotent).

pub mod accounts;
mod billing;
mod catalogue;
pub mod connector;
mod orders;
mod planning;

pub use billing::seed_billing;
pub use catalogue::seed;
pub use orders::seed_orders;
pub use planning::seed_planning;
