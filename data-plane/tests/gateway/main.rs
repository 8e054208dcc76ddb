//! End-to-end tests of the data plane: the real binary between a fake control plane
//! (the generated tonic server) and a fake OpenAI-compatible upstream.

// Support code outside `#[test]` functions panics on broken fixtures, as tests do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod decisions;
mod errors;
mod privacy;
mod quotas;
mod reporting;
mod snapshots;
mod streaming;
mod support;
