//! How the controller's watches and the leader-election Lease retry while the API server is
//! unreachable: short, jittered, capped delays, so that work resumes within a couple of seconds
//! of the API server coming back (DESIGN §10: within 5 s of `/readyz`).
//!
//! kube's default watcher backoff (client-go's: 0.8 s doubling to 30 s, reset only after 120 s
//! without errors) and the lease manager's (1 s doubling to 30 s) leave a controller blind for up
//! to half a minute after an API-server restart, which control-plane upgrades do routinely. The
//! load a few replicas add by retrying every ≤ 2 s is negligible for an API server; the jitter
//! keeps them from retrying in lockstep.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use kube::runtime::utils::Backoff;

/// Retry delays: `initial` doubling per failed attempt up to `max`, each multiplied by a
/// jitter factor in `[1 - jitter, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failure (before jitter).
    pub initial: Duration,
    /// Longest delay: the worst-case wait between the API server answering and the next try.
    pub max: Duration,
    /// Fraction of a delay that jitter may take off (0 = none, 0.5 = up to half).
    pub jitter: f64,
}

/// The policy of every watch and of the Lease.
pub const API_RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(250),
    max: Duration::from_secs(2),
    jitter: 0.5,
};

impl RetryPolicy {
    /// The delay before retry `attempt` (0 for the first retry), given a jitter sample in
    /// `[0, 1]` (0 keeps the full delay, 1 takes off the most jitter allows).
    pub fn delay(&self, attempt: u32, sample: f64) -> Duration {
        let doubled = self
            .initial
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        let base = doubled.min(self.max);
        base.mul_f64(1.0 - self.jitter.clamp(0.0, 1.0) * sample.clamp(0.0, 1.0))
    }
}

/// A [`RetryPolicy`] as a stateful backoff: kube's watcher `Backoff`, and the lease loop's.
#[derive(Debug)]
pub struct Retry {
    policy: RetryPolicy,
    attempt: u32,
    /// Per-process random keys: jitter without a random-number dependency.
    seed: RandomState,
}

impl Retry {
    /// Starts at the first delay.
    pub fn new(policy: RetryPolicy) -> Self {
        Retry {
            policy,
            attempt: 0,
            seed: RandomState::new(),
        }
    }

    fn sample(&self) -> f64 {
        let mut h = self.seed.build_hasher();
        h.write_u32(self.attempt);
        (h.finish() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Iterator for Retry {
    type Item = Duration;

    /// Never ends: the API server is retried for as long as it is unreachable.
    fn next(&mut self) -> Option<Duration> {
        let delay = self.policy.delay(self.attempt, self.sample());
        self.attempt = self.attempt.saturating_add(1);
        Some(delay)
    }
}

impl Backoff for Retry {
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The backoff of every controller watch.
pub fn watch_backoff() -> Retry {
    Retry::new(API_RETRY)
}

/// The controller's backoff over its trigger streams, which already back off one by one
/// ([`watch_backoff`]): errors pass through without a further wait.
pub fn no_second_backoff() -> Retry {
    Retry::new(RetryPolicy {
        initial: Duration::ZERO,
        max: Duration::ZERO,
        jitter: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_to_a_two_second_cap() {
        let full: Vec<_> = (0..8).map(|a| API_RETRY.delay(a, 0.0)).collect();
        assert_eq!(
            full,
            [
                ms(250),
                ms(500),
                ms(1000),
                ms(2000),
                ms(2000),
                ms(2000),
                ms(2000),
                ms(2000)
            ]
        );
        let most_jitter: Vec<_> = (0..5).map(|a| API_RETRY.delay(a, 1.0)).collect();
        assert_eq!(most_jitter, [ms(125), ms(250), ms(500), ms(1000), ms(1000)]);
        assert_eq!(API_RETRY.delay(u32::MAX, 0.0), ms(2000), "no overflow");
    }

    #[test]
    fn an_outage_of_any_length_is_noticed_within_the_cap() {
        // However long the API server was down, the wait between its return and the next try
        // is at most the longest delay: 2 s, well inside the 5 s recovery target.
        let mut retry = watch_backoff();
        let delays: Vec<Duration> = (&mut retry).take(1000).collect();
        assert!(delays.iter().all(|d| *d <= API_RETRY.max && *d >= ms(125)));
        assert!(
            delays.iter().skip(4).any(|d| *d != API_RETRY.max),
            "jittered, so replicas do not retry in lockstep"
        );
        retry.reset();
        assert!(retry.next().unwrap() <= ms(250), "a success starts over");
        assert!(no_second_backoff().take(10).all(|d| d.is_zero()));
    }
}
