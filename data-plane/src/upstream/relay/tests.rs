use std::collections::BTreeMap;
use std::sync::Arc;

use policy_engine::{CategorySet, CompiledPolicy, DecisionInput, Moderation};
use serde_json::{Value, json};

use super::*;

const SUPPORT: &str = include_str!("../../../../examples/policies/policy-gateway.json");

fn relay(redact: bool, strip_usage: bool) -> Relay {
    let doc: Value = serde_json::from_str(SUPPORT).unwrap();
    let policy = Arc::new(CompiledPolicy::from_json(&doc, 1).unwrap());
    let decision = policy.decide(&DecisionInput {
        text: "what is your refund policy",
        moderation: Moderation::Labels(CategorySet::EMPTY),
        hard_blocked: CategorySet::EMPTY,
    });
    Relay::new(decision, policy, redact, strip_usage)
}

fn chunk(index: u64, content: Option<&str>, finish: Option<&str>) -> String {
    let mut delta = serde_json::Map::new();
    if let Some(content) = content {
        delta.insert("content".into(), json!(content));
    }
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
           "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})
    .to_string()
}

/// The concatenated text of every choice-0 content delta in SSE output.
fn text_of(out: &[u8]) -> String {
    let text = String::from_utf8(out.to_vec()).unwrap();
    let mut collected = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let value: Value = serde_json::from_str(line).unwrap();
        if let Some(content) = value["choices"][0]["delta"]["content"].as_str() {
            collected.push_str(content);
        }
    }
    collected
}

#[test]
fn a_secret_split_across_chunks_never_leaves_unredacted() {
    let mut relay = relay(true, true);
    let pieces = ["Mail me at jo", "hn.doe@exa", "mple.com today"];
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(relay.on_event(&chunk(0, Some(piece), None)).out);
        assert!(
            !String::from_utf8_lossy(&out).contains("john.doe"),
            "leaked early"
        );
    }
    out.extend(relay.on_event(&chunk(0, None, Some("stop"))).out);
    let done = relay.on_event("[DONE]");
    assert!(done.end);
    out.extend(done.out);
    let text = text_of(&out);
    assert_eq!(text, "Mail me at [REDACTED:email] today");
    let wire = String::from_utf8(out).unwrap();
    assert!(wire.ends_with("data: [DONE]\n\n"));
    let finishing = wire
        .lines()
        .find(|l| l.contains("\"finish_reason\":\"stop\""))
        .unwrap();
    let finishing: Value = serde_json::from_str(finishing.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(finishing["policy"]["redaction_counts"]["email"], 1);
    assert_eq!(finishing["id"], "c1");
    assert_eq!(relay.decision().redaction_counts.total(), 1);
}

#[test]
fn the_usage_chunk_is_recorded_and_hidden_only_when_the_gateway_asked() {
    let usage = json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                       "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}})
    .to_string();
    let mut hidden = relay(false, true);
    assert!(hidden.on_event(&usage).out.is_empty());
    assert_eq!(
        hidden.usage(),
        Some(Usage {
            prompt_tokens: 11,
            completion_tokens: 5
        })
    );
    let mut shown = relay(false, false);
    assert!(!shown.on_event(&usage).out.is_empty());
}

#[test]
fn held_back_text_is_flushed_before_an_error_and_at_an_early_end() {
    let mut relay = relay(true, true);
    let first = relay.on_event(&chunk(0, Some("call 415-555-01"), None));
    assert!(!text_of(&first.out).contains("415"));
    let out = relay.on_error("broken", "upstream_error");
    let wire = String::from_utf8(out).unwrap();
    assert!(wire.contains("\"error\""));
    assert!(!wire.contains("[DONE]"));
    let mut early = super::tests::relay(false, true);
    early.on_event(&chunk(0, Some("partial"), None));
    let eof = String::from_utf8(early.on_eof()).unwrap();
    assert!(
        eof.contains("\"error\""),
        "a stream cut before finish_reason is an error"
    );
}

#[test]
fn choices_are_redacted_independently() {
    let mut relay = relay(true, true);
    let mut out = Vec::new();
    out.extend(relay.on_event(&chunk(0, Some("a@b"), None)).out);
    out.extend(relay.on_event(&chunk(1, Some("x@y"), None)).out);
    out.extend(relay.on_event(&chunk(0, Some(".com"), Some("stop"))).out);
    out.extend(relay.on_event(&chunk(1, Some(".org"), Some("stop"))).out);
    let wire = String::from_utf8(out).unwrap();
    assert!(!wire.contains("a@b.com") && !wire.contains("x@y.org"));
    assert_eq!(wire.matches("[REDACTED:email]").count(), 2);
}

#[test]
fn non_json_events_are_dropped_not_forwarded() {
    let mut relay = relay(true, true);
    assert!(
        relay
            .on_event("secret text that is not json")
            .out
            .is_empty()
    );
}

/// A stream chunk with one tool-call delta of choice 0.
fn tool_chunk(call: Value, finish: Option<&str>) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
           "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": finish}]})
    .to_string()
}

/// Every tool call's arguments of choice 0, reassembled as a client does (by `index`).
fn tool_arguments_of(out: &[u8]) -> BTreeMap<u64, String> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    let mut calls = BTreeMap::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let value: Value = serde_json::from_str(line).unwrap();
        for call in value["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let arguments: &mut String = calls.entry(call["index"].as_u64().unwrap()).or_default();
            arguments.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    calls
}

#[test]
fn tool_call_arguments_are_redacted_per_call_across_chunks() {
    let mut relay = relay(true, true);
    let mut out = Vec::new();
    // Two tool calls interleaved, each with an address split across its chunks.
    let events = [
        tool_chunk(
            json!({"index": 0, "id": "call_a", "type": "function",
                   "function": {"name": "send_mail", "arguments": "{\"to\": \"jo"}}),
            None,
        ),
        tool_chunk(
            json!({"index": 1, "id": "call_b", "type": "function",
                   "function": {"name": "lookup", "arguments": "{\"ip\": \"10.1"}}),
            None,
        ),
        tool_chunk(
            json!({"index": 0, "function": {"arguments": "hn.doe@exa"}}),
            None,
        ),
        tool_chunk(
            json!({"index": 1, "function": {"arguments": "2.3.4\"}"}}),
            None,
        ),
        tool_chunk(
            json!({"index": 0, "function": {"arguments": "mple.com\"}"}}),
            None,
        ),
    ];
    for event in &events {
        out.extend(relay.on_event(event).out);
        let wire = String::from_utf8_lossy(&out);
        assert!(!wire.contains("john.doe"), "leaked early: {wire}");
    }
    out.extend(relay.on_event(&chunk(0, None, Some("tool_calls"))).out);
    out.extend(relay.on_event("[DONE]").out);

    let calls = tool_arguments_of(&out);
    assert_eq!(calls[&0], "{\"to\": \"[REDACTED:email]\"}");
    assert_eq!(calls[&1], "{\"ip\": \"[REDACTED:ipv4]\"}");
    for arguments in calls.values() {
        serde_json::from_str::<Value>(arguments).expect("the arguments stay JSON");
    }
    // The ids and names the client needs still arrive.
    let wire = String::from_utf8(out).unwrap();
    for name in ["call_a", "call_b", "send_mail", "lookup"] {
        assert!(wire.contains(name), "{name} missing from {wire}");
    }
    let counts = relay.decision().redaction_counts;
    assert_eq!(counts.total(), 2, "{counts:?}");
}

#[test]
fn held_back_tool_arguments_are_flushed_at_an_early_end() {
    let mut relay = relay(true, true);
    let mut out = Vec::new();
    out.extend(
        relay
            .on_event(&tool_chunk(
                json!({"index": 0, "id": "call_a", "function": {"name": "f", "arguments": "{\"n\": \"415-555-01"}}),
                None,
            ))
            .out,
    );
    assert!(!String::from_utf8_lossy(&out).contains("415-555"));
    out.extend(relay.on_error("broken", "upstream_error"));
    let calls = tool_arguments_of(&out);
    assert!(
        calls[&0].starts_with("{\"n\": \""),
        "held-back text comes out before the error: {calls:?}"
    );
}
