//! Admission of one forwarded request against every bucket that applies to it
//! (SPEC §4): all or nothing, from leased budget, waiting at most `DP_QUOTA_WAIT_MS` for
//! the control plane when a bucket runs dry.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use policy_engine::Window;

use super::bucket::{Bucket, Take};
use super::settle::{QuotaGuard, Taken};
use super::{Demand, Limit, Metric, Quotas};

/// Why a request was not admitted; the 429 says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub limit: Limit,
    pub reason: RejectionReason,
    /// The limit's value and window, for the message.
    pub max: u64,
    pub window: Window,
    /// Seconds for `Retry-After`.
    pub retry_after: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionReason {
    /// The window's budget is used up (by reported usage and this node's own
    /// reservations): nothing frees before the window resets.
    Exhausted,
    /// Budget is left but other nodes hold it in their leases; it comes back when they
    /// give it back or their leases expire.
    HeldElsewhere,
    /// The control plane cannot be reached and this node's offline allowance is used up.
    Unreachable,
}

impl Rejection {
    /// Exhausted windows do not reopen before `Retry-After`: SDKs should not retry.
    pub fn final_for_window(&self) -> bool {
        self.reason == RejectionReason::Exhausted
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Quotas {
    /// Admits a request that reserves `tokens` against `demands`, or says why not. The
    /// returned guard must be settled (or it returns everything when dropped).
    pub async fn admit(&self, demands: &[Demand], tokens: u64) -> Result<QuotaGuard, Rejection> {
        if demands.is_empty() {
            return Ok(QuotaGuard::default());
        }
        let buckets: Vec<Arc<Bucket>> = demands.iter().map(|d| self.bucket(d)).collect();
        let need = |bucket: &Bucket| match bucket.metric() {
            Metric::Requests => 1,
            Metric::Tokens => tokens.max(1),
        };
        let deadline = Instant::now() + self.settings.wait;
        // Answers already waited for, per bucket index: a second shortfall after a fresh
        // answer that had nothing more to give is final.
        let mut waited: Option<(usize, u64)> = None;
        loop {
            let now = Instant::now();
            let mut taken: Vec<Taken> = Vec::with_capacity(buckets.len());
            let mut short = None;
            let down = self.is_down();
            for (i, (bucket, demand)) in buckets.iter().zip(demands).enumerate() {
                let (take, refresh) =
                    bucket.take(demand.max, need(bucket), down, &self.settings, now);
                if refresh && !self.send_ask(bucket.clone()) {
                    bucket.ask_dropped();
                }
                match take {
                    Take::Taken { amount, epoch } => taken.push(Taken {
                        bucket: bucket.clone(),
                        amount,
                        epoch,
                    }),
                    Take::Short => {
                        short = Some(i);
                        break;
                    }
                }
            }
            let Some(i) = short else {
                return Ok(QuotaGuard::new(taken));
            };
            for t in taken {
                t.bucket.give_back(t.amount, t.epoch);
            }
            let bucket = &buckets[i];
            let demand = &demands[i];

            let (unreachable, exhausted, more_possible, answers) = {
                let state = bucket.lock();
                let leased = state.expires_at.is_some_and(|end| now < end);
                let exhausted = leased
                    && state.status.is_some_and(|s| {
                        s.limit == state.limit && s.used.saturating_add(s.held) >= s.limit
                    });
                (
                    self.is_down() || state.unreachable,
                    exhausted,
                    state.more_possible,
                    state.answers,
                )
            };
            if unreachable {
                // Ask anyway, so the next request finds the control plane again.
                self.ask(bucket, need(bucket));
                return Err(self.reject(bucket, demand, RejectionReason::Unreachable));
            }
            if exhausted {
                return Err(self.reject(bucket, demand, RejectionReason::Exhausted));
            }
            if waited.is_some_and(|(at, seen)| at == i && seen < answers) && !more_possible {
                return Err(self.reject(bucket, demand, self.verdict(bucket)));
            }
            if now >= deadline {
                return Err(self.reject(bucket, demand, RejectionReason::HeldElsewhere));
            }

            let notified = bucket.answered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let answers = bucket.lock().answers;
            self.ask(bucket, need(bucket));
            waited = Some((i, answers));
            let answered = tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_ok()
                || {
                    // A wake-up may have raced the registration: the count tells.
                    bucket.lock().answers > answers
                };
            if !answered {
                // No answer in time: the control plane counts as unreachable for this
                // bucket until it answers (the allowance applies meanwhile).
                bucket.lock().unreachable = true;
            }
        }
    }

    /// Queues a lease request for `bucket` unless one is already under way.
    fn ask(&self, bucket: &Arc<Bucket>, need: u64) {
        if bucket.ask(need) && !self.send_ask(bucket.clone()) {
            bucket.ask_dropped();
        }
    }

    /// Exhausted or held by others, from the control plane's last answer.
    fn verdict(&self, bucket: &Bucket) -> RejectionReason {
        let state = bucket.lock();
        match state.status {
            Some(s) if s.used.saturating_add(s.held) >= s.limit => RejectionReason::Exhausted,
            Some(_) | None => RejectionReason::HeldElsewhere,
        }
    }

    fn reject(&self, bucket: &Bucket, demand: &Demand, reason: RejectionReason) -> Rejection {
        let window = bucket.key.window;
        let retry_after = match reason {
            RejectionReason::Exhausted => window.seconds_until_reset(unix_now()).unwrap_or(1),
            RejectionReason::HeldElsewhere | RejectionReason::Unreachable => 1,
        };
        Rejection {
            limit: bucket.key.limit,
            reason,
            max: demand.max,
            window,
            retry_after,
        }
    }
}
