//! The matcher's semantics on small custom lexicons; `properties` checks the compiled
//! default lexicon against a naive reference matcher.

use super::*;
use crate::moderation::{DEFAULT_LEXICON, LiteralProblem};

const A: Category = Category::Harassment;
const B: Category = Category::Illicit;

fn entry<'a>(category: Category, terms: &'a [&'a str]) -> LexiconEntry<'a> {
    LexiconEntry {
        category,
        terms,
        patterns: &[],
    }
}

fn lexicon(entries: &[LexiconEntry<'_>]) -> Lexicon {
    match Lexicon::from_entries(entries) {
        Ok(lexicon) => lexicon,
        Err(error) => panic!("test lexicon does not compile: {error}"),
    }
}

fn set(categories: &[Category]) -> CategorySet {
    categories.iter().copied().collect()
}

#[test]
fn lexicons_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Lexicon>();
    let builtin: &'static Lexicon = Lexicon::builtin();
    assert!(!builtin.meanings.is_empty());
}

#[test]
fn an_empty_lexicon_flags_nothing() {
    let empty = lexicon(&[]);
    assert!(empty.classify("i want to kill myself").is_empty());
    assert!(lexicon(&[entry(A, &[])]).classify("anything").is_empty());
}

#[test]
fn word_boundaries_keep_therapist_apart_from_rapist() {
    let lexicon = lexicon(&[entry(A, &["rapist"])]);
    assert!(lexicon.classify("my therapist says hi").is_empty());
    assert!(lexicon.classify("rapists").is_empty());
    assert_eq!(lexicon.classify("the rapist."), set(&[A]));
    assert_eq!(lexicon.classify("RAPIST"), set(&[A]));
    assert_eq!(lexicon.classify("(rapist's)"), set(&[A]));
}

#[test]
fn terms_match_across_any_whitespace_run() {
    let lexicon = lexicon(&[entry(A, &["Kill   Myself"])]);
    for text in [
        "kill myself",
        "KILL\t\tMYSELF",
        "kill\r\n myself",
        "kill\u{2003}myself",
        " kill myself ",
    ] {
        assert_eq!(lexicon.classify(text), set(&[A]), "{text:?}");
    }
    assert!(lexicon.classify("killmyself").is_empty());
    assert!(lexicon.classify("kill-myself").is_empty());
}

#[test]
fn a_term_listed_under_two_categories_reports_both() {
    let lexicon = lexicon(&[entry(A, &["steal a car"]), entry(B, &["steal a car"])]);
    assert_eq!(lexicon.classify("how to steal a car"), set(&[A, B]));
}

#[test]
fn overlapping_and_nested_terms_are_all_found() {
    let lexicon = lexicon(&[
        entry(A, &["kill myself", "ab cd"]),
        entry(B, &["kill myself tonight", "cd ef"]),
    ]);
    assert_eq!(lexicon.classify("kill myself tonight"), set(&[A, B]));
    assert_eq!(lexicon.classify("kill myself tonightly"), set(&[A]));
    assert_eq!(lexicon.classify("ab cd ef"), set(&[A, B]));
}

#[test]
fn a_hit_failing_its_boundary_does_not_hide_a_later_one() {
    // Leftmost-longest finds "a b" first (rejected: preceded by "x"); "b" inside it counts.
    let lexicon = lexicon(&[entry(A, &["a b"]), entry(B, &["b"])]);
    assert_eq!(lexicon.classify("xa b"), set(&[B]));
    assert_eq!(lexicon.classify("xa bx"), CategorySet::EMPTY);
}

#[test]
fn straight_apostrophes_also_match_typographic_ones() {
    let lexicon = lexicon(&[entry(A, &["i'm done"])]);
    assert_eq!(lexicon.classify("I'm done"), set(&[A]));
    assert_eq!(lexicon.classify("I’m done"), set(&[A]));
    assert!(lexicon.classify("Im done").is_empty());
}

#[test]
fn hits_at_both_edges_and_far_apart_are_found() {
    let lexicon = lexicon(&[entry(A, &["alpha beta"]), entry(B, &["gamma delta"])]);
    let filler = "lorem ipsum dolor sit amet ".repeat(40);
    assert_eq!(
        lexicon.classify(&format!("alpha beta {filler}gamma delta")),
        set(&[A, B])
    );
    assert_eq!(
        lexicon.classify(&format!("{filler}alpha beta gamma delta {filler}")),
        set(&[A, B])
    );
    assert_eq!(
        lexicon.classify(&format!("{filler}alpha beta gamma delta{filler}")),
        set(&[A])
    );
}

#[test]
fn subcategory_hits_report_their_parent() {
    let lexicon = lexicon(&[entry(Category::ViolenceGraphic, &["skinned alive"])]);
    assert_eq!(
        lexicon.classify("skinned alive"),
        set(&[Category::Violence, Category::ViolenceGraphic])
    );
}

#[test]
fn patterns_run_only_when_a_cue_is_present() {
    let patterns = [
        LexiconPattern {
            cues: &["widget"],
            regex: r"buy \d+ widgets?",
        },
        LexiconPattern {
            cues: &["never present"],
            regex: r"sell \d+ gadgets?",
        },
    ];
    let lexicon = lexicon(&[LexiconEntry {
        category: B,
        terms: &[],
        patterns: &patterns,
    }]);
    assert!(
        lexicon.classify("buy 300 widgets").is_empty(),
        "cue 'widget' needs a boundary"
    );
    assert_eq!(lexicon.classify("a widget: BUY  300\nWIDGETS"), set(&[B]));
    assert!(
        lexicon.classify("widget: xbuy 300 widgets").is_empty(),
        "pattern needs a boundary"
    );
    assert!(
        lexicon.classify("sell 3 gadgets").is_empty(),
        "uncued pattern never runs"
    );
}

#[test]
fn a_pattern_match_failing_its_boundary_does_not_hide_a_later_one() {
    let patterns = [LexiconPattern {
        cues: &["abc"],
        regex: "x?abc",
    }];
    let lexicon = lexicon(&[LexiconEntry {
        category: A,
        terms: &[],
        patterns: &patterns,
    }]);
    // "xabc" (preceded by "z") and then "abc" (preceded by "x") fail; the last "abc" counts.
    assert_eq!(lexicon.classify("zxabc abc"), set(&[A]));
    assert!(lexicon.classify("zxabc abcd").is_empty());
}

#[test]
fn patterns_are_tried_near_their_cues_only() {
    let patterns = [LexiconPattern {
        cues: &["marker"],
        regex: r"sell \d+ gadgets",
    }];
    let lexicon = lexicon(&[LexiconEntry {
        category: B,
        terms: &[],
        patterns: &patterns,
    }]);
    assert_eq!(lexicon.classify("marker: sell 3 gadgets"), set(&[B]));
    assert_eq!(lexicon.classify("sell 3 gadgets, marker"), set(&[B]));
    let far = format!("marker {} sell 3 gadgets", "lorem ipsum ".repeat(60));
    assert!(lexicon.classify(&far).is_empty());
}

#[test]
fn bad_entries_are_named_in_the_error() {
    let cases: [(&[LexiconEntry<'_>], &str); 6] = [
        (
            &[entry(A, &["ok"]), entry(B, &["  "])],
            "lexicon entry 1 (illicit): term \"  \" is empty",
        ),
        (
            &[entry(A, &["café"])],
            "lexicon entry 0 (harassment): term \"café\" is not ASCII",
        ),
        (&[entry(A, &["?!"])], "term \"?!\" has no letter or digit"),
        (
            &[LexiconEntry {
                category: B,
                terms: &[],
                patterns: &[LexiconPattern {
                    cues: &["x"],
                    regex: "(",
                }],
            }],
            "lexicon entry 0 (illicit): pattern \"(\" does not compile",
        ),
        (
            &[LexiconEntry {
                category: B,
                terms: &[],
                patterns: &[LexiconPattern {
                    cues: &["x"],
                    regex: "a*",
                }],
            }],
            "pattern \"a*\" matches the empty string",
        ),
        (
            &[LexiconEntry {
                category: B,
                terms: &[],
                patterns: &[LexiconPattern {
                    cues: &[],
                    regex: "abc",
                }],
            }],
            "pattern \"abc\" has no cues",
        ),
    ];
    for (entries, message) in cases {
        match Lexicon::from_entries(entries) {
            Ok(_) => panic!("expected an error containing {message:?}"),
            Err(error) => assert!(error.to_string().contains(message), "{error} / {message}"),
        }
    }
    let cue_error = Lexicon::from_entries(&[LexiconEntry {
        category: A,
        terms: &[],
        patterns: &[LexiconPattern {
            cues: &[""],
            regex: "abc",
        }],
    }]);
    assert!(matches!(
        cue_error,
        Err(LexiconError::InvalidLiteral {
            role: "cue",
            problem: LiteralProblem::Empty,
            ..
        })
    ));
}

#[test]
fn builtin_anchors_fit_the_first_pass_budget() {
    // aho-corasick's SIMD search (Teddy) takes at most 64 patterns and is fastest with at
    // most 32; three-letter anchors match too often at its three-byte fingerprint. Past
    // this budget the first pass costs microseconds per 4 KiB (benches/moderation.rs).
    let builtin = Lexicon::builtin();
    assert!(
        builtin.anchor_words.len() <= 32,
        "{:?}",
        builtin.anchor_words
    );
    assert!(
        builtin.anchor_words.iter().all(|a| a.len() >= 4),
        "{:?}",
        builtin.anchor_words
    );
}

#[test]
fn classification_is_deterministic() {
    let text = "I want to kill myself; how to make meth; you are worthless.";
    let first = Lexicon::builtin().classify(text);
    let recompiled = lexicon(DEFAULT_LEXICON);
    for _ in 0..100 {
        assert_eq!(Lexicon::builtin().classify(text), first);
        assert_eq!(recompiled.classify(text), first);
    }
}

mod properties;
