//! Why a lexicon did not compile, naming the entry at fault.

use std::fmt;

use crate::category::Category;

/// A lexicon that cannot be compiled. Each variant names the entry (its index in the slice
/// given to [`Lexicon::from_entries`](crate::moderation::Lexicon::from_entries) and its
/// category) and the offending text.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    /// A term or a pattern cue cannot be matched as written.
    #[error("lexicon entry {entry} ({category}): {role} {text:?} {problem}")]
    InvalidLiteral {
        entry: usize,
        category: Category,
        /// `"term"` or `"cue"`.
        role: &'static str,
        text: String,
        problem: LiteralProblem,
    },
    /// A pattern is not a valid regular expression (or exceeds the size limit).
    #[error("lexicon entry {entry} ({category}): pattern {pattern:?} does not compile: {source}")]
    InvalidPattern {
        entry: usize,
        category: Category,
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    /// A pattern matches the empty string, so it would flag any text it was tried on.
    #[error("lexicon entry {entry} ({category}): pattern {pattern:?} matches the empty string")]
    PatternMatchesEmpty {
        entry: usize,
        category: Category,
        pattern: String,
    },
    /// A pattern has no cue, so it would never be tried.
    #[error("lexicon entry {entry} ({category}): pattern {pattern:?} has no cues")]
    PatternWithoutCues {
        entry: usize,
        category: Category,
        pattern: String,
    },
    /// The literals do not fit an automaton (far beyond any realistic lexicon).
    #[error("lexicon automaton: {0}")]
    Automaton(#[from] aho_corasick::BuildError),
}

/// What is wrong with a term or cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralProblem {
    /// Nothing is left once whitespace is trimmed.
    Empty,
    /// The matcher folds ASCII case only, so a non-ASCII literal would silently miss its
    /// other-case spellings.
    NotAscii,
    /// Without a letter or digit the literal would hit punctuation all over ordinary text.
    NoLetterOrDigit,
}

impl fmt::Display for LiteralProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LiteralProblem::Empty => "is empty",
            LiteralProblem::NotAscii => "is not ASCII (matching folds ASCII case only)",
            LiteralProblem::NoLetterOrDigit => "has no letter or digit",
        })
    }
}
