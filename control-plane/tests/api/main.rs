//! Management API tests: the real router driven with `oneshot`, each test against its own
//! freshly migrated Postgres database (`#[sqlx::test]`, needs `DATABASE_URL`).

// A test crate: a failed unwrap is a failed test. (The workspace's allow-*-in-tests
// settings cover `#[test]` functions, not the helpers beside them.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod common;
mod config;
mod errors;
mod history;
mod keys;
mod projects;
mod simulate;
mod tenancy;
mod usage;
