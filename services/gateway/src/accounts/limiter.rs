//! How often one client address may try to sign in (or ask for a reset):
//! a fixed window per address, in this gateway's memory. It slows a guesser
//! spraying many accounts from one address; the per-account lockout
//! (accounts/mod.rs) stops one account being guessed from many. Each
//! gateway replica counts on its own, so the real limit is the configured
//! one times the replicas: a bound, not an exact quota.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const WINDOW: Duration = Duration::from_secs(60);
/// Past this many addresses, expired windows are dropped, so a flood from
/// many addresses cannot grow the map without bound.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone)]
pub struct Limiter {
    per_minute: u32,
    windows: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
}

impl Limiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Arc::default(),
        }
    }

    /// Counts one attempt from `addr`; `Err(seconds)` to wait when over.
    pub fn attempt(&self, addr: IpAddr) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, count) = windows.entry(addr).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= self.per_minute {
            return Err(WINDOW
                .saturating_sub(now.duration_since(*start))
                .as_secs()
                .max(1));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_over_its_limit_waits_and_others_do_not() {
        let l = Limiter::new(3);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        for _ in 0..3 {
            assert!(l.attempt(a).is_ok());
        }
        assert!(l.attempt(a).is_err_and(|s| (1..=60).contains(&s)));
        assert!(l.attempt(b).is_ok());
        assert!(Limiter::new(0).attempt(a).is_ok());
    }
}
