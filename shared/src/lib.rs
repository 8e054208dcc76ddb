//! The pure policy engine of Policy Gateway.
//!
//! Everything here is a function of its inputs: no I/O, no clock reads, no randomness of
//! its own (SPEC §0). The control plane's simulate and the data plane's enforce call the
//! same code, so they give the same answer for the same input.
//!
//! The path of a policy: JSON → [`validate`] (every problem at once, with JSON pointers) →
//! [`CompiledPolicy::compile`] (one automaton per revision, built once) → per request,
//! [`PolicyRevisions::evaluate`] (rollout arm, then the decision table) → [`Decision`].

pub mod bucket;
pub mod category;
pub mod chat;
pub mod compile;
pub mod decision;
pub mod keys;
pub mod matcher;
pub mod model;
pub mod moderation;
pub mod normalize;
pub mod redact;
pub mod rollback;
pub mod rollout;
pub mod validate;
pub mod window;

pub use category::{Category, CategorySet};
pub use compile::{CompileError, CompiledPolicy};
pub use decision::{Decision, DecisionInput, Moderation, ReasonDetail, RolloutMode};
pub use model::{DecisionKind, Policy, ReasonCode};
pub use rollout::{Arm, Evaluation, PolicyRevisions, RolloutRequest};
pub use validate::{ValidationError, validate, validate_json};
pub use window::Window;
