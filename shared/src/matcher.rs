//! Allowlist and denylist matching (SPEC §2.1): case-insensitive substrings of the message
//! with whitespace runs collapsed. Both lists of a revision are compiled into one
//! aho-corasick automaton, so a message is scanned once whatever the list sizes.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Which list a term came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum List {
    Allow,
    Deny,
}

/// Terms hit by one message, each list in policy order, in the policy's own spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    pub allow: Vec<Arc<str>>,
    pub deny: Vec<Arc<str>>,
}

/// The compiled term lists of one policy revision.
#[derive(Debug, Clone)]
pub struct TermMatcher {
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern, the list positions it stands for. A pattern can stand for
    /// an allow term and a deny term at once; within one list duplicates are rejected by
    /// validation.
    owners: Vec<Vec<(List, usize)>>,
    allow: Vec<Arc<str>>,
    deny: Vec<Arc<str>>,
}

/// The automaton could not be built (a term set too large for its state limits).
#[derive(Debug, thiserror::Error)]
#[error("cannot compile the term lists: {0}")]
pub struct MatcherError(#[from] aho_corasick::BuildError);

impl TermMatcher {
    pub fn new(allow: &[String], deny: &[String]) -> Result<TermMatcher, MatcherError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<(List, usize)>> = Vec::new();
        let mut index_of: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        let lists = [(List::Allow, allow), (List::Deny, deny)];
        for (list, terms) in lists {
            for (position, term) in terms.iter().enumerate() {
                let pattern = normalize_term(term);
                let id = *index_of.entry(pattern.clone()).or_insert_with(|| {
                    patterns.push(pattern);
                    owners.push(Vec::new());
                    owners.len() - 1
                });
                owners[id].push((list, position));
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            // Standard semantics so overlapping search reports every term, including terms
            // nested in longer ones ("refund" inside "refund policy").
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)?,
            )
        };
        Ok(TermMatcher {
            automaton,
            owners,
            allow: allow.iter().map(|t| Arc::from(t.as_str())).collect(),
            deny: deny.iter().map(|t| Arc::from(t.as_str())).collect(),
        })
    }

    pub fn has_allowlist(&self) -> bool {
        !self.allow.is_empty()
    }

    /// Every distinct term found in `text`.
    pub fn find(&self, text: &str) -> Hits {
        let Some(automaton) = &self.automaton else {
            return Hits::default();
        };
        let mut normalized = Vec::with_capacity(text.len());
        normalize_into(text, &mut normalized);
        let mut found: Vec<(List, usize)> = automaton
            .find_overlapping_iter(&normalized)
            .flat_map(|m| self.owners[m.pattern().as_usize()].iter().copied())
            .collect();
        found.sort_unstable();
        found.dedup();
        let mut hits = Hits::default();
        for (list, position) in found {
            match list {
                List::Allow => hits.allow.push(self.allow[position].clone()),
                List::Deny => hits.deny.push(self.deny[position].clone()),
            }
        }
        hits
    }
}

/// The form a term is matched and compared in: case-folded, whitespace collapsed, trimmed.
pub fn normalize_term(term: &str) -> String {
    let mut out = Vec::with_capacity(term.len());
    normalize_into(term.trim(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes `text` case-folded with whitespace runs collapsed to one ASCII space.
///
/// Two passes the compiler can vectorize: map every byte (ASCII runs in bulk, other
/// characters folded one by one, any whitespace to a space), then close up runs of spaces
/// only where a double space occurs. A loop that collapses as it copies carries its write
/// position from byte to byte and runs several times slower on typical messages.
fn normalize_into(text: &str, out: &mut Vec<u8>) {
    let start = out.len();
    let bytes = text.as_bytes();
    // `is_ascii` checks a word at a time, so an all-ASCII message (the usual case) is
    // mapped in one run without a byte-by-byte search.
    let all_ascii = text.is_ascii();
    let mut i = 0;
    while i < bytes.len() {
        let ascii_end = if all_ascii {
            bytes.len()
        } else {
            bytes[i..]
                .iter()
                .position(|b| !b.is_ascii())
                .map_or(bytes.len(), |n| i + n)
        };
        out.extend(bytes[i..ascii_end].iter().map(|&b| {
            let lowered = if b.is_ascii_uppercase() { b | 0x20 } else { b };
            if matches!(b, b'\t'..=b'\r') {
                b' '
            } else {
                lowered
            }
        }));
        i = ascii_end;
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        i += c.len_utf8();
        if c.is_whitespace() {
            out.push(b' ');
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(fold(c).encode_utf8(&mut buf).as_bytes());
        }
    }
    collapse_spaces(out, start);
}

/// Collapses runs of spaces in `buf[start..]` to one space, in place.
fn collapse_spaces(buf: &mut Vec<u8>, start: usize) {
    let Some(first) = memchr::memmem::find(&buf[start..], b"  ") else {
        return;
    };
    let mut read = start + first + 1;
    let mut write = read;
    let len = buf.len();
    while read < len {
        // Skip the rest of this run of spaces, then copy up to and including the next
        // space that starts a new run.
        while read < len && buf[read] == b' ' {
            read += 1;
        }
        let next = memchr::memmem::find(&buf[read..], b"  ").map_or(len, |i| read + i + 1);
        buf.copy_within(read..next, write);
        write += next - read;
        read = next;
    }
    buf.truncate(write);
}

/// Unicode simple case folding, approximated by the standard single-character lowercase
/// mapping plus the characters whose folding differs from their lowercase. Characters whose
/// lowercase is several characters (`İ`) fold to themselves, as simple folding does.
pub fn fold(c: char) -> char {
    match c {
        'ς' => 'σ',
        'ſ' => 's',
        'ϐ' => 'β',
        'ϑ' => 'θ',
        'ϕ' => 'φ',
        'ϖ' => 'π',
        'ϰ' => 'κ',
        'ϱ' => 'ρ',
        'ϵ' => 'ε',
        'ẛ' => 'ṡ',
        '\u{1FBE}' | '\u{345}' => 'ι',
        _ => {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(single), None) => single,
                _ => c,
            }
        }
    }
}

#[cfg(test)]
mod tests;
