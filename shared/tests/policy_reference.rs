//! Keeps `docs/policy-reference.md` and the validator's schema in step: every field the
//! validator accepts is documented, and the document names no field the validator rejects.

use std::collections::BTreeSet;

#[test]
fn the_policy_reference_lists_exactly_the_accepted_fields() {
    let doc = include_str!("../../docs/policy-reference.md");
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("| `/"))
        .filter_map(|rest| rest.split('`').next())
        .map(|field| format!("/{field}"))
        .collect();
    let accepted: BTreeSet<String> = policy_engine::validate::field_pointers()
        .into_iter()
        .collect();
    let undocumented: Vec<_> = accepted.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&accepted).collect();
    assert!(
        undocumented.is_empty(),
        "fields missing from docs/policy-reference.md: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/policy-reference.md documents fields the validator rejects: {unknown:?}"
    );
}
