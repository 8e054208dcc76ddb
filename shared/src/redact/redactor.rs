//! The redactor and its whole-text entry point.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use phonenumber::metadata::DATABASE;

use super::kind::RedactionCounts;
use super::phone_plan::NumberingPlans;
use super::scanner::{self, AtSigns, Event};
use super::stream::StreamRedactor;
use super::window::Window;

/// Text after redaction, and what was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    /// The redacted text; borrowed from the input when nothing was replaced.
    pub text: Cow<'a, str>,
    /// How many matches of each kind were replaced.
    pub counts: RedactionCounts,
}

/// The redaction detectors, ready to run.
///
/// Building one loads the phone-number metadata, which takes a noticeable fraction of a
/// second, and each calling code's numbering plan is compiled the first time a number
/// with that code shows up; so build one once (or use [`Redactor::builtin`]) and share
/// it: it is `Send + Sync` and every method takes `&self`.
pub struct Redactor {
    phones: NumberingPlans,
}

static BUILTIN: LazyLock<Redactor> = LazyLock::new(Redactor::new);

impl Redactor {
    /// Builds a redactor with every kind of [`super::RedactionKind`] enabled.
    pub fn new() -> Redactor {
        Redactor {
            phones: NumberingPlans::new(&DATABASE),
        }
    }

    /// The process-wide redactor, built on first use.
    pub fn builtin() -> &'static Redactor {
        &BUILTIN
    }

    pub(super) fn phone_plans(&self) -> &NumberingPlans {
        &self.phones
    }

    /// Redacts a whole text. Allocates only when something is replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Redacted<'a> {
        let window = Window::new(text.as_bytes(), true);
        let mut out: Option<String> = None;
        let mut counts = RedactionCounts::default();
        let mut pos = 0;
        let mut at_signs = AtSigns::default();
        // Finished text never leaves a decision open, so the scan ends in `Done`.
        while let Event::Match(found) = scanner::next(self, &window, pos, &mut at_signs) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[pos..found.start]);
            out.push_str(found.kind.replacement());
            counts.bump(found.kind);
            pos = found.end;
        }
        let text = match out {
            Some(mut out) => {
                out.push_str(&text[pos..]);
                Cow::Owned(out)
            }
            None => Cow::Borrowed(text),
        };
        Redacted { text, counts }
    }

    /// Starts redacting a stream of chunks; see [`StreamRedactor`].
    pub fn stream(&self) -> StreamRedactor<'_> {
        StreamRedactor::new(self)
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").finish_non_exhaustive()
    }
}

/// Redacts a whole text with [`Redactor::builtin`].
pub fn redact(text: &str) -> Redacted<'_> {
    Redactor::builtin().redact(text)
}
