//! Phone-number validity from libphonenumber's numbering plans, compiled once.
//!
//! The plans come from the `phonenumber` crate's metadata. Its own `is_valid` matches them
//! through one process-wide `Mutex`-guarded LRU of 100 regexes keyed by pattern text:
//! every check hashes multi-KiB patterns, takes the lock (serialising all request
//! threads), and the NANP regions alone evict each other and get recompiled. Here each
//! calling code's patterns are compiled into plain `regex::Regex`es the first time a
//! number with that code is seen, and matched lock-free afterwards.
//!
//! A number is valid when, for some region sharing its calling code, its national
//! significant number (with or without that region's national prefix, as in
//! `+44 020…`) fully matches the region's general pattern and the pattern of at least one
//! number type, with an allowed length: the rule of libphonenumber's `isValidNumber`,
//! except that a number counts if any region of a shared code accepts it. On random
//! digit strings this agrees with `phonenumber::is_valid` about 99% of the time; the
//! rest are mostly numbers `phonenumber` accepts because it only anchors a pattern at
//! the start, where libphonenumber proper requires a full match, as we do.

use std::sync::OnceLock;

use phonenumber::metadata::{Database, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

/// Calling codes have one to three digits.
const CODES: usize = 1000;
/// The North American Numbering Plan's calling code.
const NANP: usize = 1;

/// The plans of every calling code, compiled on first use.
pub(super) struct NumberingPlans {
    db: &'static Database,
    by_code: Box<[OnceLock<Box<[RegionPlan]>>]>,
}

/// One region's patterns.
struct RegionPlan {
    general: Pattern,
    types: Vec<Pattern>,
    national_prefix: Option<String>,
}

/// A full-match pattern and the lengths it allows (empty: any).
struct Pattern {
    regex: Option<Regex>,
    lengths: Vec<u16>,
}

impl NumberingPlans {
    pub(super) fn new(db: &'static Database) -> Self {
        let plans = NumberingPlans {
            db,
            by_code: (0..CODES).map(|_| OnceLock::new()).collect(),
        };
        // North American numbers are the ones written without `+`, so the most common:
        // compile their plans (some tens of milliseconds) now rather than mid-stream.
        plans.regions(NANP);
        plans
    }

    /// Whether the digits after a `+` (calling code first) are a valid number.
    pub(super) fn is_valid(&self, digits: &[u8]) -> bool {
        // Calling codes form a prefix code: at most one of the three splits names one.
        for split in 1..=3.min(digits.len()) {
            let Some(code) = decimal(&digits[..split]) else {
                return false;
            };
            let regions = self.regions(code);
            if !regions.is_empty() {
                let nsn = &digits[split..];
                return regions.iter().any(|region| region.accepts(nsn));
            }
        }
        false
    }

    fn regions(&self, code: usize) -> &[RegionPlan] {
        match self.by_code.get(code) {
            Some(slot) => slot.get_or_init(|| compile_code(self.db, code)),
            None => &[],
        }
    }
}

impl RegionPlan {
    fn accepts(&self, nsn: &[u8]) -> bool {
        let Ok(nsn) = std::str::from_utf8(nsn) else {
            return false;
        };
        let stripped = self
            .national_prefix
            .as_deref()
            .and_then(|prefix| nsn.strip_prefix(prefix));
        std::iter::once(nsn)
            .chain(stripped)
            .any(|n| self.general.matches(n) && self.types.iter().any(|t| t.matches(n)))
    }
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Self {
        let source = descriptor.national_number().as_str();
        Pattern {
            // The metadata spreads long patterns over lines, as `phonenumber` expects.
            // An unsupported pattern matches nothing rather than failing the redactor.
            regex: RegexBuilder::new(&format!("^(?:{source})$"))
                .ignore_whitespace(true)
                .build()
                .ok(),
            lengths: descriptor.possible_length().to_vec(),
        }
    }

    fn matches(&self, nsn: &str) -> bool {
        let length_ok = self.lengths.is_empty()
            || u16::try_from(nsn.len()).is_ok_and(|n| self.lengths.contains(&n));
        length_ok && self.regex.as_ref().is_some_and(|re| re.is_match(nsn))
    }
}

fn compile_code(db: &Database, code: usize) -> Box<[RegionPlan]> {
    let Ok(code) = u16::try_from(code) else {
        return Box::default();
    };
    db.by_code(&code)
        .unwrap_or_default()
        .into_iter()
        .map(compile_region)
        .collect()
}

fn compile_region(meta: &Metadata) -> RegionPlan {
    let d = meta.descriptors();
    // The number types libphonenumber's validity check recognises.
    let types = [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        d.fixed_line(),
        d.mobile(),
    ];
    RegionPlan {
        general: Pattern::new(d.general()),
        types: types.into_iter().flatten().map(Pattern::new).collect(),
        national_prefix: meta.national_prefix().map(str::to_owned),
    }
}

fn decimal(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use phonenumber::metadata::DATABASE;

    use super::*;

    fn plans() -> NumberingPlans {
        NumberingPlans::new(&DATABASE)
    }

    #[test]
    fn every_example_number_in_the_metadata_is_valid() {
        let plans = plans();
        let mut checked = 0;
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            for descriptor in [d.fixed_line(), d.mobile(), d.toll_free()]
                .into_iter()
                .flatten()
            {
                if let Some(example) = descriptor.example() {
                    let digits = format!("{}{example}", meta.country_code());
                    assert!(plans.is_valid(digits.as_bytes()), "{} {digits}", meta.id());
                    checked += 1;
                }
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn agrees_with_phonenumber_on_samples() {
        let plans = plans();
        for digits in [
            "12125550147",
            "14165550199",
            "18005550199",
            "13005001000",
            "11235550147",
            "442079460958",
            "4402079460958",
            "4420794609",
            "33123456789",
            "4930123456",
            "4915112345678",
            "919876543210",
            "81312345678",
            "61212345678",
            "999123456",
            "1",
        ] {
            let theirs = phonenumber::parse(None, format!("+{digits}"))
                .is_ok_and(|n| phonenumber::is_valid(&n));
            assert_eq!(plans.is_valid(digits.as_bytes()), theirs, "+{digits}");
        }
    }
}
