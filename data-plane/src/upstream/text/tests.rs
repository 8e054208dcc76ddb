use serde_json::{Map, Value, json};

use super::*;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

fn visited(message: &mut Map<String, Value>) -> Vec<(TextField, String)> {
    let mut seen = Vec::new();
    for_each_text(message, |field, text| seen.push((field, text.clone())));
    seen.sort();
    seen
}

#[test]
fn every_text_field_of_a_message_is_visited() {
    let mut message = object(json!({
        "role": "assistant",
        "content": "hello",
        "refusal": null,
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}
        ],
        "function_call": {"name": "h", "arguments": "{\"y\": 2}"}
    }));
    assert_eq!(
        visited(&mut message),
        vec![
            (TextField::Content, "hello".to_string()),
            (TextField::ToolArguments(0), "{\"x\": 1}".to_string()),
            (TextField::ToolArguments(1), "{}".to_string()),
            (TextField::FunctionArguments, "{\"y\": 2}".to_string()),
        ]
    );
}

#[test]
fn stream_deltas_name_tool_calls_by_their_index() {
    let mut delta = object(json!({
        "tool_calls": [{"index": 3, "function": {"arguments": "{\"q\""}}]
    }));
    assert_eq!(
        visited(&mut delta),
        vec![(TextField::ToolArguments(3), "{\"q\"".to_string())]
    );
}

#[test]
fn visiting_can_rewrite_the_text() {
    let mut message = object(json!({
        "content": "a",
        "tool_calls": [{"function": {"arguments": "b"}}]
    }));
    for_each_text(&mut message, |_, text| text.push('!'));
    assert_eq!(message["content"], "a!");
    assert_eq!(message["tool_calls"][0]["function"]["arguments"], "b!");
}

#[test]
fn appending_extends_or_creates_the_field() {
    let mut delta = object(json!({"content": "ab"}));
    append_text(&mut delta, TextField::Content, "cd");
    append_text(&mut delta, TextField::Refusal, "no");
    append_text(&mut delta, TextField::FunctionArguments, "{}");
    assert_eq!(
        Value::Object(delta),
        json!({"content": "abcd", "refusal": "no", "function_call": {"arguments": "{}"}})
    );
}

#[test]
fn appending_tool_arguments_finds_or_adds_the_call_by_index() {
    let mut delta = object(json!({
        "tool_calls": [{"index": 1, "id": "c1", "function": {"name": "f", "arguments": "{\"a\""}}]
    }));
    append_text(&mut delta, TextField::ToolArguments(1), ": 1}");
    append_text(&mut delta, TextField::ToolArguments(2), "{}");
    assert_eq!(
        delta["tool_calls"],
        json!([
            {"index": 1, "id": "c1", "function": {"name": "f", "arguments": "{\"a\": 1}"}},
            {"index": 2, "function": {"arguments": "{}"}}
        ])
    );

    let mut empty = Map::new();
    append_text(&mut empty, TextField::ToolArguments(0), "x");
    assert_eq!(
        Value::Object(empty),
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "x"}}]})
    );
}
