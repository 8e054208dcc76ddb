//! A streamed chat completion as the client sees it (SPEC §2.7, §3.4; LESSONS "Redaction"
//! and "OpenAI wire fidelity").
//!
//! Each upstream event is re-emitted as soon as it is safe:
//! - with redaction on, every `(choice index, text field)` — `delta.content`,
//!   `delta.refusal` and each tool call's `function.arguments` ([`TextField`]) — has its
//!   own streaming redactor ([`FieldRedactor`]; JSON-aware for arguments); a chunk carries only the text the redactor released, and
//!   held-back text is flushed on that choice's `finish_reason`, on `[DONE]`, on an
//!   upstream error and at the end of the body, so unscanned text is never sent and a
//!   secret split across chunks is still caught;
//! - chunks keep their own `id`, `created`, `model` and `index`; a chunk left with
//!   nothing to say (all its text held back) is skipped;
//! - the usage-only chunk (`choices: []`) is recorded, and dropped when the gateway
//!   added `stream_options.include_usage` itself;
//! - the chunk carrying a `finish_reason` gets the top-level `policy` record.

use std::collections::BTreeMap;
use std::sync::Arc;

use policy_engine::redact::RedactionCounts;
use policy_engine::{CompiledPolicy, Decision};
use serde_json::{Map, Value, json};

use super::text::{FieldRedactor, TextField, append_text, for_each_text};

/// Token counts reported by the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    /// `usage` of a completion or chunk, when present and well-formed.
    pub fn from_json(value: &Value) -> Option<Usage> {
        Some(Usage {
            prompt_tokens: value.get("prompt_tokens")?.as_u64()?,
            completion_tokens: value.get("completion_tokens")?.as_u64()?,
        })
    }
}

/// What one upstream event turned into.
#[derive(Debug, Default)]
pub struct Step {
    /// SSE frames for the client, possibly none.
    pub out: Vec<u8>,
    /// The stream is over (`[DONE]` or an error event).
    pub end: bool,
}

pub struct Relay {
    redact: bool,
    strip_usage: bool,
    redactors: BTreeMap<(u64, TextField), FieldRedactor>,
    base: Decision,
    policy: Arc<CompiledPolicy>,
    /// `id`, `created`, `model` of the last chunk, for chunks the gateway has to add.
    meta: Map<String, Value>,
    usage: Option<Usage>,
    /// Bytes of model text seen, for estimating tokens when the upstream reports none.
    completion_bytes: usize,
    finished: bool,
}

impl Relay {
    /// `decision` is the enforced decision before redaction; `strip_usage` is set when the
    /// gateway asked for usage on the client's behalf.
    pub fn new(
        decision: Decision,
        policy: Arc<CompiledPolicy>,
        redact: bool,
        strip_usage: bool,
    ) -> Relay {
        Relay {
            redact,
            strip_usage,
            redactors: BTreeMap::new(),
            base: decision,
            policy,
            meta: Map::new(),
            usage: None,
            completion_bytes: 0,
            finished: false,
        }
    }

    /// The decision with what redaction did so far.
    pub fn decision(&self) -> Decision {
        let mut decision = self.base.clone();
        if self.redact {
            let mut counts = RedactionCounts::default();
            for redactor in self.redactors.values() {
                counts.add(redactor.counts());
            }
            decision.record_redaction(&self.policy, &counts);
        }
        decision
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    pub fn completion_bytes(&self) -> usize {
        self.completion_bytes
    }

    /// Whether a `finish_reason` was seen (a stream ending after it ended normally).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Handles the `data` of one upstream event.
    pub fn on_event(&mut self, data: &str) -> Step {
        if data.trim() == "[DONE]" {
            let mut out = self.flush();
            out.extend_from_slice(b"data: [DONE]\n\n");
            return Step { out, end: true };
        }
        let Ok(mut chunk) = serde_json::from_str::<Value>(data) else {
            // Unparseable text cannot be scanned field by field; it is not forwarded.
            tracing::warn!("upstream sent a stream event that is not JSON; dropped");
            return Step::default();
        };
        if chunk.get("error").is_some() {
            let mut out = self.flush();
            frame(&mut out, &chunk);
            return Step { out, end: true };
        }
        for key in ["id", "object", "created", "model", "system_fingerprint"] {
            if let Some(value) = chunk.get(key) {
                self.meta.insert(key.to_string(), value.clone());
            }
        }
        let usage = chunk.get("usage").and_then(Usage::from_json);
        if usage.is_some() {
            self.usage = usage;
        }
        let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else {
            return self.pass_usage_chunk(chunk, usage.is_some());
        };
        if choices.is_empty() {
            return self.pass_usage_chunk(chunk, usage.is_some());
        }
        let mut keep = usage.is_some();
        let mut finishing = false;
        for (position, choice) in choices.iter_mut().enumerate() {
            let index = choice
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let finish = choice.get("finish_reason").is_some_and(|f| !f.is_null());
            if let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) {
                keep |= self.on_delta(index, delta, finish);
            }
            if finish {
                finishing = true;
                keep = true;
            }
        }
        if finishing {
            self.finished = true;
            if let (Some(object), Ok(policy)) =
                (chunk.as_object_mut(), serde_json::to_value(self.decision()))
            {
                object.insert("policy".to_string(), policy);
            }
        }
        let mut out = Vec::new();
        if keep {
            frame(&mut out, &chunk);
        }
        Step { out, end: false }
    }

    /// Redacts one choice's delta in place; returns whether it still says something.
    fn on_delta(&mut self, index: u64, delta: &mut Map<String, Value>, finish: bool) -> bool {
        let (redact, redactors) = (self.redact, &mut self.redactors);
        for_each_text(delta, |field, text| {
            self.completion_bytes += text.len();
            if redact {
                let redactor = redactors
                    .entry((index, field))
                    .or_insert_with(|| FieldRedactor::for_field(field));
                *text = redactor.push(text);
            }
        });
        if redact && finish {
            for ((_, field), redactor) in self
                .redactors
                .range_mut((index, TextField::Content)..=(index, TextField::FunctionArguments))
            {
                let rest = redactor.finish();
                if !rest.is_empty() {
                    append_text(delta, *field, &rest);
                }
            }
        }
        delta
            .iter()
            .any(|(key, value)| match (key.as_str(), value) {
                ("content" | "refusal", Value::String(text)) => !text.is_empty(),
                ("content" | "refusal", Value::Null) => false,
                _ => true,
            })
    }

    fn pass_usage_chunk(&mut self, chunk: Value, has_usage: bool) -> Step {
        let mut out = Vec::new();
        if !(has_usage && self.strip_usage) {
            frame(&mut out, &chunk);
        }
        Step { out, end: false }
    }

    /// Releases everything held back, as chunks of their own.
    pub fn flush(&mut self) -> Vec<u8> {
        let mut per_choice: BTreeMap<u64, Map<String, Value>> = BTreeMap::new();
        for ((index, field), redactor) in &mut self.redactors {
            let rest = redactor.finish();
            if !rest.is_empty() {
                append_text(per_choice.entry(*index).or_default(), *field, &rest);
            }
        }
        let mut out = Vec::new();
        for (index, delta) in per_choice {
            let mut chunk = self.meta.clone();
            chunk.insert("object".into(), json!("chat.completion.chunk"));
            chunk.insert(
                "choices".into(),
                json!([{ "index": index, "delta": delta, "finish_reason": null }]),
            );
            frame(&mut out, &Value::Object(chunk));
        }
        out
    }

    /// The stream broke: what is held back (redacted), then an error event.
    pub fn on_error(&mut self, message: &str, code: &str) -> Vec<u8> {
        let mut out = self.flush();
        let error = json!({"error": {
            "message": message, "type": "upstream_error", "param": null, "code": code,
        }});
        frame(&mut out, &error);
        out
    }

    /// The upstream body ended without `[DONE]`.
    pub fn on_eof(&mut self) -> Vec<u8> {
        if self.finished {
            let mut out = self.flush();
            out.extend_from_slice(b"data: [DONE]\n\n");
            out
        } else {
            self.on_error(
                "the upstream stream ended before the completion finished",
                "upstream_error",
            )
        }
    }
}

fn frame(out: &mut Vec<u8>, value: &Value) {
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests;
