//! Traces and logs (SPEC §10, §13): the real data plane exports over OTLP/gRPC and the
//! real control plane over OTLP/HTTP-protobuf to an in-process receiver. Each request is
//! one `chat_completion` span continuing the client's `traceparent`, with child spans
//! for each step and the decision as attributes; the upstream continues the same trace;
//! no span, event or log line carries prompt or completion text; every log line is JSON.

use std::collections::BTreeSet;

use e2e_tests::otlp::{ExportedSpan, OtlpReceiver};
use e2e_tests::upstream::FAIL_MODEL;
use e2e_tests::{Reply, Stack, StackOptions, chat, chat_stream, eventually};
use http::Method;
use serde_json::Value;

const DP_SERVICE: &str = "policy-gateway-data-plane";
const CP_SERVICE: &str = "policy-gateway-control-plane";
/// OTLP `SpanKind`.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
/// OTLP `StatusCode`.
const ERROR: i32 = 2;

/// A client's trace context: `traceparent` with fresh ids.
struct ClientTrace {
    trace_id: String,
    parent_id: String,
}

impl ClientTrace {
    fn new() -> ClientTrace {
        let id = uuid::Uuid::new_v4().simple().to_string();
        ClientTrace {
            trace_id: id.clone(),
            parent_id: id[..16].to_owned(),
        }
    }

    fn header(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.parent_id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_planes_export_request_spans_with_decisions_and_no_content() {
    let receiver = OtlpReceiver::start().await;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let prompt_marker = format!("PROMPTOTEL{}", &unique[..12]);
    let completion_marker = format!("CMPLOTEL{}", &unique[12..24]);
    let grpc = receiver.grpc_endpoint();
    let http = receiver.http_endpoint();
    let stack = Stack::start(StackOptions {
        data_planes: 1,
        completion_marker: completion_marker.clone(),
        ..StackOptions::default()
            .dp_env("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc)
            .dp_env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .dp_env("RUST_LOG", "debug")
            .cp_env("OTEL_EXPORTER_OTLP_ENDPOINT", &http)
            .cp_env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .cp_env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .cp_env("RUST_LOG", "debug")
    })
    .await;
    let dp = stack.dps[0].http();
    let prompt = format!("hello there {prompt_marker}");

    let allowed_trace = ClientTrace::new();
    let allowed = send(
        &stack,
        &dp,
        "open-bot",
        chat("echo", &prompt),
        "otel-allowed",
        &allowed_trace,
    )
    .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert!(allowed.content().contains(&completion_marker));

    let refused_trace = ClientTrace::new();
    let refusal = format!("share the internal incident notes {prompt_marker}");
    let refused = send(
        &stack,
        &dp,
        "refuse-bot",
        chat("echo", &refusal),
        "otel-refused",
        &refused_trace,
    )
    .await;
    assert_eq!(refused.header("x-policy-decision"), "refuse");

    let streamed_trace = ClientTrace::new();
    let streamed = send(
        &stack,
        &dp,
        "open-bot",
        chat_stream("echo", &prompt),
        "otel-streamed",
        &streamed_trace,
    )
    .await;
    assert!(streamed.is_stream() && streamed.content().contains(&completion_marker));

    let failed_trace = ClientTrace::new();
    let failed = send(
        &stack,
        &dp,
        "open-bot",
        chat(FAIL_MODEL, &prompt),
        "otel-failed",
        &failed_trace,
    )
    .await;
    assert_eq!(failed.status, 502, "{}", failed.text());

    // A REST call continuing a client's trace.
    let rest_trace = ClientTrace::new();
    let auth = format!("Bearer {}", stack.api.token());
    let reply = stack
        .cp
        .http()
        .send(
            Method::GET,
            "/api/policy-gateway/projects/open-bot",
            &[
                ("authorization", &auth),
                ("traceparent", &rest_trace.header()),
            ],
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // Allowed: every step, the upstream call as a client span.
    let spans = eventually("the allowed request's spans are exported", || {
        let spans = receiver.spans();
        async move {
            let request = request_span(&spans, "otel-allowed")?;
            (children(&spans, &request).len() >= 5).then_some(spans)
        }
    })
    .await;
    let request = request_span(&spans, "otel-allowed").expect("exported");
    assert_request(
        &request,
        &allowed_trace,
        &stack,
        "open-policy",
        "open-bot",
        "allow",
        "ALLOW",
    );
    assert_eq!(request.attribute("http.response.status_code"), Some("200"));
    let steps = children(&spans, &request);
    assert_eq!(
        names(&steps),
        set(&[
            "auth",
            "moderation",
            "policy_evaluation",
            "upstream",
            "redaction"
        ]),
        "{steps:#?}"
    );
    let upstream_span = steps
        .iter()
        .find(|s| s.name == "upstream")
        .expect("upstream span");
    assert_eq!(upstream_span.kind, CLIENT);
    // The upstream saw the request's trace, with the upstream span as its parent.
    let seen = stack
        .upstream
        .seen()
        .into_iter()
        .find(|s| {
            s.headers
                .get("x-request-id")
                .is_some_and(|v| v == "otel-allowed")
        })
        .expect("the upstream got the allowed request");
    let traceparent = seen.headers["traceparent"].to_str().expect("ASCII");
    assert_eq!(
        traceparent,
        format!("00-{}-{}-01", allowed_trace.trace_id, upstream_span.span_id)
    );

    // Refused: decided, never sent upstream.
    let spans = eventually("the refused request's spans are exported", || {
        let spans = receiver.spans();
        async move {
            let request = request_span(&spans, "otel-refused")?;
            (children(&spans, &request).len() >= 3).then_some(spans)
        }
    })
    .await;
    let request = request_span(&spans, "otel-refused").expect("exported");
    assert_request(
        &request,
        &refused_trace,
        &stack,
        "refuse-policy",
        "refuse-bot",
        "refuse",
        "REFUSE",
    );
    assert_eq!(
        names(&children(&spans, &request)),
        set(&["auth", "moderation", "policy_evaluation"])
    );

    // Streamed: the same steps; redaction lasts as long as the relay.
    let spans = eventually("the streamed request's spans are exported", || {
        let spans = receiver.spans();
        async move {
            let request = request_span(&spans, "otel-streamed")?;
            (children(&spans, &request).len() >= 5).then_some(spans)
        }
    })
    .await;
    let request = request_span(&spans, "otel-streamed").expect("exported");
    assert_request(
        &request,
        &streamed_trace,
        &stack,
        "open-policy",
        "open-bot",
        "allow",
        "ALLOW",
    );
    assert_eq!(
        names(&children(&spans, &request)),
        set(&[
            "auth",
            "moderation",
            "policy_evaluation",
            "upstream",
            "redaction"
        ])
    );

    // An upstream failure: decided and forwarded, then an error status on both spans.
    let spans = eventually("the failed request's spans are exported", || {
        let spans = receiver.spans();
        async move {
            let request = request_span(&spans, "otel-failed")?;
            (children(&spans, &request).len() >= 4).then_some(spans)
        }
    })
    .await;
    let request = request_span(&spans, "otel-failed").expect("exported");
    assert_request(
        &request,
        &failed_trace,
        &stack,
        "open-policy",
        "open-bot",
        "allow",
        "ALLOW",
    );
    assert_eq!(request.attribute("http.response.status_code"), Some("502"));
    assert_eq!(request.status, ERROR);
    let upstream_span = children(&spans, &request)
        .into_iter()
        .find(|s| s.name == "upstream")
        .expect("an upstream span");
    assert_eq!(
        upstream_span.attribute("http.response.status_code"),
        Some("500")
    );

    // The control plane: the REST call continues its caller's trace under its route
    // template; the data plane's Subscribe and its reports have spans too.
    let rest_trace_id = rest_trace.trace_id.as_str();
    let spans = eventually("the control plane's spans are exported", || {
        let spans = receiver.spans();
        async move {
            let cp = |name: &str| {
                spans
                    .iter()
                    .any(|s| s.service == CP_SERVICE && s.name == name)
            };
            let rest = spans.iter().any(|s| s.trace_id == rest_trace_id);
            (rest && cp("sync.subscribe") && cp("sync.report_audit") && cp("sync.report_usage"))
                .then_some(spans)
        }
    })
    .await;
    let rest = spans
        .iter()
        .find(|s| s.trace_id == rest_trace.trace_id)
        .expect("the REST span");
    assert_eq!(rest.service, CP_SERVICE);
    assert_eq!(rest.name, "http_request");
    assert_eq!(rest.kind, SERVER);
    assert_eq!(rest.parent_span_id, rest_trace.parent_id);
    assert_eq!(
        rest.attribute("http.route"),
        Some("/api/policy-gateway/projects/{id}")
    );
    assert_eq!(rest.attribute("http.request.method"), Some("GET"));
    assert_eq!(rest.attribute("http.response.status_code"), Some("200"));
    let subscribe = spans
        .iter()
        .find(|s| s.name == "sync.subscribe")
        .expect("a Subscribe span");
    assert_eq!(subscribe.attribute("node_id"), Some("dp-0"));

    // Nothing of the prompts or completions anywhere.
    for span in &spans {
        let everything = format!("{span:?}");
        for marker in [&prompt_marker, &completion_marker] {
            assert!(
                !everything.contains(marker.as_str()),
                "{marker} in a span: {span:#?}"
            );
        }
    }
    let logs = stack.all_logs();
    assert!(logs.contains("otel-allowed"), "the debug logs were read");
    for marker in [&prompt_marker, &completion_marker] {
        assert!(!logs.contains(marker.as_str()), "{marker} in the logs");
    }
    // LOG_FORMAT=json: every line of both planes is one JSON object.
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "not a JSON object: {line}"
        );
    }
}

async fn send(
    stack: &Stack,
    dp: &e2e_tests::Http,
    project: &str,
    body: Value,
    request_id: &str,
    trace: &ClientTrace,
) -> Reply {
    dp.chat(
        "/v1/chat/completions",
        Some(stack.key(project)),
        &body,
        &[
            ("x-request-id", request_id),
            ("traceparent", &trace.header()),
        ],
    )
    .await
}

/// The data plane's span of the request with `request_id`.
fn request_span(spans: &[ExportedSpan], request_id: &str) -> Option<ExportedSpan> {
    spans
        .iter()
        .find(|s| s.name == "chat_completion" && s.attribute("request_id") == Some(request_id))
        .cloned()
}

fn children(spans: &[ExportedSpan], parent: &ExportedSpan) -> Vec<ExportedSpan> {
    spans
        .iter()
        .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
        .cloned()
        .collect()
}

fn names(spans: &[ExportedSpan]) -> BTreeSet<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn assert_request(
    span: &ExportedSpan,
    trace: &ClientTrace,
    stack: &Stack,
    policy: &str,
    project: &str,
    decision: &str,
    reason: &str,
) {
    assert_eq!(span.service, DP_SERVICE);
    assert_eq!(span.kind, SERVER);
    assert_eq!(
        span.trace_id, trace.trace_id,
        "continues the client's trace"
    );
    assert_eq!(span.parent_span_id, trace.parent_id);
    let revision = stack.revisions[policy].to_string();
    for (key, value) in [
        ("policy.id", policy),
        ("policy.revision", revision.as_str()),
        ("policy.decision", decision),
        ("policy.reason_code", reason),
        ("policy.rollout_mode", "enforced"),
        ("policy.enforced", "true"),
        ("project.id", project),
    ] {
        assert_eq!(span.attribute(key), Some(value), "{key} of {span:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_still_queued_are_flushed_on_shutdown() {
    let receiver = OtlpReceiver::start().await;
    let grpc = receiver.grpc_endpoint();
    // Batches would wait ten minutes: only the shutdown flush can deliver them in time.
    let mut stack = Stack::start(
        StackOptions {
            data_planes: 1,
            ..StackOptions::default()
        }
        .dp_env("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc)
        .dp_env("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    )
    .await;
    let trace = ClientTrace::new();
    let reply = send(
        &stack,
        &stack.dps[0].http(),
        "open-bot",
        chat("echo", "hello"),
        "otel-flushed",
        &trace,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(request_span(&receiver.spans(), "otel-flushed").is_none());

    stack.dps[0].terminate().await;
    let span = eventually("the queued span is exported at shutdown", || {
        let span = request_span(&receiver.spans(), "otel-flushed");
        async move { span }
    })
    .await;
    assert_eq!(span.trace_id, trace.trace_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_changes_no_answer_and_is_logged() {
    // Nobody listens there.
    let endpoint = format!("http://127.0.0.1:{}", e2e_tests::process::free_port());
    let stack = Stack::start(
        StackOptions {
            data_planes: 1,
            ..StackOptions::default()
        }
        .dp_env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .dp_env("OTEL_BSP_SCHEDULE_DELAY", "50"),
    )
    .await;
    let dp = &stack.dps[0];
    for n in 0..3 {
        let trace = ClientTrace::new();
        let id = format!("otel-unexported-{n}");
        let reply = send(
            &stack,
            &dp.http(),
            "open-bot",
            chat("echo", "hello"),
            &id,
            &trace,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    eventually("the failed export is logged", || {
        let logged = dp.logs().lines().any(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|v| {
                v["level"] == "ERROR" && v["name"] == "BatchSpanProcessor.ExportError"
            })
        });
        async move { logged.then_some(()) }
    })
    .await;
}
