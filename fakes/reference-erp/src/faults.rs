//! Faults a test injects (`/_faults`), and drawing whether one strikes.

use serde::{Deserialize, Serialize};

/// Faults to inject, set over `POST /_faults`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Every call answers 503.
    pub down: bool,
    /// Share of calls (0..1) answering 500 KO before doing anything.
    pub error_rate: f64,
    /// Every answer waits this long.
    pub delay_ms: u64,
    /// Share of writes that commit, then answer only after `lost_answer_ms`
    /// (clients time out: the write happened, the answer is lost).
    pub lost_answer_rate: f64,
    pub lost_answer_ms: u64,
    /// Share of records a search page delivers twice.
    pub duplicate_rate: f64,
}

pub(crate) fn chance(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}
