//! Labels from external moderation models, mapped onto the gateway's taxonomy (SPEC §2.2).
//!
//! The data plane's `openai` provider talks to any `/v1/moderations`-compatible endpoint;
//! behind it may sit OpenAI itself or an adapter in front of Llama Guard. Both mappings live
//! here, as pure tables, so simulate and enforce read labels the same way.

use crate::category::{Category, CategorySet};
use crate::moderation::taxonomy::with_parents;

/// One Llama Guard 3 hazard category and the taxonomy categories it maps onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlamaGuardHazard {
    /// The code Llama Guard emits, e.g. `S11`.
    pub code: &'static str,
    /// The hazard's name in the Llama Guard 3 model card.
    pub name: &'static str,
    /// Our categories for it; empty when the taxonomy has no equivalent.
    pub categories: &'static [Category],
}

/// Llama Guard 3's hazard codes (S1–S14; Llama Guard 4 keeps the same codes).
///
/// Hazards without an equivalent in the OpenAI taxonomy (defamation, specialized advice,
/// privacy, intellectual property, elections, code interpreter abuse) map to nothing: a
/// policy cannot flag them by category, so reporting a nearby category would be a guess.
pub const LLAMA_GUARD_HAZARDS: [LlamaGuardHazard; 14] = [
    hazard(
        "S1",
        "Violent Crimes",
        &[Category::Violence, Category::IllicitViolent],
    ),
    hazard("S2", "Non-Violent Crimes", &[Category::Illicit]),
    hazard("S3", "Sex-Related Crimes", &[Category::Sexual]),
    hazard("S4", "Child Sexual Exploitation", &[Category::SexualMinors]),
    hazard("S5", "Defamation", &[]),
    hazard("S6", "Specialized Advice", &[]),
    hazard("S7", "Privacy", &[]),
    hazard("S8", "Intellectual Property", &[]),
    hazard("S9", "Indiscriminate Weapons", &[Category::IllicitViolent]),
    hazard("S10", "Hate", &[Category::Hate]),
    hazard("S11", "Suicide & Self-Harm", &[Category::SelfHarm]),
    hazard("S12", "Sexual Content", &[Category::Sexual]),
    hazard("S13", "Elections", &[]),
    hazard("S14", "Code Interpreter Abuse", &[]),
];

const fn hazard(
    code: &'static str,
    name: &'static str,
    categories: &'static [Category],
) -> LlamaGuardHazard {
    LlamaGuardHazard {
        code,
        name,
        categories,
    }
}

/// The categories for one Llama Guard hazard code (`S1`…`S14`, any case, surrounding
/// whitespace ignored), with parents added. An unknown code maps to the empty set.
pub fn llama_guard_categories(code: &str) -> CategorySet {
    let code = code.trim();
    LLAMA_GUARD_HAZARDS
        .iter()
        .find(|hazard| hazard.code.eq_ignore_ascii_case(code))
        .map_or(CategorySet::EMPTY, |hazard| {
            with_parents(hazard.categories.iter().copied().collect())
        })
}

/// The labels in an OpenAI `/v1/moderations` `results[0].categories` map: every key whose
/// value is `true`, with parents added. Keys outside the taxonomy are ignored, since OpenAI
/// adds categories over time and an unknown one cannot appear in any policy anyway.
pub fn openai_categories<'a>(flags: impl IntoIterator<Item = (&'a str, bool)>) -> CategorySet {
    let flagged = flags
        .into_iter()
        .filter(|&(_, flagged)| flagged)
        .filter_map(|(name, _)| Category::parse(name))
        .collect();
    with_parents(flagged)
}

#[cfg(test)]
mod tests;
