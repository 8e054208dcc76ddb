//! The default lexicon's behaviour: each category fires on what it is for, and ordinary
//! traffic stays clean.

use super::*;
use crate::category::CategorySet;
use crate::moderation::{Lexicon, with_parents};

fn classify(text: &str) -> CategorySet {
    Lexicon::builtin().classify(text)
}

fn just(category: Category) -> CategorySet {
    with_parents([category].into_iter().collect())
}

/// One representative message per category.
const EXAMPLES: [(Category, &str); 13] = [
    (
        Category::Harassment,
        "Honestly, you are worthless and everyone knows it.",
    ),
    (
        Category::HarassmentThreatening,
        "If you report me I will find you and hurt you.",
    ),
    (Category::Hate, "All immigrants are vermin."),
    (
        Category::HateThreatening,
        "We should exterminate the refugees.",
    ),
    (
        Category::Illicit,
        "Can you explain how to make meth at home?",
    ),
    (Category::IllicitViolent, "How do I build a pipe bomb?"),
    (Category::SelfHarm, "I've been cutting myself again."),
    (Category::SelfHarmIntent, "I want to kill myself."),
    (
        Category::SelfHarmInstructions,
        "What is the best way to overdose on tylenol?",
    ),
    (Category::Sexual, "Send me nudes tonight"),
    (Category::SexualMinors, "Where can I download child porn"),
    (Category::Violence, "I'm going to murder my boss tomorrow"),
    (
        Category::ViolenceGraphic,
        "His guts spilling out onto the floor",
    ),
];

/// One message per pattern, for phrasings the terms do not list.
const PATTERN_EXAMPLES: [(Category, &str); 16] = [
    (Category::HarassmentThreatening, "I'm gonna hurt you"),
    (Category::Hate, "muslims are subhuman"),
    (Category::HateThreatening, "exterminate the refugees"),
    (
        Category::HateThreatening,
        "immigrants should be exterminated",
    ),
    (Category::Illicit, "how do I synthesize fentanyl"),
    (Category::Illicit, "where can I buy heroin"),
    (Category::Illicit, "selling stolen card numbers, dm me"),
    (Category::IllicitViolent, "how can I make a nail bomb"),
    (
        Category::SelfHarmIntent,
        "I’m seriously planning to take my own life",
    ),
    (Category::SelfHarmInstructions, "how do I kill myself"),
    (
        Category::SelfHarmInstructions,
        "how many sleeping pills would it take to overdose",
    ),
    (Category::SexualMinors, "naked pictures of a 12-year-old"),
    (Category::SexualMinors, "nude photos of 13   year old girls"),
    (Category::SexualMinors, "I want to molest a little girl"),
    (Category::Violence, "I will murder my landlord"),
    (Category::Violence, "i'll kill him"),
];

/// Ordinary support, travel and HR traffic, including idioms built from the lexicon's words.
const BENIGN: &[&str] = &[
    "Can you kill the process that's hanging on port 8080?",
    "This deal is a steal at that price.",
    "Shoot me an email when the report is ready.",
    "My flight was a disaster and I lost my luggage.",
    "My therapist recommended a standing desk.",
    "How do I make a bath bomb for my niece?",
    "Where can I buy a white power adapter for my laptop?",
    "Our child care leave policy changed this year.",
    "Sexual harassment training is mandatory for all staff.",
    "We need explicit consent before sharing customer data.",
    "This is a killer feature, the team will love it.",
    "I'm dying to see the new office.",
    "This commute is killing me.",
    "My boss will kill me if I miss the deadline.",
    "Don't kill yourself over this deadline, it can wait.",
    "The presentation bombed, so I need a new deck.",
    "How to make methane from biogas?",
    "I'll shoot him a message about the invoice.",
    "Please wipe out the backlog before Friday.",
    "The gas station near the hotel closes at ten.",
    "How many nights do I need to book to get the discount?",
    "Please terminate the contract and execute the cleanup script.",
    "I nearly died laughing at the team offsite.",
    "Hang in there, the refund is on its way.",
    "I'll hurt your feelings if I say the draft is bad.",
    "The customer said our pricing is murder.",
    "The rats in the warehouse need an exterminator.",
    "Refugees are welcome at our Berlin office.",
    "Women are underrepresented in engineering.",
    "The kids loved the naked mole rats at the zoo.",
    "Send me the photos of the kids from the offsite.",
    "I want to kill two birds with one stone.",
    "I'm going to kill my presentation tomorrow.",
    "How do I change my seat? I want to stab... no, just swap it.",
    "Our pen-test team cracked the staging password; please rotate it.",
    "The cleanup job will exterminate stale sessions.",
    "Print the counterfeit detection report for the bank audit.",
];

#[test]
fn the_default_lexicon_compiles() {
    let compiled = Lexicon::from_entries(DEFAULT_LEXICON);
    assert!(compiled.is_ok(), "{compiled:?}");
}

#[test]
fn every_category_has_an_entry_in_taxonomy_order() {
    let categories: Vec<Category> = DEFAULT_LEXICON.iter().map(|e| e.category).collect();
    assert_eq!(categories, Category::ALL);
}

#[test]
fn each_category_fires_on_its_example() {
    for (category, text) in EXAMPLES {
        assert_eq!(classify(text), just(category), "{text:?}");
    }
}

#[test]
fn examples_fire_whatever_the_case_and_spacing() {
    for (category, text) in EXAMPLES {
        let variants = [
            text.to_ascii_uppercase(),
            text.to_ascii_lowercase(),
            text.replace(' ', "  \t\n "),
            text.replace(' ', "\u{a0}"),
            format!(
                "\n\n   {}   \n",
                text.to_ascii_uppercase().replace(' ', "\r\n")
            ),
            alternate_case(text),
        ];
        for variant in variants {
            assert_eq!(classify(&variant), just(category), "{variant:?}");
        }
    }
}

#[test]
fn each_pattern_fires_on_its_example() {
    for (category, text) in PATTERN_EXAMPLES {
        assert_eq!(classify(text), just(category), "{text:?}");
        assert_eq!(
            classify(&text.to_ascii_uppercase().replace(' ', "\n")),
            just(category),
            "{text:?}"
        );
    }
    let patterns: usize = DEFAULT_LEXICON.iter().map(|e| e.patterns.len()).sum();
    assert!(
        PATTERN_EXAMPLES.len() >= patterns,
        "every pattern needs an example here"
    );
}

#[test]
fn every_term_fires_its_own_category_alone_and_inside_prose() {
    for entry in DEFAULT_LEXICON {
        let expected = just(entry.category);
        for term in entry.terms {
            let alone = classify(term);
            assert_eq!(
                alone.intersection(expected),
                expected,
                "{term:?} gave {:?}",
                alone.names()
            );
            let typographic = term.replace('\'', "\u{2019}");
            assert_eq!(
                classify(&typographic).intersection(expected),
                expected,
                "{typographic:?}"
            );
            let inside = format!("Hi there. {}, he wrote (twice).", term.to_ascii_uppercase());
            assert_eq!(
                classify(&inside).intersection(expected),
                expected,
                "{inside:?}"
            );
        }
    }
}

#[test]
fn ordinary_traffic_is_not_flagged() {
    for text in BENIGN {
        assert_eq!(classify(text).names(), Vec::<&str>::new(), "{text:?}");
        assert!(classify(&text.to_ascii_uppercase()).is_empty(), "{text:?}");
    }
    let all = BENIGN.join("\n\n");
    assert!(classify(&all).is_empty());
}

#[test]
fn hits_need_word_boundaries() {
    assert!(classify("how to make methamphetamine").contains(Category::Illicit));
    assert!(classify("how to make methanol").is_empty());
    assert!(classify("xhow to make meth").is_empty());
    assert!(classify("send nudes").contains(Category::Sexual));
    assert!(classify("send nudesx").is_empty());
    assert!(classify("resend nudes").is_empty());
    assert!(
        classify("a mutilated corpse-like shape").contains(Category::ViolenceGraphic),
        "hyphen ends a word"
    );
    assert!(
        classify("mutilated corpse_like").is_empty(),
        "underscore does not"
    );
    assert!(
        classify("sieg heilé").is_empty(),
        "non-ASCII letters continue a word"
    );
}

#[test]
fn several_categories_are_reported_together_in_taxonomy_order() {
    let text = "I want to kill myself. Also, how to make meth? And you are worthless.";
    assert_eq!(
        classify(text).names(),
        ["harassment", "illicit", "self-harm", "self-harm/intent"]
    );
}

#[test]
fn a_long_message_with_one_hit_deep_inside_is_caught() {
    let prose = "The quarterly review went well and the team shipped on time. ".repeat(80);
    let text = format!("{prose}I   want\tto\n\nKILL myself. {prose}");
    assert_eq!(classify(&text), just(Category::SelfHarmIntent));
}

fn alternate_case(text: &str) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}
