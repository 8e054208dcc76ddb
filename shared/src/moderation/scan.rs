//! Classification: the anchor pass over the whole message, then the literal pass and the
//! cue-gated patterns over the stretches around anchor hits.

use aho_corasick::{AhoCorasick, Input};

use crate::category::CategorySet;
use crate::moderation::lexicon::{Lexicon, Pattern};
use crate::moderation::taxonomy::with_parents;
use crate::moderation::text::{
    Edges, around, collapse_whitespace_into, is_plain, next_char_boundary, on_word_boundaries,
};

/// How far (in collapsed bytes) beyond the window holding a cue its patterns are tried
/// (documented on `LexiconPattern`): patterns describe phrases, and this is comfortably
/// longer than any phrase.
pub(super) const PATTERN_REACH: usize = 128;

/// Buffers reused across the windows of one message.
#[derive(Default)]
struct Scratch {
    /// The current window with whitespace collapsed, when it was not plain already.
    collapsed: String,
    /// Patterns whose cue occurs in the current window.
    gated: Vec<usize>,
}

pub(super) fn classify(lexicon: &Lexicon, text: &str) -> CategorySet {
    let (Some(anchors), Some(literals)) = (&lexicon.anchors, &lexicon.literals) else {
        return CategorySet::EMPTY;
    };
    // ASCII lowercasing keeps byte offsets and UTF-8 validity, and it vectorises; folding
    // case inside the automata instead would rule out their SIMD search.
    let lowered = text.to_ascii_lowercase();
    let mut found = CategorySet::EMPTY;
    let mut scratch = Scratch::default();

    // A literal containing an anchor hit lies within `reach` collapsed bytes of it; one more
    // byte each side lets the boundary check see the neighbouring character. Hits whose
    // windows overlap are inspected as one window.
    let reach = lexicon.reach + 1;
    let mut open: Option<(usize, usize)> = None;
    for hit in anchors.find_iter(lowered.as_str()) {
        let (start, end) = around(&lowered, hit.start(), hit.end(), reach);
        open = match open {
            Some((open_start, open_end)) if start <= open_end => {
                Some((open_start, open_end.max(end)))
            }
            Some(done) => {
                inspect(lexicon, literals, &lowered, done, &mut scratch, &mut found);
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some(last) = open {
        inspect(lexicon, literals, &lowered, last, &mut scratch, &mut found);
    }
    with_parents(found)
}

fn edges(lowered: &str, (start, end): (usize, usize)) -> Edges {
    Edges {
        starts_text: start == 0,
        ends_text: end == lowered.len(),
    }
}

/// Matches the literals of one window, then the patterns its cues open.
fn inspect(
    lexicon: &Lexicon,
    literals: &AhoCorasick,
    lowered: &str,
    window: (usize, usize),
    scratch: &mut Scratch,
    found: &mut CategorySet,
) {
    let Some(slice) = lowered.get(window.0..window.1) else {
        return;
    };
    let hay = if is_plain(slice) {
        slice
    } else {
        scratch.collapsed.clear();
        scratch.collapsed.reserve(slice.len());
        collapse_whitespace_into(slice, &mut scratch.collapsed);
        scratch.collapsed.as_str()
    };
    scan_literals(
        lexicon,
        literals,
        hay,
        edges(lowered, window),
        &mut scratch.gated,
        found,
    );
    if !scratch.gated.is_empty() {
        let region = around(lowered, window.0, window.1, PATTERN_REACH);
        for &index in &scratch.gated {
            if let Some(pattern) = lexicon.patterns.get(index) {
                run_pattern(pattern, lowered, region, found);
            }
        }
        scratch.gated.clear();
    }
}

/// Finds every literal in `hay` that sits on word boundaries.
///
/// A leftmost-longest search reports one literal per position; the literal's `shorter`
/// list covers the others that match at the same position, and restarting one byte after
/// each hit's start (instead of after its end) lets overlapping literals be seen, so no
/// literal is missed because another one, failing its boundary check, hid it.
fn scan_literals(
    lexicon: &Lexicon,
    literals: &AhoCorasick,
    hay: &str,
    edges: Edges,
    gated: &mut Vec<usize>,
    found: &mut CategorySet,
) {
    let mut at = 0;
    while at < hay.len() {
        let Some(hit) = literals.find(Input::new(hay).range(at..)) else {
            break;
        };
        let Some(longest) = lexicon.meanings.get(hit.pattern().as_usize()) else {
            break;
        };
        let same_start = std::iter::once(longest).chain(
            longest
                .shorter
                .iter()
                .filter_map(|&id| lexicon.meanings.get(id)),
        );
        for meaning in same_start {
            if on_word_boundaries(hay, hit.start(), hit.start() + meaning.len, edges) {
                *found = found.union(meaning.categories);
                for &index in &meaning.gates {
                    if !gated.contains(&index) {
                        gated.push(index);
                    }
                }
            }
        }
        at = hit.start() + 1;
    }
}

/// Tries one pattern over `lowered[region]`, unless its category is already known. A space
/// in a pattern matches any whitespace run (see `compile`), so the region is searched as is.
fn run_pattern(pattern: &Pattern, lowered: &str, region: (usize, usize), found: &mut CategorySet) {
    if found.contains(pattern.category) {
        return;
    }
    let Some(hay) = lowered.get(region.0..region.1) else {
        return;
    };
    let edges = edges(lowered, region);
    let mut at = 0;
    while let Some(hit) = pattern.regex.find_at(hay, at) {
        if !hit.is_empty() && on_word_boundaries(hay, hit.start(), hit.end(), edges) {
            found.insert(pattern.category);
            return;
        }
        // Retry from the next character: a later start may end on a boundary.
        at = next_char_boundary(hay, hit.start());
        if at >= hay.len() {
            return;
        }
    }
}
