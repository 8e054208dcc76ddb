//! Fleet quotas on the data plane (SPEC §4; the design is in docs/data-plane.md,
//! "Quotas").
//!
//! The control plane is the single authority over every quota counter. A node admits
//! requests locally against budget the control plane has leased to it, so the request
//! path never waits for the network unless a bucket's budget is out:
//!
//! - [`bucket`]: one counter's local state (leased budget, epoch, expiry, offline
//!   allowance) behind a short mutex, and the take/return arithmetic;
//! - [`admission`]: all-or-nothing admission over a request's buckets, waiting for a
//!   lease when one runs dry, and the verdict when none comes ([`Rejection`]);
//! - [`settle`]: the guard a forwarded request carries until its answer ends, which turns
//!   its reservations into [`pb::QuotaCharge`]s for the usage record or returns them;
//! - [`lease`]: the one long-lived `Lease` stream: coalesced requests, proactive refresh,
//!   idle give-back, reconnects.

pub mod admission;
pub mod bucket;
pub mod lease;
pub mod settle;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use policy_engine::Window;
pub use policy_engine::bucket::{Metric, SubjectKind};
use policy_proto::v1 as pb;
use tokio::sync::mpsc;

pub use admission::{Rejection, RejectionReason};
pub use bucket::Bucket;
pub use settle::QuotaGuard;

use crate::config::QuotaConfig;

/// The limit a bucket enforces; its name is the 429's `code` and the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    UserRequests,
    UserTokens,
    ProjectRequests,
    ProjectTokens,
    MonthlyRequests,
    MonthlyTokens,
}

impl Limit {
    /// In the order a request checks them (and a 429 names the first that fails).
    pub const ALL: [Limit; 6] = [
        Limit::UserRequests,
        Limit::UserTokens,
        Limit::ProjectRequests,
        Limit::ProjectTokens,
        Limit::MonthlyRequests,
        Limit::MonthlyTokens,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Limit::UserRequests => "user_quota.requests",
            Limit::UserTokens => "user_quota.tokens",
            Limit::ProjectRequests => "project_quota.requests",
            Limit::ProjectTokens => "project_quota.tokens",
            Limit::MonthlyRequests => "project.monthly_request_limit",
            Limit::MonthlyTokens => "project.monthly_token_limit",
        }
    }

    pub const fn metric(self) -> Metric {
        match self {
            Limit::UserRequests | Limit::ProjectRequests | Limit::MonthlyRequests => {
                Metric::Requests
            }
            Limit::UserTokens | Limit::ProjectTokens | Limit::MonthlyTokens => Metric::Tokens,
        }
    }

    pub const fn subject_kind(self) -> SubjectKind {
        match self {
            Limit::UserRequests | Limit::UserTokens => SubjectKind::User,
            Limit::ProjectRequests | Limit::ProjectTokens => SubjectKind::Project,
            Limit::MonthlyRequests | Limit::MonthlyTokens => SubjectKind::ProjectRecord,
        }
    }

    pub fn index(self) -> usize {
        Limit::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }
}

/// One quota counter: a subject's use of one metric in one UTC window. Keyed by policy
/// id, never by revision, so saving a revision does not reset usage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketKey {
    pub org: Arc<str>,
    /// Empty for the project record's monthly limits, which span every policy.
    pub policy_id: Arc<str>,
    pub subject: Arc<str>,
    pub limit: Limit,
    pub window: Window,
    pub window_start: i64,
}

impl BucketKey {
    pub fn to_proto(&self) -> pb::QuotaBucket {
        pb::QuotaBucket {
            org: self.org.to_string(),
            policy_id: self.policy_id.to_string(),
            subject_kind: self.limit.subject_kind().name().to_string(),
            subject: self.subject.to_string(),
            metric: self.limit.metric().name().to_string(),
            window_start_unix: self.window_start,
            window: self.window.name().to_string(),
        }
    }

    /// Whether `bucket` names this counter (a control plane's answer is checked against
    /// what was asked).
    pub fn matches(&self, bucket: &pb::QuotaBucket) -> bool {
        *self.org == *bucket.org
            && *self.policy_id == *bucket.policy_id
            && self.limit.subject_kind().name() == bucket.subject_kind
            && *self.subject == *bucket.subject
            && self.limit.metric().name() == bucket.metric
            && self.window_start == bucket.window_start_unix
    }
}

/// One bucket a request is admitted against.
#[derive(Debug, Clone)]
pub struct Demand {
    pub key: BucketKey,
    /// The limit the snapshot sets.
    pub max: u64,
    /// End of the window (Unix seconds): when the bucket resets.
    pub window_end: i64,
}

/// Settings of the quota machinery.
#[derive(Debug, Clone)]
pub struct Settings {
    pub offline_requests: u64,
    pub offline_tokens: u64,
    pub lease_percent: u64,
    pub wait: Duration,
}

impl From<&QuotaConfig> for Settings {
    fn from(config: &QuotaConfig) -> Self {
        Settings {
            offline_requests: config.offline_requests,
            offline_tokens: config.offline_tokens,
            lease_percent: config.lease_percent,
            wait: config.wait,
        }
    }
}

impl Settings {
    /// The budget a node asks for at a time: `DP_QUOTA_LEASE_PERCENT` of the limit.
    pub fn chunk(&self, limit: u64) -> u64 {
        let chunk = u128::from(limit) * u128::from(self.lease_percent);
        u64::try_from(chunk.div_ceil(100))
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub fn allowance(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Requests => self.offline_requests,
            Metric::Tokens => self.offline_tokens,
        }
    }
}

/// The node's quota state: every bucket it has admitted against, and the handle to the
/// lease stream.
#[derive(Debug)]
pub struct Quotas {
    settings: Settings,
    buckets: RwLock<HashMap<BucketKey, Arc<Bucket>>>,
    /// Buckets that want the control plane's attention; the lease task reads them.
    asks: mpsc::Sender<Arc<Bucket>>,
    /// True while the lease stream is known to be down (requests then do not wait).
    down: AtomicBool,
}

/// Bucket asks that may wait for the lease task; beyond this, asks are dropped (the
/// next request asks again).
const ASK_QUEUE: usize = 4096;

impl Quotas {
    /// The quota state and the receiving end of its asks, for [`lease::LeaseTask`].
    pub fn new(settings: Settings) -> (Arc<Quotas>, mpsc::Receiver<Arc<Bucket>>) {
        let (asks, rx) = mpsc::channel(ASK_QUEUE);
        let quotas = Arc::new(Quotas {
            settings,
            buckets: RwLock::new(HashMap::new()),
            asks,
            down: AtomicBool::new(false),
        });
        (quotas, rx)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The bucket of `demand`, created on first use.
    fn bucket(&self, demand: &Demand) -> Arc<Bucket> {
        if let Ok(buckets) = self.buckets.read()
            && let Some(bucket) = buckets.get(&demand.key)
        {
            return bucket.clone();
        }
        let mut buckets = match self.buckets.write() {
            Ok(buckets) => buckets,
            Err(poisoned) => poisoned.into_inner(),
        };
        buckets
            .entry(demand.key.clone())
            .or_insert_with(|| Arc::new(Bucket::new(demand.key.clone(), demand.window_end)))
            .clone()
    }

    /// Hands `bucket` to the lease task; false when its queue is full.
    fn send_ask(&self, bucket: Arc<Bucket>) -> bool {
        self.asks.try_send(bucket).is_ok()
    }

    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::Relaxed);
    }

    /// Every bucket, for the lease task's periodic pass.
    fn all(&self) -> Vec<Arc<Bucket>> {
        match self.buckets.read() {
            Ok(buckets) => buckets.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        }
    }

    fn remove(&self, keys: &[BucketKey]) {
        if keys.is_empty() {
            return;
        }
        let mut buckets = match self.buckets.write() {
            Ok(buckets) => buckets,
            Err(poisoned) => poisoned.into_inner(),
        };
        for key in keys {
            buckets.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
