//! What crosses billing's modules, on top of them: an invoice validated is
//! kept as a PDF, e-mailed and debited; a credit note is kept, refunded
//! and e-mailed; a payment's outcome marks its invoice; a paid order is
//! invoiced, held for its month or its booking, or credited when cancelled.
//! The modules below (invoices, payments, services, pdfs, customers) never
//! import this one, nor each other upwards: each does its own job here,
//! in the caller's transaction.

pub mod issue;
mod mail;
pub mod paid_orders;
pub mod settle;
