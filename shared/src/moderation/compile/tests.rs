use super::*;

#[test]
fn pattern_spaces_become_whitespace_runs_outside_classes_and_escapes() {
    assert_eq!(spaces_as_whitespace_runs("how to"), r"how\s+to");
    assert_eq!(
        spaces_as_whitespace_runs("(?:[a-z]+ ){1,3}x"),
        r"(?:[a-z]+\s+){1,3}x"
    );
    assert_eq!(spaces_as_whitespace_runs("[ a] b"), r"[ a]\s+b");
    assert_eq!(spaces_as_whitespace_runs(r"a\ b"), r"a\ b");
    assert_eq!(spaces_as_whitespace_runs(r"[\] ] c"), r"[\] ]\s+c");
}

#[test]
fn literals_are_deduplicated_and_get_typographic_spellings() {
    let mut literals = Literals::default();
    let first = literals.spellings("i'm done".to_string());
    let again = literals.spellings("i'm done".to_string());
    assert_eq!(first, again);
    assert_eq!(literals.texts, ["i’m done", "i'm done"]);
    assert_eq!(literals.spellings("plain".to_string()).len(), 1);
}

#[test]
fn prefixes_are_linked_to_the_longer_literal() {
    let texts: Vec<String> = ["kill myself", "kill myself tonight", "kill", "myself"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut meanings = vec![Meaning::default(); texts.len()];
    link_prefixes(&texts, &mut meanings);
    assert_eq!(meanings[1].shorter, [0, 2]);
    assert_eq!(meanings[0].shorter, [2]);
    assert!(meanings[3].shorter.is_empty());
}
