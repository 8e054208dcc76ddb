#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn chat(messages: Value) -> Value {
    json!({"model": "gpt-4o-mini", "messages": messages})
}

#[test]
fn a_gateway_system_message_is_acknowledged() {
    let request = chat(json!([
        {"role": "system", "content": "Stay on topic."},
        {"role": "user", "content": "How do I contact you?"}
    ]));
    assert_eq!(answer_text(&request), STAYS_ON_TOPIC);
}

#[test]
fn contact_questions_get_personal_data_to_redact() {
    let request = chat(json!([{"role": "user", "content": [
        {"type": "text", "text": "Who do I"}, {"type": "text", "text": "CONTACT?"}
    ]}]));
    assert_eq!(answer_text(&request), CONTACT);
    assert!(CONTACT.contains("oncall@example.com"));
    let plain = chat(json!([{"role": "user", "content": "What is the refund policy?"}]));
    assert_eq!(answer_text(&plain), PLAIN);
}

#[test]
fn whole_answers_carry_usage_and_the_requested_model() {
    let request = chat(json!([{"role": "user", "content": "12345678"}]));
    let answer = completion(&request, 7);
    assert_eq!(answer["model"], "gpt-4o-mini");
    assert_eq!(answer["choices"][0]["message"]["content"], PLAIN);
    assert_eq!(answer["usage"]["prompt_tokens"], 2);
    assert_eq!(
        answer["usage"]["total_tokens"].as_u64().unwrap(),
        2 + (PLAIN.len() as u64).div_ceil(4)
    );
}

#[test]
fn streams_reassemble_to_the_same_text_and_end_with_done() {
    let mut request = chat(json!([{"role": "user", "content": "hi"}]));
    request["stream"] = json!(true);
    let events = completion_events(&request, 7);
    assert!(events.ends_with("data: [DONE]\n\n"));
    let chunks: Vec<Value> = events
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, PLAIN);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));

    request["stream_options"] = json!({"include_usage": true});
    let with_usage = completion_events(&request, 7);
    assert!(with_usage.contains("\"choices\":[],"), "{with_usage}");
}
