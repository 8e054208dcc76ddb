//! A real `data-plane` process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::cp::NODE_TOKEN;
use crate::http::Http;
use crate::process::{Process, read_lossy, tail};
use crate::{bins, eventually_within};

/// The upstream key the data planes send; it must never reach a log or the database.
pub const UPSTREAM_KEY: &str = "sk-upstream-e2e-never-logged";

/// What a data plane is started with; [`DataPlane::restart`] reuses it.
#[derive(Debug, Clone)]
pub struct DpConfig {
    pub node_id: String,
    pub control_plane: String,
    pub upstream: String,
    pub state_dir: PathBuf,
    pub log: PathBuf,
    /// Extra or overriding environment variables.
    pub env: Vec<(String, String)>,
}

pub struct DataPlane {
    pub config: DpConfig,
    pub addr: SocketAddr,
    process: Option<Process>,
}

impl DataPlane {
    /// Starts a node and waits until it listens (not until it is ready: see
    /// [`wait_ready`](Self::wait_ready)).
    pub async fn start(config: DpConfig) -> DataPlane {
        let mut env: Vec<(String, String)> = vec![
            ("DP_HTTP_ADDR".into(), "127.0.0.1:0".into()),
            ("DP_CONTROL_PLANE".into(), config.control_plane.clone()),
            ("DP_NODE_TOKEN".into(), NODE_TOKEN.into()),
            ("DP_NODE_ID".into(), config.node_id.clone()),
            (
                "DP_STATE_DIR".into(),
                config.state_dir.display().to_string(),
            ),
            ("DP_SPOOL_FSYNC_MS".into(), "10".into()),
            ("DP_SHUTDOWN_GRACE_MS".into(), "2000".into()),
            ("UPSTREAM_BASE_URL".into(), config.upstream.clone()),
            ("UPSTREAM_API_KEY".into(), UPSTREAM_KEY.into()),
            ("UPSTREAM_TIMEOUT_MS".into(), "1000".into()),
            ("MODERATION_PROVIDER".into(), "builtin".into()),
            ("LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        env.extend(config.env.iter().cloned());
        // Lines logged before this start belong to earlier runs of the same node.
        let skip = read_lossy(&config.log).lines().count();
        let process = Process::spawn(&config.node_id, &bins::data_plane(), &[], env, &config.log);
        let log = config.log.clone();
        let addr = eventually_within(
            &format!("data plane {} listens", config.node_id),
            crate::DEADLINE,
            || {
                let found = listening_addr(&read_lossy(&log), skip);
                async move { found }
            },
        )
        .await;
        DataPlane {
            config,
            addr,
            process: Some(process),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    pub fn http(&self) -> Http {
        Http::new(format!("http://{}", self.addr))
    }

    pub fn logs(&self) -> String {
        read_lossy(&self.config.log)
    }

    pub fn state_dir(&self) -> &Path {
        &self.config.state_dir
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self) {
        let http = self.http();
        let until = tokio::time::Instant::now() + crate::DEADLINE;
        loop {
            if http.get("/readyz").await.status == 200 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "data plane {} never became ready:\n{}",
                self.node_id(),
                tail(&self.logs(), 40)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGTERM and a clean exit (in-flight work drained, spool synced).
    pub async fn terminate(&mut self) {
        if let Some(mut process) = self.process.take() {
            let status = process.terminate(Duration::from_secs(10)).await;
            assert!(
                status.is_some_and(|s| s.success()),
                "data plane {} did not stop cleanly ({status:?}):\n{}",
                self.node_id(),
                tail(&self.logs(), 40)
            );
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the node again with the same configuration and state directory.
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "data plane still running");
        let restarted = DataPlane::start(self.config.clone()).await;
        *self = restarted;
    }
}

/// The address of the first `listening` line after the first `skip` lines.
fn listening_addr(logs: &str, skip: usize) -> Option<SocketAddr> {
    logs.lines().skip(skip).find_map(|line| {
        let value: Value = serde_json::from_str(line).ok()?;
        if value["message"] != "listening" {
            return None;
        }
        value["addr"].as_str()?.parse().ok()
    })
}
