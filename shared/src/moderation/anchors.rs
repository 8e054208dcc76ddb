//! Choosing the anchor words of a lexicon: a small set of words such that every literal
//! contains at least one of them.
//!
//! The first pass of [`classify`](super::Lexicon::classify) searches the message for the
//! anchors only. aho-corasick searches up to 64 patterns with SIMD (Teddy), fastest with
//! at most 32, and checks a candidate wherever a three-byte fingerprint of an anchor's
//! start matches: so few anchors, none shorter than four letters, and rare ones. Rare
//! anchors also mean fewer windows for the second pass. Which words are chosen never
//! changes a result, only how much work finding it takes.

use std::collections::BTreeSet;

/// Words so common in ordinary messages (or inside common words: "self" in "itself") that
/// an anchor on them would send much of every message through the second pass. They stay
/// anchors only for a literal made of nothing else.
const COMMON_WORDS: &[&str] = &[
    "about", "after", "again", "alive", "all", "also", "and", "any", "are", "back", "been",
    "before", "being", "body", "break", "but", "can", "child", "could", "dead", "did", "does",
    "doing", "down", "each", "everyone", "for", "from", "get", "getting", "going", "gonna", "got",
    "had", "has", "have", "help", "her", "here", "him", "his", "how", "into", "just", "know",
    "like", "make", "many", "money", "more", "most", "much", "must", "need", "nobody", "not",
    "now", "office", "old", "one", "only", "other", "our", "out", "over", "people", "photos",
    "pictures", "said", "same", "say", "school", "self", "send", "she", "should", "sleep", "some",
    "someone", "space", "such", "take", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "tonight", "too", "under", "use", "very",
    "videos", "want", "was", "way", "well", "were", "what", "when", "where", "which", "while",
    "who", "why", "will", "with", "work", "would", "year", "years", "you", "your",
];

/// Preferred anchor lengths, best first: a literal is anchored on a word shorter than four
/// letters only when it has no longer one, because short words hide inside many others
/// ("die" in "audience", "sex" in "Sussex").
const LENGTH_TIERS: [usize; 3] = [4, 3, 1];

/// Greedy set cover: from the best length tier any uncovered literal offers, repeatedly
/// takes the candidate word contained in the most uncovered literals (ties: the longer
/// word, then the alphabetically first), and drops every literal containing it, until none
/// is left. Candidates are whole words of the literals, but coverage counts substrings, so
/// "meth" also covers "methamphetamine" and "kill" covers "killing". Deterministic for a
/// given literal list.
///
/// An anchor never contains whitespace, because the first pass searches the message before
/// whitespace runs are collapsed: candidates are runs of ASCII letters and digits.
pub(super) fn choose(literals: &[String]) -> Vec<String> {
    let mut uncovered: Vec<&str> = literals.iter().map(String::as_str).collect();
    let mut chosen = Vec::new();
    while !uncovered.is_empty() {
        let best = LENGTH_TIERS.iter().find_map(|&min_len| {
            let candidates: BTreeSet<&str> = uncovered
                .iter()
                .flat_map(|l| candidates(l, min_len))
                .collect();
            candidates
                .into_iter()
                .map(|word| (uncovered.iter().filter(|l| l.contains(word)).count(), word))
                .max_by(|(a_count, a), (b_count, b)| {
                    a_count
                        .cmp(b_count)
                        .then(a.len().cmp(&b.len()))
                        .then(b.cmp(a))
                })
        });
        let Some((_, word)) = best else {
            // Unreachable: every literal has a letter or digit (checked at compile), hence
            // a candidate in the last tier. Stopping only means some literal is never
            // looked for, so keep the rest of the lexicon working.
            break;
        };
        uncovered.retain(|l| !l.contains(word));
        chosen.push(word.to_string());
    }
    chosen
}

/// The runs of ASCII letters and digits of a literal.
fn words(literal: &str) -> impl Iterator<Item = &str> + Clone {
    literal
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The anchor candidates of one literal with at least `min_len` bytes, leaving out
/// [`COMMON_WORDS`] unless the literal has nothing else.
fn candidates(literal: &str, min_len: usize) -> Vec<&str> {
    let long = words(literal).filter(|w| w.len() >= min_len);
    if words(literal).all(|w| COMMON_WORDS.contains(&w)) {
        long.collect()
    } else {
        long.filter(|w| !COMMON_WORDS.contains(w)).collect()
    }
}

#[cfg(test)]
mod tests;
