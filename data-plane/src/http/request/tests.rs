use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::*;

fn limits() -> Limits {
    Limits {
        max_body_bytes: 1 << 20,
        allowed_models: None,
    }
}

fn parse_json(body: serde_json::Value, headers: &HeaderMap) -> Result<ChatRequest, ApiError> {
    parse(body.to_string().as_bytes(), headers, &limits())
}

#[test]
fn body_fields_win_over_headers_and_are_stripped() {
    let mut headers = HeaderMap::new();
    headers.insert("x-policy-user", HeaderValue::from_static("Header User"));
    headers.insert(
        "x-policy-project",
        HeaderValue::from_static("Knowledge Bot"),
    );
    headers.insert(
        "x-policy-target",
        HeaderValue::from_static("  Knowledge   Bot "),
    );
    let request = parse_json(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
               "policy_user": "Alice.Smith", "policy_id": " policy-gateway ",
               "user": "openai-user", "metadata": {"k": "v"}}),
        &headers,
    )
    .unwrap();
    assert_eq!(request.meta.user.as_deref(), Some("alice-smith"));
    assert_eq!(request.meta.policy_id.as_deref(), Some("policy-gateway"));
    assert_eq!(request.meta.project.as_deref(), Some("knowledge-bot"));
    assert_eq!(request.meta.target.as_deref(), Some("knowledge bot"));
    assert!(request.modified);
    assert!(!request.body.contains_key("policy_user"));
    assert!(!request.body.contains_key("policy_id"));
    assert_eq!(request.body["user"], "openai-user");
    assert_eq!(request.body["metadata"], json!({"k": "v"}));
}

#[test]
fn shape_errors_are_400s_naming_the_parameter() {
    let headers = HeaderMap::new();
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (json!({"model": 3, "messages": []}), "model"),
        (json!({"model": "m"}), "messages"),
        (json!({"model": "m", "messages": "hello"}), "messages"),
        (json!({"model": "m", "messages": []}), "messages"),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            "messages",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user"}]}),
            "messages",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "messages",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "policy_user": 5}),
            "policy_user",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            "stream",
        ),
    ];
    for (body, param) in cases {
        let error = parse_json(body.clone(), &headers).unwrap_err();
        assert_eq!(error.status(), 400, "{body}");
        assert_eq!(error.body()["error"]["param"], param, "{body}");
    }
    let error = parse(b"{not json", &headers, &limits()).unwrap_err();
    assert_eq!(error.body()["error"]["code"], "invalid_json");
    let error = parse(b"[1]", &headers, &limits()).unwrap_err();
    assert_eq!(error.status(), 400);
}

#[test]
fn tool_call_turns_may_omit_content_and_models_can_be_restricted() {
    let headers = HeaderMap::new();
    let body = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "tool_calls": [{"id": "c1"}]},
        {"role": "tool", "content": "42", "tool_call_id": "c1"}
    ], "stream": true, "stream_options": {"include_usage": false}});
    let request = parse_json(body.clone(), &headers).unwrap();
    assert!(request.stream);
    assert_eq!(request.include_usage, Some(false));
    assert!(!request.modified);
    assert_eq!(prompt_bytes(&request.body), 4);

    let restricted = Limits {
        max_body_bytes: 1 << 20,
        allowed_models: Some(["gpt-4o-mini".to_string()].into_iter().collect()),
    };
    let error = parse(body.to_string().as_bytes(), &headers, &restricted).unwrap_err();
    assert_eq!(error.body()["error"]["code"], "model_not_allowed");
}
