//! Moderation (SPEC §2.2): the `builtin` lexicon classifier and the label mappings the other
//! providers need.
//!
//! - [`Lexicon`] is the in-process, deterministic classifier behind the `builtin` provider:
//!   phrases and cue-gated patterns per category, compiled once ([`Lexicon::builtin`]).
//! - [`openai_categories`] turns an OpenAI `/v1/moderations` result into labels, and
//!   [`llama_guard_categories`] maps Llama Guard 3 hazard codes onto the same taxonomy, so an
//!   adapter in front of either model yields the labels the decision engine expects.
//! - Every provider reports a subcategory together with its parent ([`with_parents`]), so a
//!   policy that flags `self-harm` behaves the same whichever provider is configured.

mod anchors;
mod compile;
mod error;
mod lexicon;
mod lexicon_data;
mod mapping;
mod scan;
mod taxonomy;
mod text;

pub use error::{LexiconError, LiteralProblem};
pub use lexicon::{Lexicon, LexiconEntry, LexiconPattern};
pub use lexicon_data::DEFAULT_LEXICON;
pub use mapping::{
    LLAMA_GUARD_HAZARDS, LlamaGuardHazard, llama_guard_categories, openai_categories,
};
pub use taxonomy::{parent, with_parents};
