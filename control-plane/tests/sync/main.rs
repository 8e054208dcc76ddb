//! The data-plane sync service against real Postgres and real gRPC (SPEC §8, §6).
//!
//! Every test gets its own database (`#[sqlx::test]`, needs `DATABASE_URL`) and starts its
//! own sync servers on 127.0.0.1:0. Nothing sleeps to wait for something: tests poll with
//! deadlines.

// A test crate: a failed unwrap is a failed test. (The workspace's allow-*-in-tests
// settings cover `#[test]` functions, not the helpers beside them.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../api/common.rs"]
#[allow(dead_code)]
mod api;
mod common;
mod lease_client;

mod auth;
mod charges;
mod ingest;
mod leases;
mod nodes;
mod outage;
mod replicas;
mod snapshots;
