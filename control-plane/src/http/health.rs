//! `GET /healthz` and `GET /readyz` (SPEC §10; the probes of deploy/kubernetes).
//!
//! Liveness is the process answering. Readiness is having a snapshot to stream: a replica
//! that has built one keeps serving it to data planes while Postgres is down (SPEC §7), so
//! it must stay in its Service then; before its first snapshot it has nothing to give.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Set once this process has published its first snapshot.
static SNAPSHOT_PUBLISHED: AtomicBool = AtomicBool::new(false);

/// Called by the snapshot publisher whenever it publishes.
pub fn snapshot_published() {
    SNAPSHOT_PUBLISHED.store(true, Ordering::Release);
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz() -> (StatusCode, Json<Value>) {
    if SNAPSHOT_PUBLISHED.load(Ordering::Acquire) {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "detail": "no snapshot built yet"})),
        )
    }
}
