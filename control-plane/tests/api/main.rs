//! Management API tests: the real router driven with `oneshot`, each test against its own
//! freshly migrated Postgres database (`#[sqlx::test]`, needs `DATABASE_URL`).

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
