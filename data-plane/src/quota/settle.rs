//! What an admitted request holds until its answer ends, and how it settles (SPEC §4).
//!
//! Each bucket charges 1 request, or the tokens the answer really used: the upstream's
//! usage (estimated when it reports none), or for a stream cut short the whole
//! reservation. An upstream failure or error status returns everything, as does a guard
//! dropped unsettled (a request abandoned before any answer).

use std::sync::{Arc, Mutex};

use policy_proto::v1 as pb;

use super::Metric;
use super::bucket::Bucket;

/// One bucket's share of an admission.
#[derive(Debug)]
pub(super) struct Taken {
    pub bucket: Arc<Bucket>,
    /// 1 request, or the tokens reserved.
    pub amount: u64,
    /// The lease epoch it came from; 0 for the offline allowance.
    pub epoch: u64,
}

/// An admission waiting for its answer; settling or refunding twice is a no-op.
#[derive(Debug, Default)]
pub struct QuotaGuard {
    taken: Mutex<Vec<Taken>>,
}

impl QuotaGuard {
    pub(super) fn new(taken: Vec<Taken>) -> QuotaGuard {
        QuotaGuard {
            taken: Mutex::new(taken),
        }
    }

    fn drain(&self) -> Vec<Taken> {
        match self.taken.lock() {
            Ok(mut taken) => std::mem::take(&mut *taken),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Tokens reserved (0 when no token quota applies).
    pub fn reserved_tokens(&self) -> u64 {
        let taken = match self.taken.lock() {
            Ok(taken) => taken,
            Err(poisoned) => poisoned.into_inner(),
        };
        taken
            .iter()
            .filter(|t| t.bucket.metric() == Metric::Tokens)
            .map(|t| t.amount)
            .max()
            .unwrap_or(0)
    }

    /// Settles with the answer's `tokens` (prompt + completion): the charges for the
    /// usage record. Unused reservations go back to their lease; use beyond them comes
    /// out of it.
    pub fn settle(&self, tokens: u64) -> Vec<pb::QuotaCharge> {
        self.drain()
            .into_iter()
            .map(|t| {
                let amount = match t.bucket.metric() {
                    Metric::Requests => t.amount,
                    Metric::Tokens => {
                        if tokens < t.amount {
                            t.bucket.give_back(t.amount - tokens, t.epoch);
                        } else if tokens > t.amount {
                            t.bucket.overspent(tokens - t.amount, t.epoch);
                        }
                        tokens
                    }
                };
                charge(&t, amount)
            })
            .collect()
    }

    /// Settles a stream cut short: every reservation is charged whole.
    pub fn settle_reserved(&self) -> Vec<pb::QuotaCharge> {
        self.drain()
            .into_iter()
            .map(|t| charge(&t, t.amount))
            .collect()
    }

    /// The request consumed nothing (upstream failure or error status).
    pub fn refund(&self) {
        for t in self.drain() {
            t.bucket.give_back(t.amount, t.epoch);
        }
    }
}

fn charge(taken: &Taken, amount: u64) -> pb::QuotaCharge {
    pb::QuotaCharge {
        bucket: Some(taken.bucket.proto.clone()),
        amount,
        epoch: taken.epoch,
    }
}

impl Drop for QuotaGuard {
    fn drop(&mut self) {
        self.refund();
    }
}
