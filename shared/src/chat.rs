//! What the engine reads from an OpenAI-style chat request (SPEC §2): the text of the last
//! message with role `user`.

use std::borrow::Cow;

use serde_json::Value;

/// The last user message's text: its string content, or its `text` parts concatenated in
/// order. `None` when there is no user message or it carries no text (an image-only
/// message is then decided on an empty text).
pub fn last_user_text(messages: &[Value]) -> Option<Cow<'_, str>> {
    let message = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    match message.get("content")? {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Array(parts) => {
            let mut texts = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str));
            let first = texts.next()?;
            match texts.next() {
                None => Some(Cow::Borrowed(first)),
                Some(second) => {
                    let mut joined = format!("{first}{second}");
                    texts.for_each(|t| joined.push_str(t));
                    Some(Cow::Owned(joined))
                }
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_the_last_user_message_not_the_last_message() {
        let messages = [
            json!({"role": "system", "content": "be nice"}),
            json!({"role": "user", "content": "first"}),
            json!({"role": "assistant", "content": "reply"}),
            json!({"role": "user", "content": "second"}),
            json!({"role": "assistant", "content": "another"}),
        ];
        assert_eq!(last_user_text(&messages).as_deref(), Some("second"));
    }

    #[test]
    fn concatenates_text_parts_and_skips_images() {
        let messages = [json!({"role": "user", "content": [
            {"type": "text", "text": "refund "},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "policy"},
            {"type": "text", "text": "?"}
        ]})];
        assert_eq!(last_user_text(&messages).as_deref(), Some("refund policy?"));
    }

    #[test]
    fn no_user_message_or_no_text_is_none() {
        assert_eq!(
            last_user_text(&[json!({"role": "system", "content": "x"})]),
            None
        );
        let image_only = [
            json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}),
        ];
        assert_eq!(last_user_text(&image_only), None);
        assert_eq!(
            last_user_text(&[json!({"role": "user", "content": null})]),
            None
        );
    }
}
