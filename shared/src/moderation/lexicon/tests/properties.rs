//! Properties of the compiled default lexicon: it agrees with a naive reference matcher on
//! generated messages, and ignores case and whitespace runs on arbitrary strings.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use proptest::prelude::*;

use crate::category::CategorySet;
use crate::moderation::{DEFAULT_LEXICON, Lexicon, LexiconEntry, with_parents};

/// The reference matcher's regexes, compiled once: proptest calls it thousands of times.
fn compiled(source: &'static str) -> regex::Regex {
    static CACHE: LazyLock<Mutex<HashMap<&'static str, regex::Regex>>> =
        LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap();
    cache
        .entry(source)
        .or_insert_with(|| {
            regex::RegexBuilder::new(source)
                .case_insensitive(true)
                .build()
                .unwrap()
        })
        .clone()
}

/// The specification of `classify`, written as directly as possible: normalise the whole
/// message, try every literal and every cued pattern at every position.
fn reference(entries: &[LexiconEntry<'static>], text: &str) -> CategorySet {
    let mut hay = String::new();
    let mut in_run = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_run {
                hay.push(' ');
            }
            in_run = true;
        } else {
            hay.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let bounded = |start: usize, end: usize| {
        !hay[..start].chars().next_back().is_some_and(word)
            && !hay[end..].chars().next().is_some_and(word)
    };
    let occurs = |literal: &str| {
        let literal = literal
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        [literal.clone(), literal.replace('\'', "’")]
            .iter()
            .any(|spelling| {
                hay.char_indices().any(|(i, _)| {
                    hay[i..].starts_with(spelling.as_str()) && bounded(i, i + spelling.len())
                })
            })
    };
    let mut found = CategorySet::EMPTY;
    for entry in entries {
        if entry.terms.iter().any(|t| occurs(t)) {
            found.insert(entry.category);
        }
        for pattern in entry.patterns {
            if !pattern.cues.iter().any(|c| occurs(c)) {
                continue;
            }
            let regex = compiled(pattern.regex);
            let fires = hay.char_indices().any(|(i, _)| {
                regex
                    .find_at(&hay, i)
                    .is_some_and(|m| m.start() == i && !m.is_empty() && bounded(m.start(), m.end()))
            });
            if fires {
                found.insert(entry.category);
            }
        }
    }
    with_parents(found)
}

/// Tokens for generated messages: whole literals of the default lexicon, their words, and
/// near-misses, so generated text hits, half-hits and misses often.
fn tokens() -> Vec<String> {
    let mut tokens: Vec<String> = [
        "therapist",
        "methane",
        "kill",
        "the",
        "process",
        "é",
        "x",
        "_",
        "12",
        "year",
        "old",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for entry in DEFAULT_LEXICON {
        for literal in entry
            .terms
            .iter()
            .chain(entry.patterns.iter().flat_map(|p| p.cues.iter()))
        {
            tokens.push(literal.to_string());
            tokens.extend(literal.split(' ').map(str::to_string));
        }
    }
    tokens.sort();
    tokens.dedup();
    tokens
}

const SEPARATORS: &[&str] = &[
    " ", " ", " ", "  ", "\t", "\n\n", "\u{a0}", ", ", "-", "", "'", "’", ". ",
];

fn message() -> impl Strategy<Value = String> {
    let token = prop::sample::select(tokens());
    let separator = prop::sample::select(SEPARATORS);
    prop::collection::vec((token, separator, any::<bool>()), 0..24).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(token, separator, upper)| {
                let token = if upper {
                    token.to_ascii_uppercase()
                } else {
                    token
                };
                format!("{token}{separator}")
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn classify_agrees_with_the_reference_matcher(text in message()) {
        prop_assert_eq!(Lexicon::builtin().classify(&text), reference(DEFAULT_LEXICON, &text));
    }

    #[test]
    fn classify_ignores_case_and_whitespace_runs(text in any::<String>()) {
        let builtin = Lexicon::builtin();
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
        prop_assert_eq!(builtin.classify(&text), builtin.classify(&collapsed));
    }

    #[test]
    fn generated_messages_are_case_and_spacing_insensitive(text in message()) {
        let builtin = Lexicon::builtin();
        let respaced = text.split_whitespace().collect::<Vec<_>>().join(" \t ").to_ascii_uppercase();
        prop_assert_eq!(builtin.classify(&text), builtin.classify(&respaced));
    }
}
