//! One quota counter's local state and its arithmetic.
//!
//! `available` is budget the control plane has leased to this node and nothing has taken
//! yet. Takes and returns happen under a mutex held for a few arithmetic operations; the
//! lease task writes the control plane's answers through the same mutex and wakes the
//! requests waiting for one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use policy_proto::v1 as pb;
use tokio::sync::Notify;

use super::{BucketKey, Metric, Settings};

#[derive(Debug)]
pub struct Bucket {
    pub key: BucketKey,
    /// The key as the wire names it, built once (charges and demands carry copies).
    pub proto: pb::QuotaBucket,
    /// End of the window (Unix seconds); the bucket is dropped after it.
    pub window_end: i64,
    state: Mutex<State>,
    /// Notified after every answer (or failure) concerning this bucket.
    pub(super) answered: Notify,
}

/// What the control plane last said about a bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status {
    pub used: u64,
    pub held: u64,
    pub held_by_others: u64,
    pub limit: u64,
}

#[derive(Debug)]
pub(super) struct State {
    /// The limit of the snapshot that last admitted against this bucket.
    pub limit: u64,
    pub available: u64,
    /// Use beyond reservations that `available` could not absorb (an upstream that
    /// ignored `max_tokens`). The control plane learns of it only when the charge arrives,
    /// so the next grants of the same lease pay it off before anything is spent from them.
    pub debt: u64,
    /// The lease's epoch; 0 before the first grant.
    pub epoch: u64,
    /// Local end of the lease (answer's TTL from when the request was sent, minus a
    /// margin); `None` without a lease.
    pub expires_at: Option<Instant>,
    pub ttl: Duration,
    /// Size of the last grant that gave something.
    pub last_grant: u64,
    /// The last answer granted everything asked and left budget free: asking again may
    /// give more. When false, token reservations are clamped to what is left.
    pub more_possible: bool,
    pub status: Option<Status>,
    /// A lease request for this bucket is queued or awaiting its answer.
    pub in_flight: bool,
    /// Budget waiting requests need, asked for with the next lease request.
    pub pending_want: u64,
    /// Give the available budget back with the next lease request (idle bucket).
    pub give_back: bool,
    /// The last attempt to reach the control plane for this bucket failed.
    pub unreachable: bool,
    /// Answers (and failures) so far, so a waiter can tell a new one from an old one.
    pub answers: u64,
    pub last_activity: Instant,
    /// Admitted beyond leases while the control plane was unreachable.
    pub offline_used: u64,
}

/// The outcome of one take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// `amount` taken from the lease of `epoch` (0: from the offline allowance).
    Taken { amount: u64, epoch: u64 },
    /// Not enough budget.
    Short,
}

/// Expiry margin: a node stops spending a lease this long before the control plane
/// reclaims it, so charges in flight still find it (at most a quarter of the TTL).
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// Longer leases than this are taken as this long (a bogus answer cannot make a lease
/// outlive the node's reason to trust it).
const MAX_TTL: Duration = Duration::from_secs(3600);

impl Bucket {
    pub fn new(key: BucketKey, window_end: i64) -> Bucket {
        Bucket {
            proto: key.to_proto(),
            key,
            window_end,
            state: Mutex::new(State {
                limit: 0,
                available: 0,
                debt: 0,
                epoch: 0,
                expires_at: None,
                ttl: Duration::ZERO,
                last_grant: 0,
                more_possible: true,
                status: None,
                in_flight: false,
                pending_want: 0,
                give_back: false,
                unreachable: false,
                answers: 0,
                last_activity: Instant::now(),
                offline_used: 0,
            }),
            answered: Notify::new(),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn metric(&self) -> Metric {
        self.key.limit.metric()
    }

    /// Takes `need` (tokens: at least 1, clamped to what is left when the control plane
    /// has no more to give) from the lease, or from the offline allowance when the
    /// control plane is unreachable (the lease stream is `down`, or the last attempt for
    /// this bucket failed). Returns the take and whether the lease wants a proactive
    /// refresh.
    pub(super) fn take(
        &self,
        limit: u64,
        need: u64,
        down: bool,
        settings: &Settings,
        now: Instant,
    ) -> (Take, bool) {
        let clamp = self.metric() == Metric::Tokens;
        let mut state = self.lock();
        let offline = down || state.unreachable;
        state.limit = limit;
        state.last_activity = now;
        state.give_back = false;
        let leased = state.expires_at.is_some_and(|end| now < end);
        if leased {
            let amount = if state.available >= need {
                Some(need)
            } else if clamp && state.available >= 1 && !state.more_possible {
                Some(state.available)
            } else {
                None
            };
            if let Some(amount) = amount {
                state.available -= amount;
                let epoch = state.epoch;
                let refresh = state.wants_refresh(now);
                if refresh {
                    state.in_flight = true;
                }
                return (Take::Taken { amount, epoch }, refresh);
            }
        }
        if offline {
            let left = settings
                .allowance(self.metric())
                .saturating_sub(state.offline_used);
            let amount = if left >= need {
                Some(need)
            } else if clamp && left >= 1 {
                Some(left)
            } else {
                None
            };
            if let Some(amount) = amount {
                state.offline_used += amount;
                return (Take::Taken { amount, epoch: 0 }, false);
            }
        }
        (Take::Short, false)
    }

    /// Returns `amount` taken under `epoch`; budget of a replaced epoch is not the new
    /// lease's, so it is dropped.
    pub(super) fn give_back(&self, amount: u64, epoch: u64) {
        let mut state = self.lock();
        if epoch == 0 {
            state.offline_used = state.offline_used.saturating_sub(amount);
        } else if epoch == state.epoch {
            state.credit(amount);
        }
    }

    /// Consumption beyond a reservation: the control plane takes it out of this node's
    /// held budget when the charge arrives, so the node takes it out of what it spends.
    pub(super) fn overspent(&self, amount: u64, epoch: u64) {
        let mut state = self.lock();
        if epoch == 0 {
            state.offline_used = state.offline_used.saturating_add(amount);
        } else if epoch == state.epoch {
            let absorbed = amount.min(state.available);
            state.available -= absorbed;
            state.debt = state.debt.saturating_add(amount - absorbed);
        }
    }

    /// Asks for `need` more with the next lease request. True when the caller must hand
    /// the bucket to the lease task (nothing was in flight).
    pub(super) fn ask(&self, need: u64) -> bool {
        let mut state = self.lock();
        state.pending_want = state.pending_want.saturating_add(need);
        if state.in_flight {
            false
        } else {
            state.in_flight = true;
            true
        }
    }

    /// Undoes [`Bucket::ask`]'s claim when the ask could not be queued.
    pub(super) fn ask_dropped(&self) {
        let mut state = self.lock();
        state.in_flight = false;
        state.unreachable = true;
    }

    /// The demand for the next lease request, consuming the pending want (and, for an
    /// idle bucket, the budget it gives back).
    pub(super) fn demand(&self, settings: &Settings) -> pb::LeaseDemand {
        let mut state = self.lock();
        let chunk = settings.chunk(state.limit);
        let (want, give_back) = if state.give_back {
            state.give_back = false;
            (0, std::mem::take(&mut state.available))
        } else if state.pending_want > 0 {
            (state.pending_want.saturating_add(state.debt).max(chunk), 0)
        } else {
            // A refresh: top the lease up to one chunk, or only extend it.
            (
                chunk
                    .saturating_add(state.debt)
                    .saturating_sub(state.available),
                0,
            )
        };
        state.pending_want = 0;
        pb::LeaseDemand {
            bucket: Some(self.proto.clone()),
            limit: state.limit,
            want,
            give_back,
            epoch: state.epoch,
        }
    }

    /// Applies the control plane's grant to a request sent at `sent`. True when waiting
    /// requests asked for more meanwhile (another lease request is due).
    pub(super) fn granted(&self, grant: &pb::LeaseGrant, want: u64, sent: Instant) -> bool {
        let mut state = self.lock();
        if grant.epoch == state.epoch {
            state.credit(grant.granted);
        } else {
            // A new lease: the old one's budget was reclaimed (and its overuse counts as
            // used once its charges arrive).
            state.epoch = grant.epoch;
            state.available = grant.granted;
            state.debt = 0;
        }
        let ttl = Duration::from_millis(grant.expires_in_ms).min(MAX_TTL);
        state.ttl = ttl;
        state.expires_at = sent.checked_add(ttl - EXPIRY_MARGIN.min(ttl / 4));
        if grant.granted > 0 {
            state.last_grant = grant.granted;
        }
        let free = grant.limit.saturating_sub(
            grant
                .used
                .saturating_add(grant.held)
                .saturating_add(grant.held_by_others),
        );
        state.more_possible = grant.granted >= want && free > 0;
        state.status = Some(Status {
            used: grant.used,
            held: grant.held,
            held_by_others: grant.held_by_others,
            limit: grant.limit,
        });
        state.unreachable = false;
        // The control plane answers again: the offline allowance starts over.
        state.offline_used = 0;
        self.answer_done(&mut state)
    }

    /// The lease request concerning this bucket failed (error answer, broken stream).
    pub(super) fn failed(&self) -> bool {
        let mut state = self.lock();
        state.unreachable = true;
        self.answer_done(&mut state)
    }

    fn answer_done(&self, state: &mut State) -> bool {
        state.answers += 1;
        let again = state.pending_want > 0 || state.give_back;
        state.in_flight = again;
        self.answered.notify_waiters();
        again
    }
}

impl State {
    /// Budget of the current lease coming in: it pays off debt first.
    fn credit(&mut self, amount: u64) {
        let paid = amount.min(self.debt);
        self.debt -= paid;
        self.available = self.available.saturating_add(amount - paid);
    }
    /// Refresh before running dry or out of time, so requests rarely wait: when the
    /// budget falls below half the last grant (and the control plane may have more), or
    /// the lease is within half its TTL of its end.
    fn wants_refresh(&self, now: Instant) -> bool {
        if self.in_flight {
            return false;
        }
        let low = self.more_possible && self.available < self.last_grant / 2;
        let late = self
            .expires_at
            .is_some_and(|end| end.saturating_duration_since(now) < self.ttl / 2);
        low || late
    }
}
