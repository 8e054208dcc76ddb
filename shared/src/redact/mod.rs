//! Redaction of secrets and personal data (SPEC §2.7). Placeholder: being written.
