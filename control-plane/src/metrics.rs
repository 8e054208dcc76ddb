//! Prometheus metrics of the control plane (SPEC §10), served at `GET /metrics` on the
//! HTTP address, outside the JWT-protected `/api` prefix.
//!
//! One registry per process, reached through [`metrics`]: the counters are bumped from
//! the REST layer, the sync service and the snapshot publisher, which share nothing
//! else. Labels are closed sets (route templates, HTTP statuses), never identifiers or
//! content: a route is the matched template (`/api/policy-gateway/projects/{id}`), so ids
//! in paths never become label values.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The route label of a request that matched no route (404s of unknown paths).
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

/// Every metric of the control plane.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    connected_data_planes: Gauge,
    snapshot_version: Gauge,
    audit_entries_ingested: Counter,
    usage_records_ingested: Counter,
    snapshots_sent: Counter,
    snapshot_nacks: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cp");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "REST requests answered, by route template and HTTP status",
            http_requests.clone(),
        );
        let connected_data_planes = Gauge::default();
        registry.register(
            "connected_data_planes",
            "Data planes with an open Subscribe stream to this replica",
            connected_data_planes.clone(),
        );
        let snapshot_version = Gauge::default();
        registry.register(
            "snapshot_version",
            "Version of the snapshot this replica publishes (0 before the first)",
            snapshot_version.clone(),
        );
        let audit_entries_ingested = Counter::default();
        registry.register(
            "audit_entries_ingested",
            "Audit entries stored from data-plane reports (resent duplicates not counted)",
            audit_entries_ingested.clone(),
        );
        let usage_records_ingested = Counter::default();
        registry.register(
            "usage_records_ingested",
            "Usage records stored from data-plane reports (resent duplicates not counted)",
            usage_records_ingested.clone(),
        );
        let snapshots_sent = Counter::default();
        registry.register(
            "snapshots_sent",
            "Snapshots sent to data planes on their Subscribe streams",
            snapshots_sent.clone(),
        );
        let snapshot_nacks = Counter::default();
        registry.register(
            "snapshot_nacks",
            "Snapshots data planes rejected (NACK); a rejected version is never resent",
            snapshot_nacks.clone(),
        );
        Metrics {
            registry,
            http_requests,
            connected_data_planes,
            snapshot_version,
            audit_entries_ingested,
            usage_records_ingested,
            snapshots_sent,
            snapshot_nacks,
        }
    }

    /// A REST request answered; `route` is the matched template or [`UNMATCHED_ROUTE`].
    pub fn http_request(&self, route: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// A data plane subscribed; the gauge goes down again when the guard drops.
    pub fn data_plane_connected(&'static self) -> ConnectedDataPlane {
        self.connected_data_planes.inc();
        ConnectedDataPlane(self)
    }

    pub fn snapshot_published(&self, version: u64) {
        self.snapshot_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    pub fn audit_entries_ingested(&self, new: u64) {
        self.audit_entries_ingested.inc_by(new);
    }

    pub fn usage_records_ingested(&self, new: u64) {
        self.usage_records_ingested.inc_by(new);
    }

    pub fn snapshot_sent(&self) {
        self.snapshots_sent.inc();
    }

    pub fn snapshot_nacked(&self) {
        self.snapshot_nacks.inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Counts one subscribed data plane in `cp_connected_data_planes` while it lives.
#[derive(Debug)]
pub struct ConnectedDataPlane(&'static Metrics);

impl Drop for ConnectedDataPlane {
    fn drop(&mut self) {
        self.0.connected_data_planes.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_its_cp_name() {
        let metrics = Metrics::new();
        metrics.http_request("/api/policy-gateway/projects/{id}", 200);
        metrics.http_request(UNMATCHED_ROUTE, 404);
        let connected: &'static Metrics = Box::leak(Box::new(Metrics::new()));
        let first = connected.data_plane_connected();
        let second = connected.data_plane_connected();
        drop(first);
        metrics.snapshot_published(7);
        metrics.audit_entries_ingested(3);
        metrics.usage_records_ingested(2);
        metrics.snapshot_sent();
        metrics.snapshot_nacked();
        let text = metrics.render();
        for line in [
            r#"cp_http_requests_total{route="/api/policy-gateway/projects/{id}",status="200"} 1"#,
            r#"cp_http_requests_total{route="unmatched",status="404"} 1"#,
            "cp_snapshot_version 7",
            "cp_audit_entries_ingested_total 3",
            "cp_usage_records_ingested_total 2",
            "cp_snapshots_sent_total 1",
            "cp_snapshot_nacks_total 1",
            "cp_connected_data_planes 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
        assert!(
            connected
                .render()
                .lines()
                .any(|l| l == "cp_connected_data_planes 1"),
            "{}",
            connected.render()
        );
        drop(second);
        assert!(connected.render().contains("cp_connected_data_planes 0"));
    }
}
