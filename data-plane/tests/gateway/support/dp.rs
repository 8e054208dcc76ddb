//! Runs the real `data-plane` binary and talks HTTP to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::{cp::NODE_TOKEN, eventually};

pub struct DataPlane {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl DataPlane {
    /// Starts a node against `cp` and `upstream` with `state_dir`; `extra` adds or
    /// overrides environment variables.
    pub async fn start(
        cp: &str,
        upstream: &str,
        state_dir: &Path,
        extra: &[(&str, &str)],
    ) -> DataPlane {
        let mut command = Command::new(env!("CARGO_BIN_EXE_data-plane"));
        for (var, _) in std::env::vars() {
            let ours = [
                "DP_",
                "UPSTREAM_",
                "MODERATION_",
                "MAX_BODY",
                "ALLOWED_MODELS",
                "HARD_BLOCKED",
                "LOG_FORMAT",
                "RUST_LOG",
            ];
            if ours.iter().any(|p| var.starts_with(p)) {
                command.env_remove(&var);
            }
        }
        command
            .env("DP_HTTP_ADDR", "127.0.0.1:0")
            .env("DP_CONTROL_PLANE", cp)
            .env("DP_NODE_TOKEN", NODE_TOKEN)
            .env("DP_NODE_ID", "test-node")
            .env("DP_STATE_DIR", state_dir)
            .env("DP_SPOOL_FSYNC_MS", "10")
            .env("DP_SHUTDOWN_GRACE_MS", "2000")
            .env("UPSTREAM_BASE_URL", upstream)
            .env("UPSTREAM_API_KEY", "sk-upstream-test")
            .env("UPSTREAM_TIMEOUT_MS", "1000")
            .env("MODERATION_PROVIDER", "builtin")
            // Tests of other behaviour take the control plane down with quota'd policies:
            // a generous offline allowance keeps quotas out of their way. The quota tests
            // set their own.
            .env("DP_QUOTA_OFFLINE_REQUESTS", "1000000")
            .env("DP_QUOTA_OFFLINE_TOKENS", "1000000000")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (var, value) in extra {
            command.env(var, value);
        }
        let mut child = command.spawn().expect("the data-plane binary starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for pipe in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let addr = eventually("the node listens", || {
            logs.lock().unwrap().iter().find_map(|line| {
                let value: Value = serde_json::from_str(line).ok()?;
                (value["message"] == "listening").then(|| value["addr"].as_str()?.parse().ok())?
            })
        })
        .await;
        DataPlane {
            child,
            addr,
            logs,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if self.get("/readyz").await.status == 200 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node never became ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exited = eventually("the node exits", || self.child.try_wait().ok().flatten()).await;
        assert!(exited.success(), "exit status {exited:?}\n{}", self.logs());
    }

    /// A cloneable client for this node, for requests made from other tasks.
    pub fn http(&self) -> Http {
        Http {
            client: self.client.clone(),
            addr: self.addr,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.http().send(method, path, headers, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], None).await
    }

    /// A chat completion with `key` (none: no Authorization header).
    pub async fn chat(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.http().chat(path, key, body, headers).await
    }
}

/// Requests to one node; cheap to clone into another task.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
}

impl Http {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let response = self
            .client
            .request(request)
            .await
            .expect("the node answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = response.into_body();
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("body frame").into_data() {
                chunks.push(data);
            }
        }
        Reply {
            status,
            headers,
            chunks,
        }
    }

    /// A chat completion with `key` (none: no Authorization header).
    pub async fn chat(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let auth = key.map(|k| format!("Bearer {k}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(auth) = &auth {
            all.push(("authorization", auth));
        }
        self.send(
            Method::POST,
            path,
            &all,
            Some(body.to_string().into_bytes()),
        )
        .await
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response, with its body as the chunks that arrived.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub chunks: Vec<Bytes>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.chunks.concat()).unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// The SSE `data` payloads, `[DONE]` included as a string.
    pub fn events(&self) -> Vec<Value> {
        let text = self.text();
        assert!(
            text.ends_with("\n\n"),
            "a stream ends with a blank line: {text:?}"
        );
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|event| {
                let data = event
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data event: {event:?}"));
                if data == "[DONE]" {
                    Value::String(data.to_string())
                } else {
                    serde_json::from_str(data).unwrap()
                }
            })
            .collect()
    }

    /// The assistant text of a JSON completion or an SSE stream (choice 0).
    pub fn content(&self) -> String {
        if self
            .headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"))
        {
            self.events()
                .iter()
                .filter_map(|e| {
                    e["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect()
        } else {
            self.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    }
}
