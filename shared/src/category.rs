//! The moderation taxonomy (SPEC §2.2) and a compact set of its categories.

use std::fmt;

/// One moderation category, named as in OpenAI's moderation API.
///
/// The declaration order is the taxonomy order that decision records use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Harassment,
    HarassmentThreatening,
    Hate,
    HateThreatening,
    Illicit,
    IllicitViolent,
    SelfHarm,
    SelfHarmIntent,
    SelfHarmInstructions,
    Sexual,
    SexualMinors,
    Violence,
    ViolenceGraphic,
}

impl Category {
    /// Every category, in taxonomy order.
    pub const ALL: [Category; 13] = [
        Category::Harassment,
        Category::HarassmentThreatening,
        Category::Hate,
        Category::HateThreatening,
        Category::Illicit,
        Category::IllicitViolent,
        Category::SelfHarm,
        Category::SelfHarmIntent,
        Category::SelfHarmInstructions,
        Category::Sexual,
        Category::SexualMinors,
        Category::Violence,
        Category::ViolenceGraphic,
    ];

    /// The wire name, e.g. `self-harm/intent`.
    pub const fn name(self) -> &'static str {
        match self {
            Category::Harassment => "harassment",
            Category::HarassmentThreatening => "harassment/threatening",
            Category::Hate => "hate",
            Category::HateThreatening => "hate/threatening",
            Category::Illicit => "illicit",
            Category::IllicitViolent => "illicit/violent",
            Category::SelfHarm => "self-harm",
            Category::SelfHarmIntent => "self-harm/intent",
            Category::SelfHarmInstructions => "self-harm/instructions",
            Category::Sexual => "sexual",
            Category::SexualMinors => "sexual/minors",
            Category::Violence => "violence",
            Category::ViolenceGraphic => "violence/graphic",
        }
    }

    /// Parses a wire name. Matching is exact: the taxonomy is lowercase.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The known names joined for error messages.
    pub fn known_names() -> String {
        Category::ALL.map(Category::name).join(", ")
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Category {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Category::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown moderation category {name:?}; known: {}",
                Category::known_names()
            ))
        })
    }
}

/// A set of categories as a bit mask: copying and intersecting it costs nothing on the
/// request path, and iteration is always in taxonomy order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u16);

impl CategorySet {
    pub const EMPTY: CategorySet = CategorySet(0);

    pub fn insert(&mut self, category: Category) {
        self.0 |= category.bit();
    }

    pub fn contains(self, category: Category) -> bool {
        self.0 & category.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn intersection(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & other.0)
    }

    pub fn union(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 | other.0)
    }

    /// Members in taxonomy order.
    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// Parses wire names, returning the first unknown name as the error.
    pub fn parse_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<CategorySet, String> {
        names
            .into_iter()
            .try_fold(CategorySet::EMPTY, |mut set, name| {
                let category = Category::parse(name.trim()).ok_or_else(|| name.to_string())?;
                set.insert(category);
                Ok(set)
            })
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Category::name).collect()
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        iter.into_iter().fold(CategorySet::EMPTY, |mut set, c| {
            set.insert(c);
            set
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for category in Category::ALL {
            assert_eq!(Category::parse(category.name()), Some(category));
        }
        assert_eq!(Category::parse("Self-Harm"), None);
        assert_eq!(Category::parse("violence/"), None);
    }

    #[test]
    fn set_iterates_in_taxonomy_order_whatever_the_insert_order() {
        let set: CategorySet = [
            Category::ViolenceGraphic,
            Category::Harassment,
            Category::SelfHarm,
        ]
        .into_iter()
        .collect();
        assert_eq!(set.names(), ["harassment", "self-harm", "violence/graphic"]);
    }

    #[test]
    fn parse_names_reports_the_unknown_name() {
        assert_eq!(
            CategorySet::parse_names(["hate", "gore"]),
            Err("gore".to_string())
        );
    }
}
