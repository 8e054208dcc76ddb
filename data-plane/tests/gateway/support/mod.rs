//! Test support: a fake control plane, a fake upstream, the data-plane binary.

pub mod cp;
pub mod dp;
pub mod fixtures;
pub mod upstream;

use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

pub use cp::FakeCp;
pub use dp::{DataPlane, Reply};
pub use upstream::FakeUpstream;

/// Polls `check` until it yields a value (10 s at most): no fixed sleeps.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fake CP serving the test snapshot, a fake upstream and a ready node.
pub struct Env {
    pub cp: FakeCp,
    pub upstream: FakeUpstream,
    pub dp: DataPlane,
    pub state: TempDir,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> Env {
        Env::start_serving(fixtures::snapshot(1), extra).await
    }

    /// A node on `snapshot` instead of the standard one.
    pub async fn start_serving(
        snapshot: policy_proto::v1::Snapshot,
        extra: &[(&str, &str)],
    ) -> Env {
        let cp = FakeCp::start(Some(snapshot)).await;
        let upstream = FakeUpstream::start().await;
        let state = tempfile::tempdir().unwrap();
        let dp = DataPlane::start(&cp.url(), &upstream.base_url(), state.path(), extra).await;
        dp.wait_ready().await;
        Env {
            cp,
            upstream,
            dp,
            state,
        }
    }
}

/// A chat body with one user message.
pub fn chat(model: &str, message: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": message}]})
}

/// The same, streamed.
pub fn chat_stream(model: &str, message: &str) -> Value {
    let mut body = chat(model, message);
    body["stream"] = json!(true);
    body
}

pub const PATHS: [&str; 2] = ["/v1/chat/completions", "/policy/chat/completions"];
