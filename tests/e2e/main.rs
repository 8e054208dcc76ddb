//! End-to-end tests of Policy Gateway: the real control plane on real Postgres,
//! two real data planes, and a fake OpenAI-compatible upstream, talking over the wire.
//!
//! Needs `DATABASE_URL` (a server where tests may create databases) and the two binaries
//! built in the same target directory (`cargo build -p control-plane -p data-plane`);
//! the OpenAI SDK test also needs `E2E_PYTHON` (scripts/test.sh sets both up).

// Support code outside `#[test]` functions fails tests by panicking, as tests do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod decisions;
mod deploy_manifests;
mod deploy_observability;
mod errors;
mod metrics;
mod payload_too_large;
mod privacy;
mod propagation;
mod quickstart;
mod quotas;
mod redaction;
mod replicas;
mod restarts;
mod rollout_safety;
mod rollouts;
mod sdk;
mod stale_nodes;
mod telemetry;
mod usage;
