//! A small reader over `serde_json::Value` that records a problem and carries on, so one
//! pass reports every violation of a document instead of stopping at the first.

use serde::Serialize;
use serde_json::{Map, Value};

/// One problem with a document: where (RFC 6901 JSON pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

/// More problems than this are summarised in one last entry: a list of 10,000 bad terms
/// should not become 10,000 lines.
const MAX_REPORTED: usize = 200;

#[derive(Default)]
pub(crate) struct Problems {
    errors: Vec<ValidationError>,
    unreported: usize,
}

impl Problems {
    pub(crate) fn add(&mut self, pointer: &str, message: impl Into<String>) {
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(ValidationError {
                pointer: pointer.to_string(),
                message: message.into(),
            });
        } else {
            self.unreported += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_errors(mut self) -> Vec<ValidationError> {
        if self.unreported > 0 {
            self.errors.push(ValidationError {
                pointer: String::new(),
                message: format!("{} more problems not listed", self.unreported),
            });
        }
        self.errors
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub(crate) fn child(pointer: &str, token: &str) -> String {
    let escaped = token.replace('~', "~0").replace('/', "~1");
    format!("{pointer}/{escaped}")
}

/// An object whose keys have been checked against the schema.
pub(crate) struct Object<'v> {
    map: &'v Map<String, Value>,
    pointer: String,
}

impl<'v> Object<'v> {
    /// Reads `value` as an object with the given known keys. Unknown keys are errors (a typo
    /// must not silently disable a rule); `null` or a missing object reads as empty.
    pub(crate) fn read(
        problems: &mut Problems,
        value: Option<&'v Value>,
        pointer: &str,
        known: &[&str],
    ) -> Option<Object<'v>> {
        static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        let map = match value {
            None | Some(Value::Null) => &*EMPTY,
            Some(Value::Object(map)) => map,
            Some(other) => {
                problems.add(
                    pointer,
                    format!("expected an object, found {}", kind(other)),
                );
                return None;
            }
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                problems.add(&child(pointer, key), unknown_field_message(key, known));
            }
        }
        Some(Object {
            map,
            pointer: pointer.to_string(),
        })
    }

    /// The value at `key`, treating `null` as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn pointer(&self, key: &str) -> String {
        child(&self.pointer, key)
    }

    pub(crate) fn bool_or(&self, problems: &mut Problems, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                problems.add(
                    &self.pointer(key),
                    format!("expected true or false, found {}", kind(other)),
                );
                default
            }
        }
    }

    /// An optional string, trimmed; blank strings and strings over `max_chars` are errors.
    pub(crate) fn text(
        &self,
        problems: &mut Problems,
        key: &str,
        max_chars: usize,
    ) -> Option<String> {
        let value = self.get(key)?;
        let pointer = self.pointer(key);
        let Some(s) = value.as_str() else {
            problems.add(
                &pointer,
                format!("expected a string, found {}", kind(value)),
            );
            return None;
        };
        let trimmed = s.trim();
        if trimmed.is_empty() {
            problems.add(&pointer, "must not be blank (omit the field instead)");
            return None;
        }
        let chars = trimmed.chars().count();
        if chars > max_chars {
            problems.add(
                &pointer,
                format!("must be at most {max_chars} characters, found {chars}"),
            );
            return None;
        }
        Some(trimmed.to_string())
    }

    pub(crate) fn required_text(
        &self,
        problems: &mut Problems,
        key: &str,
        max_chars: usize,
    ) -> Option<String> {
        if self.get(key).is_none() {
            problems.add(&self.pointer(key), "is required");
            return None;
        }
        self.text(problems, key, max_chars)
    }

    /// A string naming one of `names`, parsed by `parse`.
    pub(crate) fn choice<T>(
        &self,
        problems: &mut Problems,
        key: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let value = self.get(key)?;
        let parsed = value.as_str().and_then(&parse);
        if parsed.is_none() {
            problems.add(
                &self.pointer(key),
                format!("expected one of {}", names.join(", ")),
            );
        }
        parsed
    }

    /// A non-negative integer.
    pub(crate) fn count(&self, problems: &mut Problems, key: &str) -> Option<u64> {
        let value = self.get(key)?;
        let parsed = value.as_u64();
        if parsed.is_none() {
            problems.add(
                &self.pointer(key),
                format!("expected a non-negative integer, found {}", describe(value)),
            );
        }
        parsed
    }

    /// A positive integer, or `default` when absent.
    pub(crate) fn positive_or(&self, problems: &mut Problems, key: &str, default: u64) -> u64 {
        match self.get(key) {
            None => default,
            Some(value) => match value.as_u64() {
                Some(n) if n > 0 => n,
                _ => {
                    problems.add(
                        &self.pointer(key),
                        format!("expected a positive integer, found {}", describe(value)),
                    );
                    default
                }
            },
        }
    }

    /// A number within `[min, max]`.
    pub(crate) fn number_in(
        &self,
        problems: &mut Problems,
        key: &str,
        min: f64,
        max: f64,
    ) -> Option<f64> {
        let value = self.get(key)?;
        match value.as_f64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                problems.add(
                    &self.pointer(key),
                    format!(
                        "expected a number from {min} to {max}, found {}",
                        describe(value)
                    ),
                );
                None
            }
        }
    }

    /// An array, each element handed to `item` with its pointer.
    pub(crate) fn array(
        &self,
        problems: &mut Problems,
        key: &str,
        mut item: impl FnMut(&mut Problems, &str, &'v Value),
    ) -> Option<usize> {
        let value = self.get(key)?;
        let pointer = self.pointer(key);
        let Some(items) = value.as_array() else {
            problems.add(
                &pointer,
                format!("expected an array, found {}", kind(value)),
            );
            return None;
        };
        for (index, element) in items.iter().enumerate() {
            item(problems, &child(&pointer, &index.to_string()), element);
        }
        Some(items.len())
    }
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_string(),
    }
}

fn unknown_field_message(key: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d);
    match closest {
        Some((_, suggestion)) => format!("unknown field {key:?}; did you mean {suggestion:?}?"),
        None => format!(
            "unknown field {key:?}; expected one of {}",
            known.join(", ")
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
