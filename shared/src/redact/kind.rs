//! What the redactor looks for, and how many of each it replaced.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// One kind of secret or personal datum the redactor replaces (SPEC §2.7).
///
/// The declaration order is the order of [`RedactionKind::ALL`], which is also the
/// tie-break when two kinds match the same span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RedactionKind {
    /// An e-mail address.
    Email,
    /// A NANP or E.164 international phone number.
    Phone,
    /// A US social security number.
    Ssn,
    /// A Luhn-valid payment card number.
    Card,
    /// A credential of a known provider (OpenAI, Anthropic, AWS, GitHub, Slack, Stripe,
    /// Google), a JWT, or this gateway's own `ak_` key.
    ApiKey,
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// An IBAN with valid check digits.
    Iban,
}

impl RedactionKind {
    /// Every kind, in declaration order.
    pub const ALL: [RedactionKind; 7] = [
        RedactionKind::Email,
        RedactionKind::Phone,
        RedactionKind::Ssn,
        RedactionKind::Card,
        RedactionKind::ApiKey,
        RedactionKind::Ipv4,
        RedactionKind::Iban,
    ];

    /// The wire name, as used in `[REDACTED:<name>]` and in counts.
    pub const fn name(self) -> &'static str {
        match self {
            RedactionKind::Email => "email",
            RedactionKind::Phone => "phone",
            RedactionKind::Ssn => "ssn",
            RedactionKind::Card => "card",
            RedactionKind::ApiKey => "api_key",
            RedactionKind::Ipv4 => "ipv4",
            RedactionKind::Iban => "iban",
        }
    }

    /// The text that replaces a match of this kind.
    pub const fn replacement(self) -> &'static str {
        match self {
            RedactionKind::Email => "[REDACTED:email]",
            RedactionKind::Phone => "[REDACTED:phone]",
            RedactionKind::Ssn => "[REDACTED:ssn]",
            RedactionKind::Card => "[REDACTED:card]",
            RedactionKind::ApiKey => "[REDACTED:api_key]",
            RedactionKind::Ipv4 => "[REDACTED:ipv4]",
            RedactionKind::Iban => "[REDACTED:iban]",
        }
    }

    const fn index(self) -> usize {
        match self {
            RedactionKind::Email => 0,
            RedactionKind::Phone => 1,
            RedactionKind::Ssn => 2,
            RedactionKind::Card => 3,
            RedactionKind::ApiKey => 4,
            RedactionKind::Ipv4 => 5,
            RedactionKind::Iban => 6,
        }
    }
}

impl fmt::Display for RedactionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many matches of each kind were replaced.
///
/// Serializes as a JSON object with only the non-zero kinds, e.g. `{"email": 2}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactionCounts {
    per_kind: [u64; 7],
}

impl RedactionCounts {
    /// The count for one kind.
    pub fn get(&self, kind: RedactionKind) -> u64 {
        self.per_kind[kind.index()]
    }

    /// The count over all kinds.
    pub fn total(&self) -> u64 {
        self.per_kind.iter().sum()
    }

    /// Whether nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.per_kind.iter().all(|&n| n == 0)
    }

    /// Adds another set of counts to this one (e.g. over the messages of a request).
    pub fn add(&mut self, other: &RedactionCounts) {
        for (mine, theirs) in self.per_kind.iter_mut().zip(other.per_kind) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The non-zero counts, in [`RedactionKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (RedactionKind, u64)> + '_ {
        RedactionKind::ALL
            .into_iter()
            .map(|kind| (kind, self.get(kind)))
            .filter(|&(_, n)| n > 0)
    }

    pub(super) fn bump(&mut self, kind: RedactionKind) {
        let slot = &mut self.per_kind[kind.index()];
        *slot = slot.saturating_add(1);
    }
}

impl Serialize for RedactionCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.iter().count()))?;
        for (kind, n) in self.iter() {
            map.serialize_entry(kind.name(), &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_replacements_agree() {
        for kind in RedactionKind::ALL {
            assert_eq!(kind.replacement(), format!("[REDACTED:{}]", kind.name()));
            assert_eq!(RedactionKind::ALL[kind.index()], kind);
        }
    }

    #[test]
    fn counts_serialize_only_non_zero_kinds_in_order() {
        let mut counts = RedactionCounts::default();
        assert!(counts.is_empty());
        assert_eq!(serde_json::to_string(&counts).unwrap(), "{}");
        counts.bump(RedactionKind::Iban);
        counts.bump(RedactionKind::Email);
        counts.bump(RedactionKind::Email);
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"email":2,"iban":1}"#
        );
        assert_eq!(counts.total(), 3);
        assert_eq!(counts.get(RedactionKind::Phone), 0);

        let mut sum = counts.clone();
        sum.add(&counts);
        assert_eq!(sum.get(RedactionKind::Email), 4);
        assert_eq!(
            sum.iter().collect::<Vec<_>>(),
            vec![(RedactionKind::Email, 4), (RedactionKind::Iban, 2)]
        );
    }
}
