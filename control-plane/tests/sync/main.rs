//! The data-plane sync service against real Postgres and real gRPC (SPEC §8, §6).
//!
//! Every test gets its own database (`#[sqlx::test]`) and starts its own sync servers on
//! 127.0.0.1:0. Nothing sleeps to wait for something: tests poll with deadlines.

#[path = "sync/common.rs"]
mod common;

#[path = "sync/auth.rs"]
mod auth;
#[path = "sync/ingest.rs"]
mod ingest;
#[path = "sync/nodes.rs"]
mod nodes;
#[path = "sync/replicas.rs"]
mod replicas;
#[path = "sync/snapshots.rs"]
mod snapshots;
