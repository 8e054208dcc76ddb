use super::*;

const WHOLE: Edges = Edges {
    starts_text: true,
    ends_text: true,
};

fn collapsed(text: &str) -> String {
    let mut out = String::new();
    collapse_whitespace_into(text, &mut out);
    out
}

#[test]
fn whitespace_runs_of_any_kind_become_one_space() {
    assert_eq!(collapsed("a \t\n b\u{a0}\u{2003}c  "), "a b c ");
    assert_eq!(collapsed("no-runs here"), "no-runs here");
    assert_eq!(collapsed(""), "");
}

#[test]
fn literals_are_trimmed_collapsed_and_lowercased() {
    assert_eq!(normalise_literal("  Kill\t\tMyself \n"), "kill myself");
    assert_eq!(normalise_literal("I'M"), "i'm");
}

#[test]
fn boundaries_need_non_word_characters_or_the_message_edge() {
    let hay = "the therapist's rapist, rapist_x";
    assert!(!on_word_boundaries(hay, 7, 13, WHOLE), "inside 'therapist'");
    assert!(on_word_boundaries(hay, 16, 22, WHOLE), "before a comma");
    assert!(
        !on_word_boundaries(hay, 24, 30, WHOLE),
        "underscore is a word char"
    );
    assert!(on_word_boundaries("rapist", 0, 6, WHOLE));
}

#[test]
fn non_ascii_letters_are_word_characters() {
    let hay = "émeth methé meth";
    assert!(!on_word_boundaries(hay, 2, 6, WHOLE));
    assert!(!on_word_boundaries(hay, 7, 11, WHOLE));
    assert!(on_word_boundaries(hay, 14, 18, WHOLE));
}

#[test]
fn a_window_edge_that_is_not_the_message_edge_is_not_a_boundary() {
    let inner = Edges {
        starts_text: false,
        ends_text: false,
    };
    assert!(!on_word_boundaries("meth", 0, 4, inner));
    assert!(on_word_boundaries(" meth ", 1, 5, inner));
}

#[test]
fn offsets_off_character_boundaries_never_qualify() {
    assert!(!on_word_boundaries("é", 1, 2, WHOLE));
    assert!(!on_word_boundaries("ab", 1, 9, WHOLE));
}

#[test]
fn reach_counts_whitespace_runs_once() {
    let text = "abc     def";
    // Collapsed, "c" + " " + "de" is four bytes.
    assert_eq!(reach_back(text, 10, 4), 2);
    assert_eq!(reach_forward(text, 2, 4), 10);
    assert_eq!(reach_back(text, 3, 100), 0);
    assert_eq!(reach_forward(text, 3, 100), text.len());
}

#[test]
fn reach_lands_on_character_boundaries() {
    let text = "ééé x ééé";
    for from in [0, 2, 6, 7, 8, 14] {
        for reach in 0..12 {
            assert!(text.is_char_boundary(reach_back(text, from, reach)));
            assert!(text.is_char_boundary(reach_forward(text, from, reach)));
        }
    }
}

#[test]
fn next_boundary_always_moves_forward() {
    assert_eq!(next_char_boundary("aé", 0), 1);
    assert_eq!(next_char_boundary("aé", 1), 3);
    assert_eq!(next_char_boundary("aé", 3), 3);
}
