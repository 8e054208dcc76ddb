//! The fields of an answer that carry model text, which redaction must scan (SPEC §2.7):
//! a message's (or stream delta's) `content` and `refusal`, and the arguments the model
//! wrote for its tool calls (`tool_calls[].function.arguments`, and the older
//! `function_call.arguments`). Arguments are JSON text, redacted value by value so they
//! stay JSON ([`JsonStreamRedactor`]).

use policy_engine::redact::{JsonStreamRedactor, RedactionCounts, Redactor, StreamRedactor};
use serde_json::{Map, Value, json};

/// One text field of a message or delta; tool calls are told apart by their `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TextField {
    Content,
    Refusal,
    ToolArguments(u64),
    FunctionArguments,
}

impl TextField {
    fn is_json(self) -> bool {
        match self {
            TextField::Content | TextField::Refusal => false,
            TextField::ToolArguments(_) | TextField::FunctionArguments => true,
        }
    }
}

/// Redacts a whole field's text; `None` when nothing was replaced.
pub fn redact_whole(field: TextField, text: &str) -> Option<(String, RedactionCounts)> {
    let redactor = Redactor::builtin();
    let (text, counts) = if field.is_json() {
        redactor.redact_json(text)
    } else {
        let redacted = redactor.redact(text);
        (redacted.text.into_owned(), redacted.counts)
    };
    (!counts.is_empty()).then_some((text, counts))
}

/// The streaming redactor of one field of one choice.
#[derive(Debug)]
pub enum FieldRedactor {
    Text(StreamRedactor<'static>),
    Json(JsonStreamRedactor<'static>),
}

impl FieldRedactor {
    pub fn for_field(field: TextField) -> FieldRedactor {
        let redactor = Redactor::builtin();
        if field.is_json() {
            FieldRedactor::Json(redactor.stream_json())
        } else {
            FieldRedactor::Text(redactor.stream())
        }
    }

    pub fn push(&mut self, chunk: &str) -> String {
        match self {
            FieldRedactor::Text(stream) => stream.push(chunk),
            FieldRedactor::Json(stream) => stream.push(chunk),
        }
    }

    pub fn finish(&mut self) -> String {
        match self {
            FieldRedactor::Text(stream) => stream.finish(),
            FieldRedactor::Json(stream) => stream.finish(),
        }
    }

    pub fn counts(&self) -> &RedactionCounts {
        match self {
            FieldRedactor::Text(stream) => stream.counts(),
            FieldRedactor::Json(stream) => stream.counts(),
        }
    }
}

/// Calls `visit` with every text field present in `message`.
pub fn for_each_text(
    message: &mut Map<String, Value>,
    mut visit: impl FnMut(TextField, &mut String),
) {
    for (key, value) in message.iter_mut() {
        match (key.as_str(), value) {
            ("content", Value::String(text)) => visit(TextField::Content, text),
            ("refusal", Value::String(text)) => visit(TextField::Refusal, text),
            ("tool_calls", Value::Array(calls)) => {
                for (position, call) in calls.iter_mut().enumerate() {
                    // Stream deltas number their tool calls; whole messages list them in order.
                    let index = call
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(position as u64);
                    if let Some(Value::String(arguments)) = call.pointer_mut("/function/arguments")
                    {
                        visit(TextField::ToolArguments(index), arguments);
                    }
                }
            }
            ("function_call", Value::Object(call)) => {
                if let Some(Value::String(arguments)) = call.get_mut("arguments") {
                    visit(TextField::FunctionArguments, arguments);
                }
            }
            _ => {}
        }
    }
}

/// Appends `text` to `field` of a stream delta, creating the field (and the tool call
/// entry it belongs to) when the delta does not have it.
pub fn append_text(delta: &mut Map<String, Value>, field: TextField, text: &str) {
    let target = match field {
        TextField::Content => delta.entry("content").or_insert(Value::Null),
        TextField::Refusal => delta.entry("refusal").or_insert(Value::Null),
        TextField::FunctionArguments => {
            function_arguments(delta.entry("function_call").or_insert_with(|| json!({})))
        }
        TextField::ToolArguments(index) => {
            let calls = delta.entry("tool_calls").or_insert_with(|| json!([]));
            if !calls.is_array() {
                *calls = json!([]);
            }
            let Some(calls) = calls.as_array_mut() else {
                return;
            };
            let position = calls
                .iter()
                .position(|call| call.get("index").and_then(Value::as_u64) == Some(index));
            let call = match position {
                Some(position) => &mut calls[position],
                None => {
                    calls.push(json!({ "index": index }));
                    let last = calls.len() - 1;
                    &mut calls[last]
                }
            };
            if !call.get("function").is_some_and(Value::is_object) {
                call["function"] = json!({});
            }
            function_arguments(&mut call["function"])
        }
    };
    match target {
        Value::String(existing) => existing.push_str(text),
        other => *other = Value::String(text.to_string()),
    }
}

/// The `arguments` slot of a function object (made an object when it is not one).
fn function_arguments(function: &mut Value) -> &mut Value {
    if !function.is_object() {
        *function = json!({});
    }
    &mut function["arguments"]
}

#[cfg(test)]
mod tests;
