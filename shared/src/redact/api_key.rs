//! Credentials recognised by their provider's prefix (patterns as in gitleaks):
//!
//! | provider | form |
//! |---|---|
//! | OpenAI, Anthropic | `sk-…`, `sk-proj-…`, `sk-ant-…`: 20+ base64url chars, some digit or capital |
//! | AWS | `AKIA`/`ASIA` + exactly 16 of `[A-Z2-7]` |
//! | GitHub | `ghp_`/`gho_`/`ghs_`/`ghu_`/`ghr_` + 36+ alphanumerics, `github_pat_` + 22+ |
//! | Slack | `xoxa-`/`xoxb-`/`xoxp-`/`xoxe-`/`xoxr-`/`xoxs-` + 10+ chars with a digit |
//! | Stripe | `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_` + 16+ alphanumerics |
//! | Google | `AIza` + exactly 35 base64url chars |
//! | JWT | `eyJ…` `.` `eyJ…` `.` signature |
//! | this gateway | `ak_` + 43+ base64url chars |
//!
//! A key must not follow a base64url character. Once a prefix and enough of the body are
//! seen, the key is certain and the match takes the rest of the run of base64url
//! characters however long it is ([`Tail`]): the stream then keeps masking the run as it
//! arrives instead of holding it back. A run that starts like a JWT header but goes on
//! past [`JWT_HEADER_CAP`] without a `.` is masked the same way: nothing that long and
//! shaped like encoded JSON is safe to print, and waiting for its end would make the
//! hold-back unbounded.

use super::scanner::{Hit, Outcome, Tail};
use super::window::{Peek, Window, is_key_char, is_word};

/// How much of an `sk-` body is read to find the digit or capital that tells a key from
/// hyphenated prose like `sk-learn-…`.
const SK_DECIDE: usize = 64;
/// Longest JWT header segment waited for before the run is masked anyway.
pub(super) const JWT_HEADER_CAP: usize = 256;

/// The most bytes the detector reads from a start before it decides.
pub(super) const MAX_SPAN: usize = 3 + JWT_HEADER_CAP + 5;

/// A key starting at `s`, a letter that does not follow a letter or digit.
pub(super) fn detect(w: &Window<'_>, s: usize) -> Outcome {
    let first = w.bytes()[s];
    if !matches!(first, b's' | b'r' | b'A' | b'g' | b'x' | b'e' | b'a')
        || w.before(s, 1).is_some_and(is_key_char)
    {
        return Ok(None);
    }
    match first {
        b's' if lit(w, s, b"sk-")? => openai(w, s + 3),
        b's' | b'r' if lit(w, s + 1, b"k_")? => stripe(w, s + 3),
        b'A' => aws_or_google(w, s),
        b'g' => github(w, s),
        b'x' => slack(w, s),
        b'e' if lit(w, s, b"eyJ")? => jwt(w, s + 3),
        b'a' if lit(w, s, b"ak_")? => open_after(w, s + 3, 43, is_key_char),
        _ => Ok(None),
    }
}

/// Whether `literal` is at `i`; a mismatch is known as soon as a byte differs.
fn lit(w: &Window<'_>, i: usize, literal: &[u8]) -> Peek<bool> {
    for (k, &want) in literal.iter().enumerate() {
        if w.at(i + k)? != Some(want) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A key once `min` body bytes of `class` follow `i`; it then runs on as a [`Tail`].
fn open_after(w: &Window<'_>, i: usize, min: usize, class: impl Fn(u8) -> bool) -> Outcome {
    for k in 0..min {
        if !w.is(i + k, &class)? {
            return Ok(None);
        }
    }
    Ok(Some(Hit::Open {
        end: i + min,
        tail: Tail::KeyRun,
    }))
}

fn openai(w: &Window<'_>, body: usize) -> Outcome {
    let mut mixed = false;
    for k in 0..=SK_DECIDE {
        if k >= 20 && mixed {
            return Ok(Some(Hit::Open {
                end: body + k,
                tail: Tail::KeyRun,
            }));
        }
        match w.at(body + k)? {
            Some(b) if is_key_char(b) => mixed |= b.is_ascii_digit() || b.is_ascii_uppercase(),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

fn stripe(w: &Window<'_>, i: usize) -> Outcome {
    if lit(w, i, b"live_")? || lit(w, i, b"test_")? {
        open_after(w, i + 5, 16, |b| b.is_ascii_alphanumeric())
    } else {
        Ok(None)
    }
}

fn aws_or_google(w: &Window<'_>, s: usize) -> Outcome {
    if lit(w, s, b"AKIA")? || lit(w, s, b"ASIA")? {
        let body = |b: u8| b.is_ascii_uppercase() || matches!(b, b'2'..=b'7');
        exact(w, s + 4, 16, body, is_word)
    } else if lit(w, s, b"AIza")? {
        exact(w, s + 4, 35, is_key_char, is_key_char)
    } else {
        Ok(None)
    }
}

/// A fixed-length body of `len` bytes of `class`, not followed by a byte of `glue`.
fn exact(
    w: &Window<'_>,
    i: usize,
    len: usize,
    class: impl Fn(u8) -> bool,
    glue: impl Fn(u8) -> bool,
) -> Outcome {
    for k in 0..len {
        if !w.is(i + k, &class)? {
            return Ok(None);
        }
    }
    if w.is(i + len, glue)? {
        return Ok(None);
    }
    Ok(Some(Hit::Fixed { end: i + len }))
}

fn github(w: &Window<'_>, s: usize) -> Outcome {
    if lit(w, s, b"gh")? && w.is(s + 2, |b| b"pousr".contains(&b))? && lit(w, s + 3, b"_")? {
        return open_after(w, s + 4, 36, |b| b.is_ascii_alphanumeric());
    }
    if lit(w, s, b"github_pat_")? {
        return open_after(w, s + 11, 22, is_word);
    }
    Ok(None)
}

fn slack(w: &Window<'_>, s: usize) -> Outcome {
    if !(lit(w, s, b"xox")? && w.is(s + 3, |b| b"abeprs".contains(&b))? && lit(w, s + 4, b"-")?) {
        return Ok(None);
    }
    let body = s + 5;
    let mut digit = false;
    for k in 0..=SK_DECIDE {
        if k >= 10 && digit {
            return Ok(Some(Hit::Open {
                end: body + k,
                tail: Tail::KeyRun,
            }));
        }
        match w.at(body + k)? {
            Some(b) if b.is_ascii_alphanumeric() || b == b'-' => digit |= b.is_ascii_digit(),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// `body` is just after the leading `eyJ` of the header.
fn jwt(w: &Window<'_>, body: usize) -> Outcome {
    let mut k = 0;
    while w.is(body + k, is_key_char)? {
        k += 1;
        if k > JWT_HEADER_CAP {
            return Ok(Some(Hit::Open {
                end: body + k,
                tail: Tail::KeyRun,
            }));
        }
    }
    let dot = body + k;
    if k < 4 || w.at(dot)? != Some(b'.') || !lit(w, dot + 1, b"eyJ")? {
        return Ok(None);
    }
    Ok(Some(Hit::Open {
        end: dot + 4,
        tail: Tail::JwtPayload,
    }))
}
