//! Redaction of secrets and personal data (SPEC §2.7).
//!
//! Seven kinds are replaced by `[REDACTED:<kind>]`: e-mail addresses, phone numbers, US
//! social security numbers, payment cards, API keys, IPv4 addresses and IBANs. Matching
//! alone over-reports, so every candidate is validated the way its issuer defines it
//! (Luhn, mod-97, SSA rules, a real IPv4 parse, libphonenumber) and must stand apart
//! from surrounding letters and digits; dates, times, versions, order numbers and prose
//! stay as they are.
//!
//! # Layout
//! - `window`: the bytes a detector may read, refusing to answer past the end of a
//!   stream buffer that is still growing.
//! - `scanner`: the left-to-right scan over all detectors, shared by both entry points.
//! - one file per kind: `email`, `phone`, `ssn`, `card`, `api_key`, `ipv4`, `iban`, with
//!   `numeric` holding the boundary rules of the digit-based ones.
//! - `redactor`: [`Redactor`] and whole-text redaction; `stream`: [`StreamRedactor`].
//! - `json`: [`JsonStreamRedactor`], for JSON text a model writes (tool-call arguments):
//!   string values are decoded before they are scanned.
//!
//! # Whole text and streams agree
//! A detector decides whether a match starts at a position from a bounded window around
//! it, and says so when that window reaches past what has arrived. The stream runs the
//! very same scan over its buffer and emits only up to the first undecided position, so
//! for every chunking its output is byte for byte the whole-text output.

mod api_key;
mod card;
mod email;
mod iban;
mod ipv4;
mod json;
mod kind;
mod numeric;
mod phone;
mod phone_plan;
mod redactor;
mod scanner;
mod ssn;
mod stream;
mod window;

#[cfg(test)]
mod tests;

pub use json::JsonStreamRedactor;
pub use kind::{RedactionCounts, RedactionKind};
pub use redactor::{Redacted, Redactor, redact};
pub use stream::{MAX_HOLD_BACK, StreamRedactor};
