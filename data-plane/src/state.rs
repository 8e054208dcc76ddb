//! The state every request handler shares.
//!
//! The snapshot is the only thing that changes while serving, and it changes by an atomic
//! pointer swap: handlers call `load_full()` once and keep that `Arc` (SPEC §0).

use std::collections::HashSet;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tracing::info;

use crate::metrics::Metrics;
use crate::moderation::Moderator;
use crate::quota::Quotas;
use crate::report::Reporter;
use crate::snapshot::Snapshot;
use crate::upstream::Upstream;

/// Request limits from configuration.
#[derive(Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// `None` = any model.
    pub allowed_models: Option<HashSet<String>>,
}

pub struct AppState {
    pub snapshot: ArcSwapOption<Snapshot>,
    /// Turns true when the shutdown grace period is over: open streams end themselves
    /// (and report) instead of being cut without a trace.
    pub end_streams: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub upstream: Upstream,
    pub moderation: Moderator,
    pub reporter: Reporter,
    pub node_id: Arc<str>,
    pub quotas: Arc<Quotas>,
    /// Completion tokens reserved when a request names no maximum.
    pub default_max_tokens: u64,
}

impl AppState {
    /// Publishes a fully built snapshot; requests that start after this see it.
    pub fn activate(&self, snapshot: Arc<Snapshot>) {
        info!(
            version = snapshot.version,
            policies = snapshot.policy_count(),
            keys = snapshot.key_count(),
            "snapshot activated"
        );
        self.metrics
            .snapshot_activated(snapshot.version, snapshot.created_at_unix_ms);
        self.snapshot.store(Some(snapshot));
    }
}
