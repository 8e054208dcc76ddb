//! Staged rollouts and automatic rollback (SPEC §2.6, §9) against real Postgres: the
//! watcher, cooldowns, several replicas, the status endpoint, and what data planes are sent
//! (the snapshot) in each state. Each test gets its own freshly migrated database
//! (`#[sqlx::test]`, needs `DATABASE_URL`). The watcher's clock is injected, so windows and
//! cooldowns are crossed by moving it, never by sleeping.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The management API harness of `tests/api`, shared as is (router, JWTs, seed policies).
#[allow(dead_code)]
#[path = "../api/common.rs"]
mod common;

mod cooldown;
mod replicas;
mod spike;
mod status;
mod support;
