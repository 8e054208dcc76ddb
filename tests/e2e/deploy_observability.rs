//! `deploy/otel-collector.yaml` and `deploy/grafana/policy-gateway.json` (issue 7): the
//! collector's pipelines use only components it defines and scrape both planes'
//! `/metrics`; the dashboard parses, and every metric it queries is one the planes'
//! metrics code registers (SPEC §10).

use std::collections::BTreeSet;

use regex::Regex;
use serde_json::Value;

use crate::deploy_manifests::{read, repo_root, rust_sources, yaml_documents};

fn dashboard() -> Value {
    serde_json::from_str(&read("deploy/grafana/policy-gateway.json"))
        .unwrap_or_else(|e| panic!("deploy/grafana/policy-gateway.json is not JSON: {e}"))
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| {
            std::iter::once(panel).chain(panel["panels"].as_array().into_iter().flatten())
        })
        .collect()
}

/// Metric names the planes can expose: for a source file with
/// `Registry::with_prefix("p")`, `p_<literal>` for each string literal in it; and every
/// literal as written (metrics registered under their full name).
fn registered_metric_names() -> BTreeSet<String> {
    let prefix = Regex::new(r#"with_prefix\(\s*"([a-z][a-z0-9_]*)"\s*\)"#).expect("a regex");
    let literal = Regex::new(r#""([a-z][a-z0-9_]*)""#).expect("a regex");
    let mut names = BTreeSet::new();
    for binary in ["control-plane", "data-plane"] {
        for text in rust_sources(&repo_root().join(binary).join("src")) {
            let prefixes: Vec<String> = prefix
                .captures_iter(&text)
                .map(|c| c[1].to_owned())
                .collect();
            for captures in literal.captures_iter(&text) {
                let name = &captures[1];
                names.insert(name.to_owned());
                for prefix in &prefixes {
                    names.insert(format!("{prefix}_{name}"));
                }
            }
        }
    }
    names
}

/// Whether `metric` (as queried: `_total`, `_bucket`, `_sum`, `_count` included) is
/// exposed, given the names registered in code (prometheus-client adds the suffixes).
fn exposed(metric: &str, registered: &BTreeSet<String>) -> bool {
    registered.contains(metric)
        || ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| {
                metric
                    .strip_suffix(suffix)
                    .is_some_and(|base| registered.contains(base))
            })
}

#[test]
fn the_dashboard_queries_only_metrics_the_planes_register() {
    let dashboard = dashboard();
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let metric = Regex::new(r"\b((?:dp|cp)_[a-z0-9_]+)\b").expect("a regex");
    // `$dp_job` and `$cp_job` are the dashboard's variables, not metrics.
    let variable = Regex::new(r"\$\w+").expect("a regex");
    let registered = registered_metric_names();
    let mut ids = BTreeSet::new();
    let mut queried = BTreeSet::new();
    for panel in panels(&dashboard) {
        let id = panel["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} is used twice");
        assert!(
            panel["gridPos"]["w"].as_u64().is_some(),
            "panel {id}: gridPos"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "unbalanced parentheses: {expr}"
            );
            let expr = variable.replace_all(expr, "");
            queried.extend(metric.captures_iter(&expr).map(|c| c[1].to_owned()));
        }
    }
    for needed in [
        "dp_requests_total",
        "dp_request_errors_total",
        "dp_gateway_overhead_seconds_bucket",
        "dp_upstream_latency_seconds_bucket",
        "dp_snapshot_version",
        "dp_snapshot_age_seconds",
        "dp_audit_spool_depth",
        "dp_audit_spool_dropped_total",
        "dp_quota_rejections_total",
        "cp_connected_data_planes",
        "cp_snapshot_version",
    ] {
        assert!(
            queried.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
    let missing: Vec<&String> = queried
        .iter()
        .filter(|name| !exposed(name, &registered))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no plane registers: {missing:?}"
    );
}

#[test]
fn the_collector_wires_defined_components_and_scrapes_both_planes() {
    let documents = yaml_documents("deploy/otel-collector.yaml");
    assert_eq!(documents.len(), 1);
    let config = &documents[0];
    let pipelines = config["service"]["pipelines"]
        .as_object()
        .expect("service.pipelines");
    for pipeline in ["traces", "metrics"] {
        assert!(pipelines.contains_key(pipeline), "no {pipeline} pipeline");
    }
    for (pipeline_name, pipeline) in pipelines {
        for kind in ["receivers", "processors", "exporters"] {
            for component in pipeline[kind].as_array().into_iter().flatten() {
                let component = component.as_str().expect("a component name");
                assert!(
                    config[kind].get(component).is_some(),
                    "pipeline {pipeline_name} uses {kind}/{component}, which is not defined"
                );
            }
        }
    }
    assert_eq!(
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"], "0.0.0.0:4317",
        "OTLP over gRPC on the standard port the manifests point at"
    );

    let dashboard = dashboard();
    let job_default = |variable: &str| -> String {
        dashboard["templating"]["list"]
            .as_array()
            .expect("templating")
            .iter()
            .find(|v| v["name"] == variable)
            .and_then(|v| v["query"].as_str())
            .unwrap_or_else(|| panic!("no {variable} variable"))
            .to_owned()
    };
    let jobs: Vec<&Value> = config["receivers"]["prometheus"]["config"]["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .collect();
    for (variable, component) in [("dp_job", "data-plane"), ("cp_job", "control-plane")] {
        let job_name = job_default(variable);
        let job = jobs
            .iter()
            .find(|j| j["job_name"] == job_name.as_str())
            .unwrap_or_else(|| panic!("no scrape job {job_name} (the dashboard's {variable})"));
        assert_eq!(job["metrics_path"], "/metrics");
        let keeps_component = job["relabel_configs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["action"] == "keep" && r["regex"] == component);
        assert!(keeps_component, "{job_name} scrapes the {component} pods");
    }
}
