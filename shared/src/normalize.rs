//! Identifier normalization (SPEC §3.2). The normalized forms are what is stored, matched
//! and sampled on, so `Alice.Smith` and `alice smith` are one quota subject and one
//! rollout arm.

/// Longest slug kept, in characters.
pub const MAX_SLUG_CHARS: usize = 64;

/// Normalizes a user or project identifier to a lowercase slug: alphanumerics are
/// lowercased, every other run of characters becomes one `-`, and `-` is trimmed from both
/// ends, within [`MAX_SLUG_CHARS`]. Returns `None` when nothing identifying is left.
pub fn slug(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(MAX_SLUG_CHARS));
    let mut chars = 0;
    let mut pending_dash = false;
    for c in raw.chars().flat_map(char::to_lowercase) {
        if !c.is_alphanumeric() {
            pending_dash = !out.is_empty();
            continue;
        }
        // A dash is only written once another alphanumeric follows, so the slug never ends
        // in one; the length check counts that dash too.
        let needed = if pending_dash { 2 } else { 1 };
        if chars + needed > MAX_SLUG_CHARS {
            break;
        }
        if pending_dash {
            out.push('-');
            chars += 1;
            pending_dash = false;
        }
        out.push(c);
        chars += 1;
    }
    (!out.is_empty()).then_some(out)
}

/// Normalizes a policy target: lowercased, whitespace runs collapsed to one space, trimmed.
/// Returns `None` for a blank target.
pub fn target(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs_lowercase_and_dash_separate() {
        assert_eq!(
            slug("Alice.Smith@Example.COM").as_deref(),
            Some("alice-smith-example-com")
        );
        assert_eq!(slug("  Support bot  ").as_deref(), Some("support-bot"));
        assert_eq!(slug("--knowledge__bot--").as_deref(), Some("knowledge-bot"));
        assert_eq!(slug("user 42").as_deref(), Some("user-42"));
        assert_eq!(slug("José Müller").as_deref(), Some("josé-müller"));
    }

    #[test]
    fn blank_or_symbol_only_identifiers_are_absent() {
        assert_eq!(slug(""), None);
        assert_eq!(slug(" -_- "), None);
        assert_eq!(target("   "), None);
    }

    #[test]
    fn slugs_are_capped_without_a_trailing_dash() {
        let long = format!("{}-{}", "a".repeat(63), "b".repeat(10));
        let s = slug(&long).unwrap();
        assert_eq!(s, "a".repeat(63));
        assert_eq!(
            slug(&"x".repeat(200)).unwrap().chars().count(),
            MAX_SLUG_CHARS
        );
    }

    #[test]
    fn targets_keep_inner_words() {
        assert_eq!(
            target("  Knowledge   Bot\t").as_deref(),
            Some("knowledge bot")
        );
        assert_eq!(target("knowledge-bot").as_deref(), Some("knowledge-bot"));
    }

    proptest! {
        #[test]
        fn slug_is_idempotent(raw in any::<String>()) {
            if let Some(once) = slug(&raw) {
                prop_assert_eq!(slug(&once), Some(once.clone()));
                prop_assert!(once.chars().count() <= MAX_SLUG_CHARS);
                prop_assert!(!once.starts_with('-') && !once.ends_with('-'));
                prop_assert!(!once.contains("--"));
            }
        }

        #[test]
        fn target_is_idempotent(raw in any::<String>()) {
            if let Some(once) = target(&raw) {
                prop_assert_eq!(target(&once), Some(once.clone()));
            }
        }
    }
}
