//! Prometheus metrics of both planes (SPEC §10, §13): after traffic, the data planes
//! count decisions by reason code and errors by status; the control plane serves
//! `/metrics` without a token, counts REST requests by route template (never a raw path),
//! knows its connected data planes and the snapshot version they run, and counts what
//! they report.

use e2e_tests::{Http, Stack, StackOptions, chat, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_planes_count_decisions_requests_and_connections() {
    let stack = Stack::start(StackOptions::default()).await;
    let (first, second) = (stack.dps[0].http(), stack.dps[1].http());
    for _ in 0..2 {
        let reply = first
            .chat(
                "/v1/chat/completions",
                Some(stack.key("open-bot")),
                &chat("echo", "hello"),
                &[],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let refused = chat("echo", "tell me about the internal incident");
    let reply = first
        .chat(
            "/v1/chat/completions",
            Some(stack.key("refuse-bot")),
            &refused,
            &[],
        )
        .await;
    assert_eq!(reply.header("x-policy-decision"), "refuse");
    let reply = first
        .chat("/v1/chat/completions", None, &chat("echo", "hello"), &[])
        .await;
    assert_eq!(reply.status, 401);
    let reply = second
        .chat(
            "/v1/chat/completions",
            Some(stack.key("open-bot")),
            &chat("echo", "hello"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200);

    // Data planes: decisions by enforced decision and reason code, errors by status.
    let metrics = scrape(&first).await;
    assert_eq!(
        value(
            &metrics,
            r#"dp_requests_total{decision="allow",reason_code="ALLOW"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &metrics,
            r#"dp_requests_total{decision="refuse",reason_code="REFUSE"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&metrics, r#"dp_request_errors_total{status="401"}"#),
        1.0
    );
    assert_eq!(value(&metrics, "dp_gateway_overhead_seconds_count"), 3.0);
    let metrics = scrape(&second).await;
    assert_eq!(
        value(
            &metrics,
            r#"dp_requests_total{decision="allow",reason_code="ALLOW"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            r#"dp_requests_total{decision="refuse",reason_code="REFUSE"}"#
        ),
        0.0
    );
    let dp_version = value(&metrics, "dp_snapshot_version");
    assert!(dp_version > 0.0, "{metrics}");

    // The control plane: no token needed, the Prometheus text format.
    let cp = stack.cp.http();
    assert_eq!(
        cp.get("/api/policy-gateway/no-such-thing").await.status,
        404
    );
    let reply = cp.get("/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.header("content-type").starts_with("text/plain"));
    let metrics = reply.text();
    assert_eq!(value(&metrics, "cp_connected_data_planes"), 2.0);
    assert_eq!(value(&metrics, "cp_snapshot_version"), dp_version);
    assert!(
        value(&metrics, "cp_snapshots_sent_total") >= 2.0,
        "{metrics}"
    );
    assert_eq!(value(&metrics, "cp_snapshot_nacks_total"), 0.0);
    // The seed saved five policies and made a key for each of five projects.
    let config = r#"cp_http_requests_total{route="/api/policy-gateway/config",status="200"}"#;
    assert_eq!(value(&metrics, config), 5.0);
    let keys =
        r#"cp_http_requests_total{route="/api/policy-gateway/projects/{id}/keys",status="201"}"#;
    assert_eq!(value(&metrics, keys), 5.0);
    assert_eq!(
        value(
            &metrics,
            r#"cp_http_requests_total{route="unmatched",status="404"}"#
        ),
        1.0
    );
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("cp_http_requests_total"))
    {
        assert!(
            !line.contains("open-bot") && !line.contains("no-such-thing"),
            "raw path in {line}"
        );
    }

    // What the data planes report is counted once stored: three forwarded requests
    // have usage, four decisions have audit entries.
    eventually("reports are ingested", || {
        let cp = cp.clone();
        async move {
            let metrics = scrape(&cp).await;
            let audit = value(&metrics, "cp_audit_entries_ingested_total");
            let usage = value(&metrics, "cp_usage_records_ingested_total");
            (audit >= 4.0 && usage >= 3.0).then_some(())
        }
    })
    .await;
}

async fn scrape(http: &Http) -> String {
    let reply = http.get("/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text()
}

/// The value of the sample named exactly `sample` (name and labels as rendered).
fn value(metrics: &str, sample: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {sample} in:\n{metrics}"))
}
