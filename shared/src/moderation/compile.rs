//! Compiling [`LexiconEntry`]s into a [`Lexicon`]: literal normalisation and deduplication,
//! pattern compilation, and the two automata.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::RegexBuilder;

use crate::category::Category;
use crate::moderation::anchors;
use crate::moderation::error::{LexiconError, LiteralProblem};
use crate::moderation::lexicon::{Lexicon, LexiconEntry, Meaning, Pattern};
use crate::moderation::text::normalise_literal;

/// The literal table under construction: one id per distinct normalised literal, so a
/// phrase listed under two categories (or as a term and a cue) is searched once.
#[derive(Default)]
struct Literals {
    texts: Vec<String>,
    meanings: Vec<Meaning>,
    ids: HashMap<String, usize>,
}

impl Literals {
    fn id(&mut self, text: String) -> usize {
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        let id = self.texts.len();
        self.meanings.push(Meaning {
            len: text.len(),
            ..Meaning::default()
        });
        self.texts.push(text.clone());
        self.ids.insert(text, id);
        id
    }

    /// The ids of a literal's spellings: as written, and with typographic apostrophes when
    /// it has straight ones (phones and word processors substitute them as people type).
    fn spellings(&mut self, text: String) -> Vec<usize> {
        let mut ids = Vec::with_capacity(2);
        if text.contains('\'') {
            ids.push(self.id(text.replace('\'', "\u{2019}")));
        }
        ids.push(self.id(text));
        ids
    }
}

/// Where a literal came from, for error messages.
struct Origin {
    entry: usize,
    category: Category,
    role: &'static str,
}

pub(super) fn compile(entries: &[LexiconEntry<'_>]) -> Result<Lexicon, LexiconError> {
    let mut literals = Literals::default();
    let mut patterns = Vec::new();

    for (entry, spec) in entries.iter().enumerate() {
        let category = spec.category;
        for term in spec.terms {
            let text = checked_literal(
                term,
                &Origin {
                    entry,
                    category,
                    role: "term",
                },
            )?;
            for id in literals.spellings(text) {
                literals.meanings[id].categories.insert(category);
            }
        }
        for pattern in spec.patterns {
            let index = patterns.len();
            patterns.push(compile_pattern(entry, category, pattern.regex)?);
            if pattern.cues.is_empty() {
                return Err(LexiconError::PatternWithoutCues {
                    entry,
                    category,
                    pattern: pattern.regex.to_string(),
                });
            }
            for cue in pattern.cues {
                let text = checked_literal(
                    cue,
                    &Origin {
                        entry,
                        category,
                        role: "cue",
                    },
                )?;
                for id in literals.spellings(text) {
                    literals.meanings[id].gates.push(index);
                }
            }
        }
    }

    if literals.texts.is_empty() {
        return Ok(Lexicon::empty());
    }
    link_prefixes(&literals.texts, &mut literals.meanings);
    let anchor_words = anchors::choose(&literals.texts);
    let anchors = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(&anchor_words)?;
    // The literal automaton only ever searches short windows, dense with candidates: a
    // prefilter there costs more than it saves.
    let automaton = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .prefilter(false)
        .build(&literals.texts)?;
    let reach = literals.texts.iter().map(String::len).max().unwrap_or(0);

    Ok(Lexicon {
        anchors: Some(anchors),
        literals: Some(automaton),
        meanings: literals.meanings,
        patterns,
        reach,
        anchor_words,
    })
}

fn checked_literal(raw: &str, origin: &Origin) -> Result<String, LexiconError> {
    let text = normalise_literal(raw);
    let problem = if text.is_empty() {
        Some(LiteralProblem::Empty)
    } else if !text.is_ascii() {
        Some(LiteralProblem::NotAscii)
    } else if !text.bytes().any(|b| b.is_ascii_alphanumeric()) {
        Some(LiteralProblem::NoLetterOrDigit)
    } else {
        None
    };
    match problem {
        None => Ok(text),
        Some(problem) => Err(LexiconError::InvalidLiteral {
            entry: origin.entry,
            category: origin.category,
            role: origin.role,
            text: raw.to_string(),
            problem,
        }),
    }
}

fn compile_pattern(
    entry: usize,
    category: Category,
    source: &str,
) -> Result<Pattern, LexiconError> {
    let regex = RegexBuilder::new(&spaces_as_whitespace_runs(source))
        .case_insensitive(true)
        .build()
        .map_err(|error| LexiconError::InvalidPattern {
            entry,
            category,
            pattern: source.to_string(),
            source: Box::new(error),
        })?;
    if regex.is_match("") {
        return Err(LexiconError::PatternMatchesEmpty {
            entry,
            category,
            pattern: source.to_string(),
        });
    }
    Ok(Pattern { category, regex })
}

/// Rewrites each space of a pattern into `\s+`. Patterns run over the lowercased message,
/// whose whitespace is not collapsed (collapsing a whole message costs more than the rest
/// of classification), so a space written in a pattern must match any whitespace run.
/// Escaped spaces and spaces inside a character class stay literal.
fn spaces_as_whitespace_runs(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let mut class_depth = 0usize;
    let mut escaped = false;
    for c in source.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                out.push(c);
            }
            '\\' => {
                escaped = true;
                out.push(c);
            }
            '[' => {
                class_depth += 1;
                out.push(c);
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(c);
            }
            ' ' if class_depth == 0 => out.push_str(r"\s+"),
            _ => out.push(c),
        }
    }
    out
}

/// Records, for each literal, the other literals that are its proper prefixes. Quadratic,
/// but it runs once per lexicon over a few hundred short strings.
fn link_prefixes(texts: &[String], meanings: &mut [Meaning]) {
    for (id, meaning) in meanings.iter_mut().enumerate() {
        meaning.shorter = texts
            .iter()
            .enumerate()
            .filter(|&(other, text)| other != id && texts[id].starts_with(text.as_str()))
            .map(|(other, _)| other)
            .collect();
    }
}

#[cfg(test)]
mod tests;
