//! Backoff between attempts, shared by everything that retries: the outbox
//! and mail relays, consumers, payments, provisioning.

use std::time::Duration;

/// Exponential backoff with full jitter, 100 ms up to 10 s.
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Self { attempt: 0 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = backoff_delay(
            self.attempt,
            Duration::from_millis(100),
            Duration::from_secs(10),
        );
        self.attempt = self.attempt.saturating_add(1);
        d
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// `base * 2^attempt`, capped, with jitter in [50 %, 100 %].
pub fn backoff_delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let max = exp.min(cap);
    let jitter = rand::random_range(0.5..=1.0);
    max.mul_f64(jitter)
}
