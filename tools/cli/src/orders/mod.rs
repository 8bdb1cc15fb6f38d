//! Order commands: place a product order, book a service, buy an hour pack,
//! move an order along its life cycle, and read orders back (list, CSV
//! export, statistics). Each call carries a token minted here for whoever
//! the command acts as: an admin by default, or a staff member, the
//! customer, or the ERP connector when asked.

mod book;
mod calls;
mod pack;
mod place;
mod report;
mod show;
mod status;

pub use book::{BookArgs, book};
pub use pack::{BuyPackArgs, buy_pack};
pub use place::{OrderArgs, place_order};
pub use report::{OrdersOp, report};
pub use status::{StatusArgs, change_status};
