//! Automatic rollback and the end of cooldowns (SPEC §2.6, §9), run by every control-plane
//! replica; for each policy exactly one replica acts.
//!
//! Shape of the module:
//! - [`watcher`] wakes every [`Settings::interval`], lists the policies with a rollout or a
//!   cooldown ([`store::active`]) and, per policy, either weighs the candidate's decisions
//!   over its rollback window with the engine's rule ([`policy_engine::rollback::verdict`])
//!   or, once a cooldown is over, ends it;
//! - [`actions`] makes each change in one transaction: a per-policy advisory lock taken with
//!   `pg_try_advisory_xact_lock` (a replica that does not get it skips the policy this
//!   tick), the policy row locked and its state checked again, then pointers, history
//!   entry and snapshot version bump together;
//! - [`store`] holds the SQL of both;
//! - [`status`] answers `GET /rollout/status` (what `policyctl rollout status` prints).
//!
//! Time comes from a [`Clock`], so tests move it instead of sleeping.

pub mod actions;
pub mod status;
pub mod store;
pub mod watcher;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

pub use watcher::{Tick, Watcher, spawn};

/// Who automatic changes are recorded as (`updated_by`, the history entry's `author`).
pub const AUTHOR: &str = "system:rollout-watcher";

/// How often the watcher looks, unless configured otherwise: well inside the time data
/// planes take to report a spike, and cheap (one indexed query per active rollout).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Where the watcher reads the time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system's UTC clock, as the rest of the control plane reads it.
    pub fn system() -> Self {
        Self(Arc::new(OffsetDateTime::now_utc))
    }

    /// Any time source; tests use it to jump past a window or a cooldown.
    pub fn from_fn(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// What the watcher needs from the process configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Pause between two looks.
    pub interval: Duration,
    /// `POLICY_HISTORY_LIMIT`: rollback and promotion entries are pruned to it (SPEC §6).
    pub history_limit: u32,
    pub clock: Clock,
}

impl Settings {
    pub fn new(history_limit: u32) -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            history_limit,
            clock: Clock::system(),
        }
    }
}
