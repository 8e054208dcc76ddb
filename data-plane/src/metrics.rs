//! Prometheus metrics (SPEC §10), served at `/metrics`.
//!
//! The request path only touches atomics: every `(decision, reason_code)` counter is
//! created up front and kept as a handle, and the latency histograms are lock-free
//! ([`AtomicHistogram`]; prometheus-client's own histogram takes a mutex per
//! observation). Labels are closed sets (decisions, reason codes, statuses, spool kinds),
//! never identifiers or content.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use policy_engine::{DecisionKind, ReasonCode};

use crate::quota::Limit;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

const DECISIONS: [DecisionKind; 5] = [
    DecisionKind::Allow,
    DecisionKind::Rewrite,
    DecisionKind::Summary,
    DecisionKind::Escalate,
    DecisionKind::Refuse,
];
const REASONS: [ReasonCode; 6] = [
    ReasonCode::Allow,
    ReasonCode::Rewrite,
    ReasonCode::Summary,
    ReasonCode::Escalate,
    ReasonCode::Refuse,
    ReasonCode::Redact,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
    reason_code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Spools whose depth and drops are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolKind {
    Audit,
    Usage,
}

impl SpoolKind {
    pub const fn name(self) -> &'static str {
        match self {
            SpoolKind::Audit => "audit",
            SpoolKind::Usage => "usage",
        }
    }
}

/// Every metric of the data plane.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: [[Counter; REASONS.len()]; DECISIONS.len()],
    errors: Family<StatusLabels, Counter>,
    pub overhead: AtomicHistogram,
    pub upstream_latency: AtomicHistogram,
    snapshot_version: Gauge,
    snapshot_created_ms: AtomicI64,
    snapshot_age: Gauge<f64, AtomicU64>,
    pub snapshot_nacks: Counter,
    spool_depth: [Gauge; 2],
    spool_dropped: [Counter; 2],
    quota_rejections: [Counter; Limit::ALL.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dp");
        let decision_family = Family::<DecisionLabels, Counter>::default();
        let decisions = DECISIONS.map(|d| {
            REASONS.map(|r| {
                decision_family
                    .get_or_create(&DecisionLabels {
                        decision: d.name(),
                        reason_code: r.name(),
                    })
                    .clone()
            })
        });
        registry.register(
            "requests",
            "Requests that reached a decision, by enforced decision and reason code",
            decision_family,
        );
        let errors = Family::<StatusLabels, Counter>::default();
        registry.register(
            "request_errors",
            "Requests answered with an error before or instead of a decision, by HTTP status",
            errors.clone(),
        );
        let overhead = AtomicHistogram::new();
        registry.register(
            "gateway_overhead_seconds",
            "Time the gateway spent on a request, upstream time excluded",
            overhead.clone(),
        );
        let upstream_latency = AtomicHistogram::new();
        registry.register(
            "upstream_latency_seconds",
            "Time from sending a request upstream to its response headers",
            upstream_latency.clone(),
        );
        let snapshot_version = Gauge::default();
        registry.register(
            "snapshot_version",
            "Version of the active snapshot (0 before the first)",
            snapshot_version.clone(),
        );
        let snapshot_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_age_seconds",
            "Seconds since the control plane created the active snapshot",
            snapshot_age.clone(),
        );
        let snapshot_nacks = Counter::default();
        registry.register(
            "snapshot_nacks",
            "Snapshots rejected (NACKed) because they failed to build",
            snapshot_nacks.clone(),
        );
        let depth_family = Family::<KindLabels, Gauge>::default();
        let dropped_family = Family::<KindLabels, Counter>::default();
        let kinds = [SpoolKind::Audit, SpoolKind::Usage];
        let spool_depth = kinds.map(|k| {
            depth_family
                .get_or_create(&KindLabels { kind: k.name() })
                .clone()
        });
        let spool_dropped = kinds.map(|k| {
            dropped_family
                .get_or_create(&KindLabels { kind: k.name() })
                .clone()
        });
        registry.register(
            "audit_spool_depth",
            "Records spooled on disk and not yet acknowledged by the control plane",
            depth_family,
        );
        registry.register(
            "audit_spool_dropped",
            "Records dropped because the spool was full or its queue overflowed",
            dropped_family,
        );
        let rejection_family = Family::<LimitLabels, Counter>::default();
        let quota_rejections = Limit::ALL.map(|limit| {
            rejection_family
                .get_or_create(&LimitLabels {
                    limit: limit.name(),
                })
                .clone()
        });
        registry.register(
            "quota_rejections",
            "Requests refused with 429 by a quota, by the limit that tripped",
            rejection_family,
        );
        Metrics {
            registry,
            decisions,
            errors,
            overhead,
            upstream_latency,
            snapshot_version,
            snapshot_created_ms: AtomicI64::new(0),
            snapshot_age,
            snapshot_nacks,
            spool_depth,
            spool_dropped,
            quota_rejections,
        }
    }

    pub fn quota_rejected(&self, limit: Limit) {
        self.quota_rejections[limit.index()].inc();
    }

    pub fn decision(&self, decision: DecisionKind, reason: ReasonCode) {
        let d = DECISIONS.iter().position(|x| *x == decision).unwrap_or(0);
        let r = REASONS.iter().position(|x| *x == reason).unwrap_or(0);
        self.decisions[d][r].inc();
    }

    pub fn error(&self, status: u16) {
        self.errors.get_or_create(&StatusLabels { status }).inc();
    }

    pub fn snapshot_activated(&self, version: u64, created_at_unix_ms: i64) {
        self.snapshot_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
        self.snapshot_created_ms
            .store(created_at_unix_ms, Ordering::Relaxed);
    }

    pub fn spool_depth(&self, kind: SpoolKind, depth: u64) {
        self.spool_depth[kind as usize].set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    pub fn spool_dropped(&self, kind: SpoolKind, n: u64) {
        self.spool_dropped[kind as usize].inc_by(n);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let created = self.snapshot_created_ms.load(Ordering::Relaxed);
        if created > 0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            self.snapshot_age
                .set((now - created).max(0) as f64 / 1000.0);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Bucket bounds in seconds: the gateway's own overhead lives in the tens of
/// microseconds, upstream latency in the hundreds of milliseconds, so the range is wide.
const BOUNDS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// A histogram of durations updated with atomic adds only.
#[derive(Debug, Clone)]
pub struct AtomicHistogram {
    inner: std::sync::Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    /// One per bound, plus `+Inf`.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl AtomicHistogram {
    fn new() -> Self {
        AtomicHistogram {
            inner: std::sync::Arc::new(HistogramInner {
                buckets: std::array::from_fn(|_| AtomicU64::new(0)),
                sum_nanos: AtomicU64::new(0),
                count: AtomicU64::new(0),
            }),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS.len());
        self.inner.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.inner.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = BOUNDS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.inner.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let count = self.inner.count.load(Ordering::Relaxed);
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_decisions_histograms_and_spools() {
        let metrics = Metrics::new();
        metrics.decision(DecisionKind::Refuse, ReasonCode::Refuse);
        metrics.overhead.observe(Duration::from_micros(80));
        metrics.spool_depth(SpoolKind::Usage, 3);
        metrics.snapshot_activated(12, 1);
        metrics.error(401);
        metrics.quota_rejected(Limit::ProjectTokens);
        let text = metrics.render();
        assert!(
            text.contains(r#"dp_quota_rejections_total{limit="project_quota.tokens"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dp_quota_rejections_total{limit="user_quota.requests"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dp_requests_total{decision="refuse",reason_code="REFUSE"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dp_gateway_overhead_seconds_bucket{le="0.0001"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dp_audit_spool_depth{kind="usage"} 3"#),
            "{text}"
        );
        assert!(text.contains("dp_snapshot_version 12"), "{text}");
        assert!(
            text.contains(r#"dp_request_errors_total{status="401"} 1"#),
            "{text}"
        );
    }
}
