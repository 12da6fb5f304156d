//! [`ReconnectPolicy`]: when the client dials again after its connection dropped.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delay before the first reconnect attempt: a server restart or a load balancer's failover
/// is usually over within a fraction of a second, so the first retry comes quickly.
pub const DEFAULT_RECONNECT_INITIAL_DELAY: Duration = Duration::from_millis(250);

/// Longest delay between two attempts: a long outage is still noticed within seconds of its
/// end, while a crowd of clients does not hammer a server that is down.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(10);

/// Growth of the delay per attempt: doubling reaches the cap in six attempts (about 16 s in
/// all), the usual exponential backoff.
pub const DEFAULT_RECONNECT_FACTOR: f64 = 2.0;

/// Fraction of each delay that is randomised: with 0.5 a delay lies between half and all of
/// its nominal value, which spreads the clients that one server restart disconnected at the
/// same instant, yet never retries sooner than half the nominal delay.
pub const DEFAULT_RECONNECT_JITTER: f64 = 0.5;

/// The shortest wait before any reconnect attempt, whatever the policy says: a policy with
/// no initial delay (or full jitter) against a server that refuses at once would otherwise
/// retry in a tight loop; 10 ms keeps that to a hundred attempts a second at most.
pub const MIN_RECONNECT_DELAY: Duration = Duration::from_millis(10);

/// Attempts in a row before the client gives up: none, it retries for as long as it lives
/// (a long-lived client should outlive any outage; calls made meanwhile are bounded by
/// [`DEFAULT_WAIT_FOR_CONNECTION`](super::DEFAULT_WAIT_FOR_CONNECTION) instead).
pub const DEFAULT_MAX_RECONNECT_ATTEMPTS: Option<u32> = None;

/// When to dial again after the connection dropped: exponential backoff with jitter, with an
/// optional bound on the attempts in a row.
///
/// The delay before attempt `n` (1 for the first retry) is `initial_delay * factor^(n-1)`,
/// capped at `max_delay`, then reduced by a random fraction of up to `jitter` of itself,
/// and never below [`MIN_RECONNECT_DELAY`]. A successful connection starts the count again
/// at 1.
///
/// ```
/// use std::time::Duration;
/// use swill::client::ReconnectPolicy;
///
/// let policy = ReconnectPolicy::default()
///     .initial_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(2))
///     .max_attempts(5);
/// assert_eq!(policy.nominal_delay(1), Duration::from_millis(100));
/// assert_eq!(policy.nominal_delay(3), Duration::from_millis(400));
/// assert_eq!(policy.nominal_delay(10), Duration::from_secs(2));
/// assert_eq!(policy.attempts(), Some(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct ReconnectPolicy {
    initial_delay: Duration,
    max_delay: Duration,
    factor: f64,
    jitter: f64,
    max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial_delay: DEFAULT_RECONNECT_INITIAL_DELAY,
            max_delay: DEFAULT_RECONNECT_MAX_DELAY,
            factor: DEFAULT_RECONNECT_FACTOR,
            jitter: DEFAULT_RECONNECT_JITTER,
            max_attempts: DEFAULT_MAX_RECONNECT_ATTEMPTS,
        }
    }
}

impl ReconnectPolicy {
    /// Delay before the first attempt (default [`DEFAULT_RECONNECT_INITIAL_DELAY`]).
    pub fn initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }

    /// Upper bound of any delay (default [`DEFAULT_RECONNECT_MAX_DELAY`]).
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Growth per attempt, at least 1 (default [`DEFAULT_RECONNECT_FACTOR`]).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Randomised fraction of each delay, from 0 (none) to 1 ("full jitter"); default
    /// [`DEFAULT_RECONNECT_JITTER`].
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Gives up after `n` failed attempts in a row (0: never retry). The client is then
    /// closed for good: every waiting call fails and
    /// [`Client::state`](super::Client::state) is
    /// [`Disconnected`](super::ConnectionState::Disconnected).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Retries for as long as the client lives (the default).
    pub fn unbounded(mut self) -> Self {
        self.max_attempts = None;
        self
    }

    /// The bound on attempts in a row, `None` when unbounded.
    pub fn attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The delay before attempt `attempt` (1-based) before jitter: the longest it can be.
    pub fn nominal_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(1_000);
        let grown = self.initial_delay.as_secs_f64() * self.factor.powi(exponent as i32);
        let capped = grown.min(self.max_delay.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_delay)
    }

    /// The delay before attempt `attempt`, with `random` in `[0, 1)` taking off up to
    /// `jitter` of it.
    pub(super) fn delay(&self, attempt: u32, random: f64) -> Duration {
        let nominal = self.nominal_delay(attempt);
        nominal
            .mul_f64(1.0 - self.jitter * random.clamp(0.0, 1.0))
            .max(MIN_RECONNECT_DELAY)
    }
}

/// A number in `[0, 1)` that differs between calls: std's randomly keyed hasher, so that no
/// dependency is needed for jitter (this needs spread, not cryptographic quality).
pub(super) fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    // 53 random bits make an exact f64 in [0, 1).
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let p = ReconnectPolicy::default()
            .initial_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(1000))
            .jitter(0.0);
        let got: Vec<u128> = (1..=6).map(|n| p.delay(n, 0.7).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.nominal_delay(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_takes_off_at_most_its_fraction() {
        let p = ReconnectPolicy::default().jitter(0.5);
        let nominal = p.nominal_delay(3);
        assert_eq!(p.delay(3, 0.0), nominal);
        assert_eq!(p.delay(3, 0.5), nominal.mul_f64(0.75));
        assert!(p.delay(3, 0.999_999) > nominal / 2 - Duration::from_millis(1));
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
            let d = p.delay(3, r);
            assert!(d <= nominal && d >= nominal / 2, "{d:?}");
        }
    }

    #[test]
    fn no_policy_retries_in_a_tight_loop() {
        let p = ReconnectPolicy::default()
            .initial_delay(Duration::ZERO)
            .jitter(1.0);
        assert_eq!(p.delay(1, 0.0), MIN_RECONNECT_DELAY);
        assert_eq!(p.delay(1, 0.999), MIN_RECONNECT_DELAY);
        let full = ReconnectPolicy::default().jitter(1.0);
        assert_eq!(full.delay(1, 0.999_999_9), MIN_RECONNECT_DELAY);
    }

    #[test]
    fn out_of_range_settings_are_clamped() {
        let p = ReconnectPolicy::default().factor(0.5).jitter(7.0);
        assert_eq!(p.nominal_delay(5), DEFAULT_RECONNECT_INITIAL_DELAY);
        assert_eq!(p.delay(1, 0.5), DEFAULT_RECONNECT_INITIAL_DELAY / 2);
        let p = ReconnectPolicy::default().factor(f64::NAN).jitter(f64::NAN);
        assert_eq!(p.delay(4, 0.9), DEFAULT_RECONNECT_INITIAL_DELAY);
        assert_eq!(ReconnectPolicy::default().attempts(), None);
        assert_eq!(
            ReconnectPolicy::default().max_attempts(3).unbounded(),
            ReconnectPolicy::default()
        );
    }
}
