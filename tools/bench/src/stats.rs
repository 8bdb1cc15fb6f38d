//! Throughput and latency figures, and how they are printed.

use std::time::Duration;

/// Latencies of every operation of one measurement, sorted.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    /// The `q` quantile (0..=1), nearest rank; zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q.clamp(0.0, 1.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.saturating_sub(1).min(self.0.len() - 1)]
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
}

/// One side of a comparison: `ops` operations in `elapsed`.
#[derive(Debug, Clone)]
pub struct Run {
    pub ops: u64,
    pub elapsed: Duration,
    pub latencies: Option<Latencies>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    /// "1,234 ops/s, p50 5.1 ms, p99 21.0 ms".
    pub fn describe(&self, unit: &str) -> String {
        let mut s = format!("{} {unit}/s", thousands(self.per_second()));
        if let Some(l) = &self.latencies {
            s.push_str(&format!(", p50 {}, p99 {}", ms(l.p50()), ms(l.p99())));
        }
        s
    }
}

/// The same measurement repeated; figures are the median round's.
#[derive(Debug, Clone, Default)]
pub struct Rounds(Vec<Run>);

impl Rounds {
    pub fn push(&mut self, run: Run) {
        self.0.push(run);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The round with the median throughput (the lower one of the middle
    /// two for an even count), or None before any round.
    pub fn median(&self) -> Option<&Run> {
        let mut by_rate: Vec<&Run> = self.0.iter().collect();
        by_rate.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
        by_rate.get(by_rate.len().saturating_sub(1) / 2).copied()
    }

    /// Slowest and fastest rounds, per second.
    pub fn range(&self) -> (f64, f64) {
        self.0
            .iter()
            .map(Run::per_second)
            .fold((f64::INFINITY, 0.0_f64), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            })
    }

    /// "median 2,017 ops/s, p50 …" plus the spread when there are rounds.
    pub fn describe(&self, unit: &str) -> String {
        let Some(m) = self.median() else {
            return "n/a".into();
        };
        let mut s = m.describe(unit);
        if self.len() > 1 {
            let (lo, hi) = self.range();
            s.push_str(&format!(" (rounds {}–{})", thousands(lo), thousands(hi)));
        }
        s
    }

    /// Median Relais / median raw.
    pub fn ratio_to(&self, raw: &Rounds) -> f64 {
        match (self.median(), raw.median()) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => 0.0,
        }
    }
}

/// `ours / raw`, or 0 when the baseline measured nothing.
pub fn ratio(ours: &Run, raw: &Run) -> f64 {
    let base = raw.per_second();
    if base > 0.0 {
        ours.per_second() / base
    } else {
        0.0
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Rounds to a whole number and groups thousands with commas.
pub fn thousands(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let l = Latencies::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(l.p50(), Duration::from_millis(50));
        assert_eq!(l.p99(), Duration::from_millis(99));
        assert_eq!(l.quantile(1.0), Duration::from_millis(100));
        assert_eq!(Latencies::default().p99(), Duration::ZERO);
    }

    #[test]
    fn median_round_by_throughput() {
        let run = |ops| Run {
            ops,
            elapsed: Duration::from_secs(1),
            latencies: None,
        };
        let mut r = Rounds::default();
        assert!(r.median().is_none());
        for ops in [30, 10, 20] {
            r.push(run(ops));
        }
        assert_eq!(r.median().map(|m| m.ops), Some(20));
        assert_eq!(r.range(), (10.0, 30.0));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
