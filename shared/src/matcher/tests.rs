use super::*;

fn terms(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn names(hits: &[Arc<str>]) -> Vec<&str> {
    hits.iter().map(|h| &**h).collect()
}

#[test]
fn matches_case_insensitively_across_whitespace_runs() {
    let m = TermMatcher::new(&terms(&["Refund Policy"]), &terms(&["visa fraud"])).unwrap();
    let hits = m.find("what is your REFUND\n\t policy, and visa   FRAUD?");
    assert_eq!(names(&hits.allow), ["Refund Policy"]);
    assert_eq!(names(&hits.deny), ["visa fraud"]);
}

#[test]
fn reports_distinct_terms_in_policy_order_including_nested_ones() {
    let m = TermMatcher::new(&terms(&["policy", "refund", "refund policy"]), &[]).unwrap();
    let hits = m.find("refund policy? the refund policy!");
    assert_eq!(names(&hits.allow), ["policy", "refund", "refund policy"]);
}

#[test]
fn a_term_on_both_lists_is_reported_on_both() {
    let m = TermMatcher::new(&terms(&["salary"]), &terms(&["SALARY"])).unwrap();
    let hits = m.find("my salary");
    assert_eq!(names(&hits.allow), ["salary"]);
    assert_eq!(names(&hits.deny), ["SALARY"]);
}

#[test]
fn folds_non_ascii_text() {
    let m = TermMatcher::new(&terms(&["ÉTÉ", "ΣΟΦΙΑ"]), &[]).unwrap();
    assert_eq!(names(&m.find("un été chaud").allow), ["ÉTÉ"]);
    assert_eq!(names(&m.find("σοφιας").allow), ["ΣΟΦΙΑ"]);
    // Final sigma folds like sigma.
    let m = TermMatcher::new(&terms(&["ΟΔΟΣ"]), &[]).unwrap();
    assert_eq!(names(&m.find("οδος και οδος").allow), ["ΟΔΟΣ"]);
    assert_eq!(names(&m.find("οδoς").allow), Vec::<&str>::new());
}

#[test]
fn unicode_whitespace_collapses_too() {
    let m = TermMatcher::new(&terms(&["status page"]), &[]).unwrap();
    assert_eq!(
        names(&m.find("status\u{00A0}\u{2003}page").allow),
        ["status page"]
    );
}

#[test]
fn empty_lists_match_nothing() {
    let m = TermMatcher::new(&[], &[]).unwrap();
    assert_eq!(m.find("anything"), Hits::default());
    assert!(!m.has_allowlist());
}

#[test]
fn normalized_terms_are_trimmed_and_collapsed() {
    assert_eq!(normalize_term("  Visa \t FRAUD "), "visa fraud");
}

/// The obvious definition, one character at a time.
fn reference_normalize(text: &str) -> String {
    let mut out = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(fold(c));
            in_space = false;
        }
    }
    out
}

fn normalized(text: &str) -> String {
    let mut out = Vec::new();
    normalize_into(text, &mut out);
    String::from_utf8(out).unwrap()
}

proptest::proptest! {
    #[test]
    fn normalization_equals_the_reference(text in "(?s).{0,200}") {
        proptest::prop_assert_eq!(normalized(&text), reference_normalize(&text));
    }

    #[test]
    fn normalization_of_mostly_ascii_equals_the_reference(text in "[ -~\t\n\r\x0b\x0cé\u{00A0}\u{2003}Σς]{0,200}") {
        proptest::prop_assert_eq!(normalized(&text), reference_normalize(&text));
    }
}

#[test]
fn space_runs_collapse_everywhere() {
    for (raw, expected) in [
        ("a  b", "a b"),
        ("  lead", " lead"),
        ("trail   ", "trail "),
        ("a \t\n b  c\r\n\r\nd", "a b c d"),
        ("    ", " "),
        ("no runs here", "no runs here"),
    ] {
        assert_eq!(normalized(raw), expected, "{raw:?}");
    }
}
