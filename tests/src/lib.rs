//! Harness for the end-to-end tests: the real `control-plane` and `data-plane` binaries
//! on a real Postgres, and a fake OpenAI-compatible upstream.
//!
//! - [`bins`]: finds the binaries next to the test executable;
//! - [`process`]: a spawned binary whose output goes to a log file, killed on drop;
//! - [`db`]: a database of its own per test, dropped at the end;
//! - [`upstream`]: the fake upstream, recording what it received;
//! - [`cp`]: the control plane and its REST API (with HS256 admin JWTs);
//! - [`dp`]: a data plane;
//! - [`http`]: a small HTTP client that keeps the chunks of a response as they arrived;
//! - [`otlp`]: an OTLP trace receiver (gRPC and HTTP/protobuf) the binaries export to;
//! - [`stack`]: all of the above wired together, with the policies the tests use.
//!
//! Every test owns its database, ports and temporary directories, so tests run in
//! parallel. Nothing waits by sleeping a fixed time: [`eventually`] polls with a deadline.

// A harness reports broken fixtures and unmet expectations by panicking, as tests do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bins;
pub mod cp;
pub mod db;
pub mod dp;
pub mod http;
pub mod otlp;
pub mod process;
pub mod stack;
pub mod upstream;

use std::future::Future;
use std::time::Duration;

pub use cp::CreatedKey;
pub use cp::{Api, ControlPlane};
pub use db::TestDb;
pub use dp::DataPlane;
pub use http::{Http, Reply};
pub use stack::{Key, Stack, StackOptions};
pub use upstream::FakeUpstream;

/// How long [`eventually`] waits by default: generous, because CI shares two cores.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` every 10 ms until it yields a value; panics naming `what` after
/// `deadline`.
pub async fn eventually_within<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`eventually_within`] the default [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, DEADLINE, check).await
}

/// A chat body with one user message.
pub fn chat(model: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": message}]})
}

/// The same, streamed.
pub fn chat_stream(model: &str, message: &str) -> serde_json::Value {
    let mut body = chat(model, message);
    body["stream"] = serde_json::json!(true);
    body
}

/// Both chat endpoints of a data plane (SPEC §3.1).
pub const PATHS: [&str; 2] = ["/v1/chat/completions", "/policy/chat/completions"];
