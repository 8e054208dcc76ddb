//! The real control plane on a test database, and a client of its REST API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::http::{Http, Reply};
use crate::process::{Process, free_port, tail};
use crate::{bins, eventually_within};

/// HS256 secret the control plane verifies management JWTs with.
pub const JWT_SECRET: &str = "e2e-hs256-secret-long-enough-for-the-test";
/// Token data planes present to the control plane.
pub const NODE_TOKEN: &str = "e2e-node-token";
/// The tenant every test works in.
pub const ORG: &str = "acme";

/// A `control-plane serve` process on its own ports.
pub struct ControlPlane {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    database_url: String,
    env: Vec<(String, String)>,
    log: PathBuf,
    process: Option<Process>,
}

impl ControlPlane {
    /// Applies migrations with `control-plane migrate`, then starts `serve` on free
    /// ports and waits until its API answers. `env` adds settings (e.g. `RUST_LOG`).
    pub async fn start(database_url: &str, log_dir: &Path, env: &[(&str, &str)]) -> ControlPlane {
        let log = log_dir.join("control-plane.log");
        migrate(database_url, &log).await;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // A free port may be taken again before the process binds it: retry a few times.
        for _ in 0..3 {
            let mut cp = ControlPlane {
                http_addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
                grpc_addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
                database_url: database_url.to_owned(),
                env: env.clone(),
                log: log.clone(),
                process: None,
            };
            if cp.try_start().await {
                return cp;
            }
        }
        panic!(
            "the control plane did not start:\n{}",
            tail(&crate::process::read_lossy(&log), 40)
        );
    }

    /// Starts the process again on the same ports (after [`kill`](Self::kill)).
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "the control plane is still running");
        // The old listener's port can be briefly busy; the process then exits and we try
        // again, within the deadline.
        let until = tokio::time::Instant::now() + crate::DEADLINE;
        while !self.try_start().await {
            assert!(
                tokio::time::Instant::now() < until,
                "the control plane did not restart:\n{}",
                self.logs_tail(40)
            );
        }
    }

    /// SIGKILL: a crash, no draining.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// SIGTERM and a clean exit.
    pub async fn terminate(&mut self) {
        if let Some(mut process) = self.process.take() {
            let status = process.terminate(Duration::from_secs(10)).await;
            assert!(
                status.is_some_and(|s| s.success()),
                "the control plane did not stop cleanly ({status:?}):\n{}",
                self.logs_tail(40)
            );
        }
    }

    /// `DP_CONTROL_PLANE` for data planes.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn http(&self) -> Http {
        Http::new(format!("http://{}", self.http_addr))
    }

    /// A REST client acting as `role` of [`ORG`].
    pub fn api(&self, role: &str) -> Api {
        Api {
            http: self.http(),
            token: mint_jwt(ORG, role),
        }
    }

    pub fn logs(&self) -> String {
        crate::process::read_lossy(&self.log)
    }

    fn logs_tail(&self, lines: usize) -> String {
        tail(&self.logs(), lines)
    }

    /// Spawns `serve` and waits until the API answers; `false` when the process exited
    /// first (a port was taken).
    async fn try_start(&mut self) -> bool {
        let http_addr = self.http_addr.to_string();
        let grpc_addr = self.grpc_addr.to_string();
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), self.database_url.clone()),
            ("CP_HTTP_ADDR".into(), http_addr),
            ("CP_GRPC_ADDR".into(), grpc_addr),
            ("CP_JWT_HS256_SECRET".into(), JWT_SECRET.into()),
            ("CP_NODE_TOKEN".into(), NODE_TOKEN.into()),
            // The same host on every start, as when a replica restarts in place.
            ("HOSTNAME".into(), "e2e-cp".into()),
            ("LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        env.extend(self.env.iter().cloned());
        let mut process = Process::spawn(
            "control-plane",
            &bins::control_plane(),
            &["serve"],
            env,
            &self.log,
        );
        let http = self.http();
        let until = tokio::time::Instant::now() + crate::DEADLINE;
        loop {
            // Any answer from the API (401 without a token) means both listeners are up:
            // the gRPC one is bound before the HTTP server starts serving.
            if http
                .try_send(Method::GET, "/api/policy-gateway/configs", &[], None)
                .await
                .is_ok()
            {
                self.process = Some(process);
                return true;
            }
            if process.exited().is_some() {
                return false;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "the control plane never answered:\n{}",
                self.logs_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `control-plane migrate`, which must succeed.
async fn migrate(database_url: &str, log: &Path) {
    let mut process = Process::spawn(
        "control-plane migrate",
        &bins::control_plane(),
        &["migrate"],
        [
            ("DATABASE_URL", database_url),
            ("RUST_LOG", "info"),
            ("LOG_FORMAT", "json"),
        ],
        log,
    );
    let status = eventually_within("`control-plane migrate` exits", crate::DEADLINE, || {
        let status = process.exited();
        async move { status }
    })
    .await;
    assert!(
        status.success(),
        "control-plane migrate failed ({status}):\n{}",
        process.logs()
    );
}

/// An HS256 management JWT for `org` with `role`, valid for an hour.
pub fn mint_jwt(org: &str, role: &str) -> String {
    let claims = json!({
        "sub": format!("e2e-{role}@{org}"), "org": org, "role": role,
        "exp": jsonwebtoken::get_current_timestamp() + 3600,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign the JWT")
}

/// A key as created through the API: the raw key exists only here.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: String,
    pub raw: String,
    pub project_id: Option<String>,
}

/// The management API (`/api/policy-gateway`) with one caller's JWT.
#[derive(Clone)]
pub struct Api {
    http: Http,
    token: String,
}

impl Api {
    /// The caller's JWT (for "never logged" checks).
    pub fn token(&self) -> &str {
        &self.token
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {}", self.token);
        self.http
            .send(
                method,
                &format!("/api/policy-gateway{path}"),
                &[("authorization", &auth)],
                body.map(|b| b.to_string().into_bytes()),
            )
            .await
    }

    /// Calls the API and asserts `expected`; returns the JSON answer.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Value {
        let reply = self.call(method.clone(), path, body).await;
        assert_eq!(reply.status, expected, "{method} {path}: {}", reply.text());
        if reply.chunks.iter().all(|c| c.is_empty()) {
            Value::Null
        } else {
            reply.json()
        }
    }

    /// Saves a policy revision; returns the policy state (`revision`, `stable_revision`…).
    pub async fn save_policy(&self, config: &Value) -> Value {
        self.expect(
            Method::POST,
            "/config",
            Some(&json!({ "config": config })),
            200,
        )
        .await
    }

    /// Creates a project whose default policy is `policy_id`.
    pub async fn create_project(&self, id: &str, policy_id: &str) -> Value {
        let body = json!({"id": id, "name": format!("Project {id}"), "policy_id": policy_id});
        self.expect(Method::POST, "/projects", Some(&body), 201)
            .await
    }

    pub async fn update_project(&self, id: &str, changes: &Value) -> Value {
        self.expect(
            Method::PATCH,
            &format!("/projects/{id}"),
            Some(changes),
            200,
        )
        .await
    }

    /// A project-scoped key.
    pub async fn create_project_key(&self, project_id: &str, label: &str) -> CreatedKey {
        let answer = self
            .expect(
                Method::POST,
                &format!("/projects/{project_id}/keys"),
                Some(&json!({ "label": label })),
                201,
            )
            .await;
        created_key(&answer)
    }

    /// An org-wide key.
    pub async fn create_org_key(&self, label: &str) -> CreatedKey {
        let answer = self
            .expect(Method::POST, "/keys", Some(&json!({ "label": label })), 201)
            .await;
        created_key(&answer)
    }

    pub async fn revoke_key(&self, key: &CreatedKey) -> Value {
        let path = match &key.project_id {
            Some(project) => format!("/projects/{project}/keys/{}", key.id),
            None => format!("/keys/{}", key.id),
        };
        self.expect(Method::DELETE, &path, None, 200).await
    }

    pub async fn simulate(&self, body: &Value) -> Value {
        self.expect(Method::POST, "/simulate", Some(body), 200)
            .await
    }
}

fn created_key(answer: &Value) -> CreatedKey {
    let raw = answer["key"]
        .as_str()
        .expect("the raw key in the creation answer");
    assert!(raw.starts_with("ak_"), "{answer}");
    CreatedKey {
        id: answer["id"].as_str().expect("key id").to_owned(),
        raw: raw.to_owned(),
        project_id: answer["project_id"].as_str().map(str::to_owned),
    }
}
