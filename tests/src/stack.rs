//! A whole deployment for one test: a database, a fake upstream, a control plane, the
//! policies, projects and keys created through its REST API, and data planes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::cp::{Api, ControlPlane, CreatedKey};
use crate::db::TestDb;
use crate::dp::{DataPlane, DpConfig};
use crate::upstream::FakeUpstream;

pub type Key = CreatedKey;

/// The repository's first seed policy, unchanged: allowlist, rewrite instead of refuse,
/// redaction, project keys only.
pub const SUPPORT_POLICY: &str = include_str!("../../examples/policies/policy-gateway.json");

/// Every project the seed creates, with its default policy.
pub const PROJECTS: [(&str, &str); 5] = [
    ("support-bot", "policy-gateway"),
    ("summary-bot", "summary-policy"),
    ("escalate-bot", "escalate-policy"),
    ("refuse-bot", "refuse-policy"),
    ("open-bot", "open-policy"),
];

/// Where `escalate-policy` sends escalations.
pub const ESCALATION_PATH: &str = "review@acme.test";

/// How a [`Stack`] starts.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Data planes to start (all ready before `start` returns).
    pub data_planes: usize,
    /// Extra environment for the control plane.
    pub cp_env: Vec<(String, String)>,
    /// Extra environment for every data plane.
    pub dp_env: Vec<(String, String)>,
    /// Ends every echo completion of the fake upstream.
    pub completion_marker: String,
    /// Run alone: wait until no other stack of this test binary runs, and keep the
    /// others waiting until this one is dropped. For timing measurements, which CI's two
    /// shared cores would otherwise skew.
    pub exclusive: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            data_planes: 2,
            cp_env: Vec::new(),
            dp_env: Vec::new(),
            completion_marker: "CMPL-MARK".into(),
            exclusive: false,
        }
    }
}

impl StackOptions {
    pub fn cp_env(mut self, name: &str, value: &str) -> Self {
        self.cp_env.push((name.into(), value.into()));
        self
    }

    pub fn dp_env(mut self, name: &str, value: &str) -> Self {
        self.dp_env.push((name.into(), value.into()));
        self
    }
}

/// Fields drop in order: data planes, then the control plane, then the database.
pub struct Stack {
    pub dps: Vec<DataPlane>,
    pub cp: ControlPlane,
    pub upstream: FakeUpstream,
    /// An admin of the test org.
    pub api: Api,
    /// Project-scoped keys by project id.
    pub keys: BTreeMap<String, Key>,
    pub org_key: Key,
    /// Revision saved for each policy by the seed.
    pub revisions: BTreeMap<String, i64>,
    pub db: TestDb,
    dir: Option<TempDir>,
    dp_env: Vec<(String, String)>,
    _turn: Turn,
}

/// Stacks share the machine; an exclusive one has it to itself.
static TURNS: LazyLock<Arc<RwLock<()>>> = LazyLock::new(Arc::default);

/// Held for a stack's whole life: one of the two guards.
struct Turn {
    _shared: Option<OwnedRwLockReadGuard<()>>,
    _exclusive: Option<OwnedRwLockWriteGuard<()>>,
}

impl Stack {
    pub async fn start(options: StackOptions) -> Stack {
        let turn = if options.exclusive {
            Turn {
                _shared: None,
                _exclusive: Some(TURNS.clone().write_owned().await),
            }
        } else {
            Turn {
                _shared: Some(TURNS.clone().read_owned().await),
                _exclusive: None,
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("policy-gateway-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let db = TestDb::create().await;
        let upstream = FakeUpstream::start(&options.completion_marker).await;
        let cp_env: Vec<(&str, &str)> = options
            .cp_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let cp = ControlPlane::start(&db.url, dir.path(), &cp_env).await;
        let api = cp.api("admin");

        let mut revisions = BTreeMap::new();
        for policy in policies() {
            let state = api.save_policy(&policy).await;
            let id = policy["policy_id"].as_str().expect("policy id").to_owned();
            revisions.insert(id, state["revision"].as_i64().expect("revision"));
        }
        let mut keys = BTreeMap::new();
        for (project, policy) in PROJECTS {
            api.create_project(project, policy).await;
            let key = api
                .create_project_key(project, &format!("{project} key"))
                .await;
            keys.insert(project.to_owned(), key);
        }
        let org_key = api.create_org_key("org-wide key").await;

        let mut stack = Stack {
            dps: Vec::new(),
            cp,
            upstream,
            api,
            keys,
            org_key,
            revisions,
            db,
            dir: Some(dir),
            dp_env: options.dp_env,
            _turn: turn,
        };
        for n in 0..options.data_planes {
            let config = stack.dp_config(&format!("dp-{n}"));
            stack.dps.push(DataPlane::start(config).await);
        }
        for dp in &stack.dps {
            dp.wait_ready().await;
        }
        stack
    }

    /// The configuration of a node named `node_id` (its own state directory and log)
    /// pointed at this stack's control plane and upstream.
    pub fn dp_config(&self, node_id: &str) -> DpConfig {
        let dir = self.dir();
        let state_dir = dir.join(format!("{node_id}-state"));
        std::fs::create_dir_all(&state_dir).expect("a state directory");
        DpConfig {
            node_id: node_id.to_owned(),
            control_plane: self.cp.grpc_url(),
            upstream: self.upstream.base_url(),
            state_dir,
            log: dir.join(format!("{node_id}.log")),
            env: self.dp_env.clone(),
        }
    }

    /// The directory holding logs and state directories.
    pub fn dir(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .expect("the stack's directory")
    }

    /// The raw key of `project`.
    pub fn key(&self, project: &str) -> &str {
        &self
            .keys
            .get(project)
            .unwrap_or_else(|| panic!("no key for {project}"))
            .raw
    }

    /// Every log of every process, for "never logged" checks.
    pub fn all_logs(&self) -> String {
        let mut logs = self.cp.logs();
        for dp in &self.dps {
            logs.push('\n');
            logs.push_str(&dp.logs());
        }
        logs
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Stop the processes before their files go; keep the logs of a failed test.
        for dp in &mut self.dps {
            dp.kill();
        }
        self.cp.kill();
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!(
                "logs and state of the failed test kept in {}",
                dir.keep().display()
            );
        }
    }
}

/// The policies every stack saves.
pub fn policies() -> Vec<Value> {
    let support: Value = serde_json::from_str(SUPPORT_POLICY).expect("the seed policy is JSON");
    vec![
        support,
        pattern_policy("summary-policy", "summary"),
        pattern_policy("escalate-policy", "escalate"),
        json!({
            "policy_id": "refuse-policy", "name": "Refuse incidents",
            "rules": {"denylist": ["internal incident"], "response_pattern": "refuse",
                      "rewrite_instead_of_refuse": false, "redact": true,
                      "reason_codes": ["ALLOW", "REFUSE", "REDACT"]},
            "refusal_replacement": {"mode": "refuse"}
        }),
        json!({
            "policy_id": "open-policy", "name": "Open policy",
            "rules": {"redact": true, "reason_codes": ["ALLOW", "REFUSE", "REDACT"]}
        }),
    ]
}

fn pattern_policy(id: &str, pattern: &str) -> Value {
    json!({
        "policy_id": id, "name": format!("{pattern} on lock picking"),
        "rules": {"denylist": ["lock picking"], "response_pattern": pattern, "redact": true},
        "refusal_replacement": {"mode": pattern, "escalation_path": ESCALATION_PATH}
    })
}
