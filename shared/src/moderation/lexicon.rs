//! The `builtin` moderation provider: a deterministic lexicon classifier (SPEC §2.2).
//!
//! A lexicon is a list of [`LexiconEntry`]s: literal phrases per category, plus regex
//! patterns for phrasings with a variable middle. Matching folds ASCII case, treats any run
//! of whitespace as one space and only counts hits that sit on word boundaries, so
//! "therapist" never hits "rapist" and "how to make methane" never hits "how to make meth".
//!
//! How it stays fast: one aho-corasick automaton holds every literal of every category,
//! but an automaton that large, searched case-insensitively, gets no SIMD prefilter and
//! scans about 0.6 bytes/ns: ~6 µs for a 4 KiB message, more than the whole policy budget
//! of SPEC §12. So the message is lowercased once, and a first pass looks only for a few
//! dozen *anchor* words, chosen at compile time so that every literal contains one
//! ([`anchors`](super::anchors)); that automaton is small enough for SIMD search. Only the
//! short windows around anchor hits go through the full automaton (whitespace collapsed
//! there, not in the whole message), and a pattern runs only near a window where one of
//! its cues was found. Anchors decide where to look, never what is reported: the result is
//! exactly that of matching every literal against the whole normalised message.

use std::fmt;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;

use crate::category::{Category, CategorySet};
use crate::moderation::error::LexiconError;
use crate::moderation::{compile, lexicon_data, scan};

/// One category's share of a lexicon.
#[derive(Debug, Clone, Copy)]
pub struct LexiconEntry<'a> {
    /// The category a hit on any term or pattern of this entry reports.
    pub category: Category,
    /// Phrases matched literally (ASCII case-insensitive, whitespace-insensitive, on word
    /// boundaries). Terms are ASCII; a straight apostrophe also matches a typographic one.
    pub terms: &'a [&'a str],
    /// Regexes for phrasings with a variable middle, which a short list of terms cannot
    /// cover.
    pub patterns: &'a [LexiconPattern<'a>],
}

/// A regex tried only near its cues.
///
/// When one of the cues occurs, the regex is tried on the stretch of the message around
/// it: at least 128 bytes either side, whitespace runs counted once. Cues are literals like
/// terms, and should be words the regex cannot match without (the drug names of a "how to
/// cook …" pattern), so that every match contains a cue. A cue that is not needed only
/// means the pattern is tried less often than it could match, never that it fires wrongly.
///
/// The regex runs over the lowercased (ASCII) message and is compiled case-insensitively;
/// a space in it matches any run of whitespace (spaces inside `[...]` or escaped stay
/// literal). A match counts only if it sits on word boundaries. At each position the
/// regex's own leftmost-first match is the one checked, so list longer alternatives first
/// (`methamphetamine|meth`).
#[derive(Debug, Clone, Copy)]
pub struct LexiconPattern<'a> {
    /// Literals whose presence makes the pattern worth running.
    pub cues: &'a [&'a str],
    /// The regular expression (`regex` crate syntax).
    pub regex: &'a str,
}

/// A compiled lexicon. Immutable, `Send + Sync`, shared by reference across requests.
pub struct Lexicon {
    /// Finds candidate regions: every literal contains at least one anchor.
    pub(super) anchors: Option<AhoCorasick>,
    /// Every literal of every category, leftmost-longest.
    pub(super) literals: Option<AhoCorasick>,
    /// Per literal id of `literals`: what a hit on it means.
    pub(super) meanings: Vec<Meaning>,
    /// Cue-gated patterns, indexed by [`Meaning::gates`].
    pub(super) patterns: Vec<Pattern>,
    /// The longest literal in bytes: how far around an anchor hit a literal can reach.
    pub(super) reach: usize,
    /// The anchor words, kept for `Debug` and tests.
    pub(super) anchor_words: Vec<String>,
}

/// What a hit on one literal means.
#[derive(Debug, Clone, Default)]
pub(super) struct Meaning {
    /// The normalised literal's length in bytes.
    pub(super) len: usize,
    /// Categories of the entries that list it as a term.
    pub(super) categories: CategorySet,
    /// Patterns that list it as a cue.
    pub(super) gates: Vec<usize>,
    /// Literal ids that are proper prefixes of this one. A leftmost-longest search reports
    /// only the longest literal at a position; these are the others that match there too.
    pub(super) shorter: Vec<usize>,
}

/// A compiled cue-gated pattern.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub(super) category: Category,
    pub(super) regex: Regex,
}

static BUILTIN: LazyLock<Lexicon> = LazyLock::new(|| {
    // The default lexicon is static data and a unit test compiles it, so the fallback is
    // unreachable in a tested build; it exists only because the request path must not panic.
    Lexicon::from_entries(lexicon_data::DEFAULT_LEXICON).unwrap_or_else(|_| Lexicon::empty())
});

// === impl Lexicon ===

impl Lexicon {
    /// The gateway's default lexicon ([`DEFAULT_LEXICON`](super::DEFAULT_LEXICON)),
    /// compiled on first use and shared for the life of the process.
    pub fn builtin() -> &'static Lexicon {
        &BUILTIN
    }

    /// Compiles a lexicon, reporting the first entry that cannot be compiled.
    pub fn from_entries(entries: &[LexiconEntry<'_>]) -> Result<Lexicon, LexiconError> {
        compile::compile(entries)
    }

    /// The categories `text` hits, in taxonomy order, each subcategory together with its
    /// parent (see [`with_parents`](super::with_parents)). Deterministic, and linear in
    /// the length of `text` plus the stretches around candidate hits.
    pub fn classify(&self, text: &str) -> CategorySet {
        scan::classify(self, text)
    }

    /// A lexicon that matches nothing.
    pub(super) fn empty() -> Lexicon {
        Lexicon {
            anchors: None,
            literals: None,
            meanings: Vec::new(),
            patterns: Vec::new(),
            reach: 0,
            anchor_words: Vec::new(),
        }
    }
}

impl fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lexicon")
            .field("literals", &self.meanings.len())
            .field("patterns", &self.patterns.len())
            .field("anchors", &self.anchor_words)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
