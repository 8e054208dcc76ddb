//! The pure policy engine of Policy Gateway.
//!
//! Everything here is a function of its inputs: no I/O, no clock reads, no randomness of
//! its own (SPEC §0). The control plane's simulate and the data plane's enforce call the
//! same code, so they give the same answer for the same input.

pub mod category;
pub mod moderation;
pub mod redact;

pub use category::{Category, CategorySet};
