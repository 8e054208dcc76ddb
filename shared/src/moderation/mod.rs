//! The builtin moderation lexicon classifier (SPEC §2.2). Placeholder: being written.
