//! The parent/subcategory structure of the moderation taxonomy.
//!
//! OpenAI reports e.g. `self-harm/intent` alongside `self-harm` in practice but scores them
//! independently, so a result can carry the subcategory alone. The gateway closes every
//! provider's labels under "subcategory implies parent": a policy that flags `self-harm`
//! then also catches intent and instructions, whichever provider produced the labels.

use crate::category::{Category, CategorySet};

/// The category a subcategory refines (the name before the `/`), or `None` for a top-level
/// category.
pub const fn parent(category: Category) -> Option<Category> {
    match category {
        Category::HarassmentThreatening => Some(Category::Harassment),
        Category::HateThreatening => Some(Category::Hate),
        Category::IllicitViolent => Some(Category::Illicit),
        Category::SelfHarmIntent | Category::SelfHarmInstructions => Some(Category::SelfHarm),
        Category::SexualMinors => Some(Category::Sexual),
        Category::ViolenceGraphic => Some(Category::Violence),
        Category::Harassment
        | Category::Hate
        | Category::Illicit
        | Category::SelfHarm
        | Category::Sexual
        | Category::Violence => None,
    }
}

/// `set` plus the parent of every subcategory in it.
pub fn with_parents(set: CategorySet) -> CategorySet {
    set.iter().filter_map(parent).fold(set, |mut closed, p| {
        closed.insert(p);
        closed
    })
}

#[cfg(test)]
mod tests;
