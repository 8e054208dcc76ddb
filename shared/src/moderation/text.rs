//! The text rules the lexicon matches under: ASCII case folding, whitespace runs collapsed
//! to one space, and hits only on word boundaries.
//!
//! Lexicon literals are stored in that normal form. The classifier lowercases the whole
//! message (cheap and vectorised) but collapses whitespace only inside the short windows it
//! actually inspects, so most of a long message is never copied twice.

/// Whether `c` counts as part of a word for boundary checks: Unicode letters and digits,
/// and `_`. An apostrophe or hyphen ends a word, so "rapist's" still contains "rapist".
pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Appends `text` to `out` with each run of Unicode whitespace replaced by one ASCII space.
pub(super) fn collapse_whitespace_into(text: &str, out: &mut String) {
    // Copy the stretches between whitespace runs whole rather than char by char.
    let mut copied_to = 0;
    let mut run_end = None;
    for (i, c) in text.char_indices().filter(|&(_, c)| c.is_whitespace()) {
        if run_end != Some(i) {
            out.push_str(text.get(copied_to..i).unwrap_or_default());
            out.push(' ');
        }
        copied_to = i + c.len_utf8();
        run_end = Some(copied_to);
    }
    out.push_str(text.get(copied_to..).unwrap_or_default());
}

/// Whether `text` is already in normal form: ASCII, and no whitespace but single spaces.
/// Then collapsing would not change it, and collapsed lengths are byte lengths.
pub(super) fn is_plain(text: &str) -> bool {
    let bytes = text.as_bytes();
    let odd = |b: u8| !b.is_ascii() || matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    !bytes.iter().any(|&b| odd(b)) && !bytes.windows(2).any(|pair| pair == b"  ")
}

/// The stretch of `text` around `start..end` that extends at least `reach` bytes either
/// side once whitespace runs are collapsed (clamped to the text). Plain text (the common
/// case) is measured in bytes; anything else is walked character by character.
pub(super) fn around(text: &str, start: usize, end: usize, reach: usize) -> (usize, usize) {
    let wide = (
        start.saturating_sub(reach),
        end.saturating_add(reach).min(text.len()),
    );
    match text.get(wide.0..wide.1) {
        Some(stretch) if is_plain(stretch) => wide,
        _ => (
            reach_back(text, start, reach),
            reach_forward(text, end, reach),
        ),
    }
}

/// A literal as the lexicon stores it: trimmed, whitespace collapsed, ASCII lowercase.
pub(super) fn normalise_literal(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    collapse_whitespace_into(literal.trim(), &mut out);
    out.make_ascii_lowercase();
    out
}

/// Whether the edges of a haystack are the edges of the whole message. Where they are not,
/// the character beyond the edge is unknown and a match touching it cannot be confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edges {
    pub(super) starts_text: bool,
    pub(super) ends_text: bool,
}

/// Whether `hay[start..end]` is preceded and followed by a non-word character (or by the
/// edge of the message). Offsets that are not character boundaries never qualify.
pub(super) fn on_word_boundaries(hay: &str, start: usize, end: usize, edges: Edges) -> bool {
    let (Some(before), Some(after)) = (hay.get(..start), hay.get(end..)) else {
        return false;
    };
    let open_before = before
        .chars()
        .next_back()
        .map_or(edges.starts_text, |c| !is_word_char(c));
    let open_after = after
        .chars()
        .next()
        .map_or(edges.ends_text, |c| !is_word_char(c));
    open_before && open_after
}

/// The offset in `text` from which the stretch up to `from` holds at least `reach` bytes
/// once whitespace runs are collapsed (or 0). `from` must be a character boundary; so is the
/// result.
pub(super) fn reach_back(text: &str, from: usize, reach: usize) -> usize {
    let Some(head) = text.get(..from) else {
        return 0;
    };
    let mut remaining = reach;
    let mut start = from;
    let mut after_space = false;
    for (i, c) in head.char_indices().rev() {
        if remaining == 0 {
            break;
        }
        let space = c.is_whitespace();
        // A whitespace run collapses to one byte, so only its first character counts.
        if !(space && after_space) {
            remaining = remaining.saturating_sub(if space { 1 } else { c.len_utf8() });
        }
        after_space = space;
        start = i;
    }
    start
}

/// The offset in `text` up to which the stretch from `from` holds at least `reach` bytes
/// once whitespace runs are collapsed (or the end). `from` must be a character boundary; so
/// is the result.
pub(super) fn reach_forward(text: &str, from: usize, reach: usize) -> usize {
    let Some(tail) = text.get(from..) else {
        return text.len();
    };
    let mut remaining = reach;
    let mut end = from;
    let mut after_space = false;
    for c in tail.chars() {
        if remaining == 0 {
            break;
        }
        let space = c.is_whitespace();
        if !(space && after_space) {
            remaining = remaining.saturating_sub(if space { 1 } else { c.len_utf8() });
        }
        after_space = space;
        end += c.len_utf8();
    }
    end
}

/// The first character boundary after `at` (or `hay.len()`), so a retried search always
/// moves forward.
pub(super) fn next_char_boundary(hay: &str, at: usize) -> usize {
    hay.get(at..)
        .and_then(|tail| tail.chars().next())
        .map_or(hay.len(), |c| at + c.len_utf8())
}

#[cfg(test)]
mod tests;
