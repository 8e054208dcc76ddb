//! Jittered exponential backoff for reconnecting to Postgres (LESSONS "Control plane ↔
//! data plane": a listener that gives up on the first error is a known failure of other
//! control planes).

use std::time::Duration;

/// Delays grow `initial`, `2 × initial`, ... up to `max`; each is drawn from the upper half
/// of its step ("equal jitter"), so replicas that lost Postgres together do not reconnect
/// in lockstep, and no delay collapses to zero.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let jitter_range = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_micros(random_u64() % jitter_range)
    }

    /// Called after a success: the next failure starts from `initial` again.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

fn random_u64() -> u64 {
    // Jitter needs no cryptographic quality; without OS randomness the delay is just the
    // lower bound of its step.
    getrandom::u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_within_the_step_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let bounds = [100, 200, 400, 800, 1600, 2000, 2000];
        for upper in bounds {
            let delay = backoff.next_delay();
            let upper = Duration::from_millis(upper);
            assert!(
                delay >= upper / 2 && delay <= upper,
                "{delay:?} outside {upper:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
