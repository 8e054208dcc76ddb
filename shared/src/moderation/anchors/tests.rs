use super::*;

fn strings(literals: &[&str]) -> Vec<String> {
    literals.iter().map(|l| l.to_string()).collect()
}

#[test]
fn every_literal_contains_a_chosen_anchor() {
    let literals = strings(&[
        "i want to kill myself",
        "i am going to end my life",
        "how to make meth",
        "kill him",
        "i'm",
        "a b",
        "x-ray",
    ]);
    let anchors = choose(&literals);
    for literal in &literals {
        assert!(
            anchors.iter().any(|a| literal.contains(a.as_str())),
            "{literal} not covered by {anchors:?}"
        );
    }
}

#[test]
fn anchors_never_contain_whitespace_or_punctuation() {
    let anchors = choose(&strings(&["i'm going", "self-harm", "a   b"]));
    for anchor in &anchors {
        assert!(
            anchor.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{anchor:?}"
        );
    }
}

#[test]
fn shared_words_are_preferred_to_one_anchor_per_literal() {
    let anchors = choose(&strings(&[
        "kill myself tonight",
        "hang myself",
        "cut myself",
    ]));
    assert_eq!(anchors, ["myself"]);
}

#[test]
fn common_words_are_avoided_when_a_literal_has_another() {
    let anchors = choose(&strings(&["how to make meth", "where can you buy meth"]));
    assert_eq!(anchors, ["meth"]);
    // A literal of common words only still gets an anchor.
    assert_eq!(choose(&strings(&["you and her"])), ["and"]);
}

#[test]
fn choice_is_deterministic() {
    let literals = strings(&["beta alpha", "alpha gamma", "delta beta", "gamma delta"]);
    assert_eq!(choose(&literals), choose(&literals));
    assert!(choose(&[]).is_empty());
}
