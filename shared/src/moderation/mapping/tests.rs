use super::*;

fn names(set: CategorySet) -> Vec<&'static str> {
    set.names()
}

#[test]
fn llama_guard_table_matches_the_documented_mapping() {
    let expected: [(&str, &[&str]); 14] = [
        ("S1", &["illicit", "illicit/violent", "violence"]),
        ("S2", &["illicit"]),
        ("S3", &["sexual"]),
        ("S4", &["sexual", "sexual/minors"]),
        ("S5", &[]),
        ("S6", &[]),
        ("S7", &[]),
        ("S8", &[]),
        ("S9", &["illicit", "illicit/violent"]),
        ("S10", &["hate"]),
        ("S11", &["self-harm"]),
        ("S12", &["sexual"]),
        ("S13", &[]),
        ("S14", &[]),
    ];
    for (code, categories) in expected {
        assert_eq!(names(llama_guard_categories(code)), categories, "{code}");
    }
}

#[test]
fn llama_guard_codes_are_case_insensitive_and_trimmed() {
    assert_eq!(llama_guard_categories("s4"), llama_guard_categories("S4"));
    assert_eq!(
        llama_guard_categories(" S11\n"),
        llama_guard_categories("S11")
    );
}

#[test]
fn unknown_llama_guard_codes_map_to_nothing() {
    for code in ["", "S0", "S15", "S1,S2", "unsafe", "S 1", "S01"] {
        assert!(llama_guard_categories(code).is_empty(), "{code:?}");
    }
}

#[test]
fn llama_guard_table_lists_each_code_once_in_order() {
    for (i, hazard) in LLAMA_GUARD_HAZARDS.iter().enumerate() {
        assert_eq!(hazard.code, format!("S{}", i + 1));
    }
}

#[test]
fn openai_flags_become_categories_with_parents() {
    let flags = [
        ("harassment", false),
        ("self-harm/intent", true),
        ("sexual/minors", true),
        ("violence", false),
    ];
    assert_eq!(
        names(openai_categories(flags)),
        ["self-harm", "self-harm/intent", "sexual", "sexual/minors"]
    );
}

#[test]
fn openai_unknown_and_unflagged_keys_are_ignored() {
    let flags = [
        ("hate", false),
        ("spam", true),
        ("Self-Harm", true),
        ("illicit", true),
    ];
    assert_eq!(names(openai_categories(flags)), ["illicit"]);
    assert!(openai_categories(std::iter::empty()).is_empty());
}

#[test]
fn openai_every_category_name_is_understood() {
    for category in Category::ALL {
        let set = openai_categories([(category.name(), true)]);
        assert!(set.contains(category), "{category}");
    }
}

#[test]
fn openai_reads_a_real_response_shape() {
    let body = serde_json::json!({
        "results": [{
            "flagged": true,
            "categories": {
                "harassment": false, "harassment/threatening": false, "hate": false,
                "hate/threatening": false, "illicit": false, "illicit/violent": false,
                "self-harm": false, "self-harm/intent": true, "self-harm/instructions": false,
                "sexual": false, "sexual/minors": false, "violence": false,
                "violence/graphic": false
            }
        }]
    });
    let categories = body["results"][0]["categories"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let set = openai_categories(
        categories
            .iter()
            .map(|(name, flagged)| (name.as_str(), flagged.as_bool().unwrap_or(false))),
    );
    assert_eq!(names(set), ["self-harm", "self-harm/intent"]);
}
