//! The default lexicon of the `builtin` moderation provider.
//!
//! Scope: a small, reviewed list of unambiguous phrases per category, plus a few patterns
//! for phrasings with a variable middle. It is written for precision, not recall. Ordinary
//! support, travel and HR traffic ("kill the process", "shoot me an email", "the deal is a
//! steal", "my flight was a disaster") must never be flagged, so idioms and single words
//! that are harmless in everyday use are left out on purpose: no bare "kill", "die",
//! "bomb" or slurs, and violent verbs only with a person as the object. Threats and intent
//! are mostly first-person phrasings; mentions (news, reports, policy text) mostly are not
//! matched. `sexual/minors` is hard-blocked by default (SPEC §2.2), so its phrases are
//! requests for or descriptions of abuse material and abuse, never the name of the crime
//! on its own, which appears in reports and safeguarding policies.
//!
//! A lexicon cannot read context, irony or other languages. Operators who need real recall
//! should configure the `openai` provider (any `/v1/moderations`-compatible endpoint,
//! including a Llama Guard adapter; SPEC §2.2) and keep `builtin` as the offline fallback.
//!
//! How entries are matched: see [`Lexicon`](super::Lexicon). Terms are lowercase ASCII
//! with single spaces (the compiler normalises anyway); a straight apostrophe also matches
//! a typographic one. Patterns see lowercased text, a space in them matching any run of
//! whitespace; they write apostrophes as `['’]`.

use crate::category::Category;
use crate::moderation::lexicon::{LexiconEntry, LexiconPattern};

/// Groups protected from hate speech, as the patterns below name them.
macro_rules! groups {
    () => {
        "(?:jews|muslims|christians|hindus|sikhs|immigrants|refugees|migrants|mexicans|arabs\
         |africans|asians|blacks|black people|whites|white people|gays|gay people|lesbians\
         |homosexuals|trans people|transgender people|women|disabled people|gypsies)"
    };
}

/// Words for a minor, as the `sexual/minors` patterns below name them.
macro_rules! minors {
    () => {
        "(?:a |an )?(?:young |little )?(?:children|child|kids|kid|minors|minor|preteens|preteen\
         |underage girls|underage girl|underage boys|underage boy|little girls|little girl\
         |little boys|little boy|(?:[1-9]|1[0-7])(?:-| )?years?(?:-| )?olds?)"
    };
}

/// The default lexicon, one entry per category in taxonomy order.
///
/// Its vocabulary is kept small on purpose. The first pass of the classifier looks for one
/// *anchor* word per phrase ("myself", "meth", "nude", ...; see [`Lexicon`](super::Lexicon)),
/// and its speed on every message depends on how many anchors there are and how rare they
/// are; a unit test holds the default lexicon to 32 anchors of four letters or more. Grow
/// it with new phrasings around the words already here before adding new words.
pub const DEFAULT_LEXICON: &[LexiconEntry<'static>] = &[
    LexiconEntry {
        category: Category::Harassment,
        terms: &[
            "you are worthless",
            "you're worthless",
            "you worthless piece of",
            "you worthless idiot",
            "go kill yourself",
            "you should kill yourself",
            "why don't you kill yourself",
            "do everyone a favor and kill yourself",
        ],
        patterns: &[],
    },
    LexiconEntry {
        category: Category::HarassmentThreatening,
        terms: &[
            "find you and hurt you",
            "find you and kill you",
            "hunt you down and kill you",
            "track you down and kill you",
            "i will hurt your family",
            "i'll hurt your family",
        ],
        patterns: &[LexiconPattern {
            cues: &["hurt you", "kill you"],
            regex: r"i(?:['’]ll| will|['’]m going to| am going to|['’]m gonna| am gonna) (?:hurt you|kill you)",
        }],
    },
    LexiconEntry {
        category: Category::Hate,
        terms: &["heil hitler", "sieg heil"],
        patterns: &[LexiconPattern {
            cues: &["subhuman", "vermin"],
            regex: concat!(
                groups!(),
                " (?:are|r) (?:all |just |nothing but )?(?:subhuman|vermin)"
            ),
        }],
    },
    LexiconEntry {
        category: Category::HateThreatening,
        terms: &["kill all the jews", "kill all muslims", "kill all the gays"],
        patterns: &[
            LexiconPattern {
                cues: &["exterminate", "kill all"],
                regex: concat!(
                    "(?:exterminate|kill all) (?:the |of the |those |these )?",
                    groups!()
                ),
            },
            LexiconPattern {
                cues: &["be exterminated", "be killed"],
                regex: concat!(
                    groups!(),
                    " (?:should|must|deserve to|need to|ought to) (?:all )?(?:be exterminated|be killed)"
                ),
            },
        ],
    },
    LexiconEntry {
        category: Category::Illicit,
        terms: &[
            "how to make meth",
            "how to cook meth",
            "buy stolen credit cards",
            "sell stolen credit cards",
            "how to launder money",
            "how do i launder money",
            "help me launder money",
        ],
        patterns: &[
            LexiconPattern {
                cues: &[
                    "meth",
                    "methamphetamine",
                    "crystal meth",
                    "fentanyl",
                    "heroin",
                ],
                regex: r"how (?:to|do i|do you|can i|could i|would i) (?:make|cook|synthesi[sz]e|manufacture|produce) (?:some |my own )?(?:crystal meth|methamphetamine|meth|fentanyl|heroin)",
            },
            LexiconPattern {
                cues: &["heroin", "fentanyl", "meth"],
                regex: r"where (?:can|do|could) i (?:buy|get|score|order) (?:some )?(?:heroin|fentanyl|meth)",
            },
            LexiconPattern {
                cues: &["stolen"],
                regex: r"(?:buy|buying|sell|selling|order|purchase) (?:some )?stolen (?:credit cards|credit card|debit cards|debit card|card numbers|credit card numbers|bank logins|bank accounts)",
            },
        ],
    },
    LexiconEntry {
        category: Category::IllicitViolent,
        terms: &["hire a hitman", "find a hitman", "need a hitman"],
        patterns: &[LexiconPattern {
            cues: &["bomb"],
            regex: r"how (?:to|do i|do you|can i|could i) (?:make|build|assemble) (?:a |an )?(?:pipe bomb|nail bomb|car bomb|bomb)",
        }],
    },
    LexiconEntry {
        category: Category::SelfHarm,
        terms: &[
            "i've been cutting myself",
            "i have been cutting myself",
            "i keep cutting myself",
            "i started cutting myself again",
            "i cut myself on purpose",
            "i hurt myself on purpose",
            "i burn myself on purpose",
            "i keep hurting myself",
        ],
        patterns: &[],
    },
    LexiconEntry {
        category: Category::SelfHarmIntent,
        terms: &[
            "i want to kill myself",
            "i am going to end my life",
            "i'm going to end my life",
            "thinking about killing myself",
            "writing my suicide note",
            "i wrote my suicide note",
        ],
        patterns: &[LexiconPattern {
            cues: &[
                "kill myself",
                "end my life",
                "take my own life",
                "commit suicide",
            ],
            regex: r"i(?:['’]ll|(?:['’]m| am)? (?:really |seriously |just )?(?:going to|gonna|planning to|plan to|about to|ready to|want to|wanna|need to|intend to|decided to|have decided to|will)) (?:kill myself|end my life|take my own life|commit suicide)",
        }],
    },
    LexiconEntry {
        category: Category::SelfHarmInstructions,
        terms: &[
            "most painless way to kill myself",
            "how many pills to overdose",
        ],
        patterns: &[
            LexiconPattern {
                cues: &[
                    "kill myself",
                    "kill yourself",
                    "end my life",
                    "commit suicide",
                    "overdose",
                ],
                regex: r"(?:how (?:to|do i|can i|could i|should i)|best way to|easiest way to|fastest way to|quickest way to|painless way to) (?:kill myself|kill yourself|end my life|commit suicide|overdose)",
            },
            LexiconPattern {
                cues: &["overdose"],
                regex: r"how many (?:[a-z]+ ){1,3}(?:would it take|does it take|do i need|should i take|to take) to overdose",
            },
        ],
    },
    LexiconEntry {
        category: Category::Sexual,
        terms: &[
            "send me nudes",
            "send nudes",
            "send me nude pics",
            "send me your nudes",
            "send me naked pictures",
            "send me naked photos",
            "i want to fuck you",
        ],
        patterns: &[],
    },
    LexiconEntry {
        category: Category::SexualMinors,
        terms: &["underage nudes", "preteen nudes", "nudes of kids"],
        patterns: &[
            LexiconPattern {
                cues: &["child porn", "child pornography", "kiddie porn", "csam"],
                regex: r"(?:buy|sell|send|share|trade|download|watch|looking for|want|get) (?:me )?(?:some |more )?(?:child pornography|child porn|kiddie porn|csam)",
            },
            LexiconPattern {
                cues: &["nude", "naked"],
                regex: concat!(
                    r"(?:nude|naked) (?:photos|photo|pictures|picture|pics|images|videos|video) of ",
                    minors!()
                ),
            },
            LexiconPattern {
                cues: &["molest"],
                regex: concat!(
                    r"i (?:want to|wanna|would like to|am going to|['’]m going to|['’]d like to) molest ",
                    minors!()
                ),
            },
        ],
    },
    LexiconEntry {
        category: Category::Violence,
        terms: &[
            "beat him to death",
            "beat her to death",
            "stab him to death",
            "stab her to death",
            "strangle him to death",
            "strangle her to death",
            "kill everyone at my school",
            "kill everyone at work",
            "going on a killing spree",
        ],
        patterns: &[LexiconPattern {
            cues: &[
                "kill him",
                "kill her",
                "kill my",
                "murder him",
                "murder her",
                "murder my",
            ],
            regex: r"i(?:['’]ll| will|['’]m going to| am going to|['’]m gonna| am gonna| want to| wanna| plan to) (?:kill|murder) (?:him|her|my (?:boss|wife|husband|girlfriend|boyfriend|neighbour|neighbor|coworker|co-worker|manager|father|mother|dad|mom|brother|sister|roommate|teacher|landlord))",
        }],
    },
    LexiconEntry {
        category: Category::ViolenceGraphic,
        terms: &[
            "guts spilling out",
            "guts spilled out",
            "guts hanging out",
            "eyes gouged out",
            "gouged out his eyes",
            "gouged out her eyes",
            "mutilated corpse",
            "mutilated body",
            "mutilated bodies",
        ],
        patterns: &[],
    },
];

#[cfg(test)]
mod tests;
