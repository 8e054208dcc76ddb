//! Assertions shared by the tests.

use e2e_tests::{Http, Reply, StackOptions};
use serde_json::{Value, json};

/// A 200 with a decision: headers and the `policy` record agree, the revision is the one
/// the control plane saved, and a stream is well-formed (every chunk has `choices[0]`,
/// it ends with `[DONE]`). Returns the record.
pub fn assert_decided(reply: &Reply, decision: &str, reason: &str, revision: i64) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(!reply.header("x-request-id").is_empty());
    assert_eq!(
        reply.header("x-policy-decision"),
        decision,
        "{}",
        reply.text()
    );
    assert_eq!(reply.header("x-policy-revision"), revision.to_string());
    if reply.is_stream() {
        let events = reply.events();
        assert_eq!(events.last(), Some(&json!("[DONE]")), "{events:?}");
        for event in &events[..events.len() - 1] {
            // Only the usage chunk a client asked for (`stream_options.include_usage`)
            // has no choice, as with OpenAI.
            let usage_chunk = event["choices"] == json!([]) && event["usage"].is_object();
            assert!(
                event["choices"][0].is_object() || usage_chunk,
                "a chunk without choices[0]: {event}"
            );
        }
    }
    // A stream's headers go out before redaction is known: there REDACT shows as ALLOW.
    let header = reply.header("x-policy-reason-code");
    assert!(
        header == reason || (reply.is_stream() && reason == "REDACT" && header == "ALLOW"),
        "x-policy-reason-code {header}, expected {reason}"
    );
    let policy = reply.policy();
    assert_eq!(policy["decision"], decision, "{policy}");
    assert_eq!(policy["reason_code"], reason, "{policy}");
    assert_eq!(policy["revision"], revision, "{policy}");
    assert_eq!(policy["enforced"], true, "{policy}");
    assert_eq!(policy["rollout_mode"], "enforced", "{policy}");
    policy
}

/// An error in OpenAI's shape with `status` and `code`, carrying `X-Request-Id`.
pub fn assert_error(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(
        reply.status,
        status,
        "expected {status} {code}: {}",
        reply.text()
    );
    assert!(!reply.header("x-request-id").is_empty());
    let body = reply.json();
    let error = &body["error"];
    for field in ["message", "type", "param", "code"] {
        assert!(error.get(field).is_some(), "no {field} in {body}");
    }
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(error["code"], code, "{body}");
    error.clone()
}

/// An answer the gateway made itself (escalate, refuse): a chat completion, or its
/// chunks, ending in `content_filter`; `refusal` says whether `refusal` is set.
pub fn assert_blocked_shape(reply: &Reply, refusal: bool) {
    if reply.is_stream() {
        let events = reply.events();
        assert_eq!(events[0]["object"], "chat.completion.chunk", "{events:?}");
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
        let refusal_text = events
            .iter()
            .any(|e| e["choices"][0]["delta"]["refusal"].is_string());
        assert_eq!(refusal_text, refusal, "{events:?}");
        assert_eq!(reply.finish_reason(), "content_filter");
    } else {
        let body = reply.json();
        assert_eq!(body["object"], "chat.completion", "{body}");
        assert_eq!(body["model"], "echo");
        let choice = &body["choices"][0];
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["finish_reason"], "content_filter");
        assert_eq!(choice["message"]["refusal"].is_string(), refusal, "{body}");
        assert_eq!(body["usage"]["total_tokens"], 0, "{body}");
    }
    assert!(
        !reply.content().is_empty() || refusal,
        "an explanation for the caller"
    );
}

/// Percentile `p` (0–100) of `samples` (nearest rank).
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `dp_audit_spool_depth{kind}` from a node's metrics: records on its disk that the
/// control plane has not acknowledged.
pub async fn spool_depth(http: &Http, kind: &str) -> u64 {
    let metrics = http.get("/metrics").await.text();
    let prefix = format!("dp_audit_spool_depth{{kind=\"{kind}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in the metrics:\n{metrics}"))
}

/// The seed policy has a user quota, and data planes fail closed on quotas while the
/// control plane is down unless they have an offline allowance (SPEC §4, docs/quotas.md);
/// tests about what else keeps working during an outage give them one.
pub fn offline_allowance(options: StackOptions) -> StackOptions {
    options
        .dp_env("DP_QUOTA_OFFLINE_REQUESTS", "100000")
        .dp_env("DP_QUOTA_OFFLINE_TOKENS", "100000000")
}
