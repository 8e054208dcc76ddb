//! Process configuration (SPEC §13).
//!
//! Every setting is a flag that also reads the environment variable of the same meaning
//! (clap `env`). [`Args`] is what clap parses; [`Config::from_args`] checks it and turns it
//! into typed values, so a bad value stops the process with one clear line before anything
//! starts. Tests build configurations with `Args::try_parse_from`, never by mutating the
//! process environment (`clippy.toml` forbids `set_var`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use http::Uri;
use policy_engine::CategorySet;

/// Flags and environment variables of `data-plane`.
#[derive(Debug, Clone, Parser)]
#[command(name = "data-plane", version, about = "Policy Gateway data plane")]
pub struct Args {
    /// Address of the HTTP listener (chat completions, health, metrics).
    #[arg(long, env = "DP_HTTP_ADDR", default_value = "127.0.0.1:8090")]
    pub http_addr: SocketAddr,
    /// gRPC address of the control plane (`http://` or `https://`).
    #[arg(
        long,
        env = "DP_CONTROL_PLANE",
        default_value = "http://127.0.0.1:50051"
    )]
    pub control_plane: String,
    /// PEM file with the CA that signs the control plane's certificate (https only; the
    /// public web roots are used when absent).
    #[arg(long, env = "DP_CONTROL_PLANE_CA")]
    pub control_plane_ca: Option<PathBuf>,
    /// Token presented to the control plane in `authorization: Bearer <token>`.
    #[arg(long, env = "DP_NODE_TOKEN", hide_env_values = true)]
    pub node_token: Option<String>,
    /// Name of this node in the control plane's node list (default: the hostname).
    #[arg(long, env = "DP_NODE_ID")]
    pub node_id: Option<String>,
    /// Free-form region reported in the hello message.
    #[arg(long, env = "DP_REGION", default_value = "")]
    pub region: String,
    /// Directory for the snapshot cache and the audit/usage spool.
    #[arg(long, env = "DP_STATE_DIR", default_value = "data-plane-state")]
    pub state_dir: PathBuf,
    /// Bytes the audit and usage spools may use on disk, each; the oldest records are
    /// dropped (counted and logged) beyond it.
    #[arg(long, env = "DP_SPOOL_MAX_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub spool_max_bytes: u64,
    /// How often spooled records are fsynced, in milliseconds.
    #[arg(long, env = "DP_SPOOL_FSYNC_MS", default_value_t = 50)]
    pub spool_fsync_ms: u64,
    /// How long a SIGTERM waits for in-flight requests and streams, in milliseconds.
    #[arg(long, env = "DP_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// Base URL of the OpenAI-compatible upstream, e.g. https://api.openai.com/v1.
    #[arg(
        long,
        env = "UPSTREAM_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub upstream_base_url: String,
    /// Sent upstream as `Authorization: Bearer <key>`.
    #[arg(long, env = "UPSTREAM_API_KEY", hide_env_values = true)]
    pub upstream_api_key: Option<String>,
    /// Time allowed for the upstream's response headers, and then between two chunks of
    /// its body (a non-streamed body must arrive whole within it).
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 60_000)]
    pub upstream_timeout_ms: u64,
    /// Moderation provider (SPEC §2.2).
    #[arg(
        long,
        env = "MODERATION_PROVIDER",
        value_enum,
        default_value = "builtin"
    )]
    pub moderation_provider: ModerationProvider,
    /// Full URL of a `/v1/moderations`-compatible endpoint (provider `openai`).
    #[arg(long, env = "MODERATION_URL")]
    pub moderation_url: Option<String>,
    #[arg(long, env = "MODERATION_API_KEY", hide_env_values = true)]
    pub moderation_api_key: Option<String>,
    /// `model` sent to the moderation endpoint; omitted when unset.
    #[arg(long, env = "MODERATION_MODEL")]
    pub moderation_model: Option<String>,
    #[arg(long, env = "MODERATION_TIMEOUT_MS", default_value_t = 2_000)]
    pub moderation_timeout_ms: u64,
    /// What a failed moderation call means: `closed` refuses (SPEC §2.2), `open` decides
    /// without labels.
    #[arg(long, env = "MODERATION_FAIL", value_enum, default_value = "closed")]
    pub moderation_fail: FailMode,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Comma-separated models clients may ask for; unset = any.
    #[arg(long, env = "ALLOWED_MODELS")]
    pub allowed_models: Option<String>,
    /// Comma-separated categories refused whatever a policy says; overrides the control
    /// plane's setting. An empty value disables hard blocks on this node.
    #[arg(long, env = "HARD_BLOCKED_CATEGORIES")]
    pub hard_blocked_categories: Option<String>,
    /// `json` makes every log line a JSON object.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Requests this node admits per quota bucket beyond its leases while the control
    /// plane is unreachable (SPEC §4); 0 refuses them (fail closed).
    #[arg(long, env = "DP_QUOTA_OFFLINE_REQUESTS", default_value_t = 0)]
    pub quota_offline_requests: u64,
    /// Tokens this node admits per quota bucket beyond its leases while the control
    /// plane is unreachable; 0 refuses them (fail closed).
    #[arg(long, env = "DP_QUOTA_OFFLINE_TOKENS", default_value_t = 0)]
    pub quota_offline_tokens: u64,
    /// Completion tokens reserved for a request that sets neither `max_completion_tokens`
    /// nor `max_tokens` (the reservation is clamped to the budget left either way).
    #[arg(long, env = "DP_QUOTA_DEFAULT_MAX_TOKENS", default_value_t = 1024)]
    pub quota_default_max_tokens: u64,
    /// Share of a quota's limit a node asks for at a time, in percent (1-100).
    #[arg(long, env = "DP_QUOTA_LEASE_PERCENT", default_value_t = 10)]
    pub quota_lease_percent: u64,
    /// How long a request waits for the control plane when a quota bucket's lease has run
    /// out, in milliseconds.
    #[arg(long, env = "DP_QUOTA_WAIT_MS", default_value_t = 1000)]
    pub quota_wait_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModerationProvider {
    None,
    Builtin,
    Openai,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailMode {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration value that cannot work; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Where the control plane is and how to prove who we are.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    pub url: Uri,
    pub ca_file: Option<PathBuf>,
    pub node_token: Option<String>,
    pub node_id: String,
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Base URL without a trailing slash.
    pub base_url: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum ModerationConfig {
    None,
    Builtin,
    OpenAi {
        url: Uri,
        api_key: Option<String>,
        model: Option<String>,
        timeout: Duration,
        fail: FailMode,
    },
}

/// Quota admission (SPEC §4; docs/data-plane.md, "Quotas").
#[derive(Debug, Clone)]
pub struct QuotaConfig {
    pub offline_requests: u64,
    pub offline_tokens: u64,
    pub default_max_tokens: u64,
    /// 1-100.
    pub lease_percent: u64,
    pub wait: Duration,
}

/// Longest `DP_QUOTA_WAIT_MS`: a request should not hang on the control plane longer
/// than a client would wait for a first byte.
const MAX_QUOTA_WAIT_MS: u64 = 60_000;

impl QuotaConfig {
    fn from_args(args: &Args) -> Result<QuotaConfig, ConfigError> {
        if !(1..=100).contains(&args.quota_lease_percent) {
            return Err(ConfigError(format!(
                "DP_QUOTA_LEASE_PERCENT must be between 1 and 100, got {}",
                args.quota_lease_percent
            )));
        }
        if args.quota_default_max_tokens == 0 {
            return Err(ConfigError(
                "DP_QUOTA_DEFAULT_MAX_TOKENS must be a positive number of tokens".into(),
            ));
        }
        if args.quota_wait_ms > MAX_QUOTA_WAIT_MS {
            return Err(ConfigError(format!(
                "DP_QUOTA_WAIT_MS must be at most {MAX_QUOTA_WAIT_MS}, got {}",
                args.quota_wait_ms
            )));
        }
        Ok(QuotaConfig {
            offline_requests: args.quota_offline_requests,
            offline_tokens: args.quota_offline_tokens,
            default_max_tokens: args.quota_default_max_tokens,
            lease_percent: args.quota_lease_percent,
            wait: millis("DP_QUOTA_WAIT_MS", args.quota_wait_ms)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub max_bytes: u64,
    pub fsync_interval: Duration,
}

/// The checked configuration the process runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub control_plane: ControlPlaneConfig,
    pub state_dir: PathBuf,
    pub spool: SpoolConfig,
    pub shutdown_grace: Duration,
    pub upstream: UpstreamConfig,
    pub moderation: ModerationConfig,
    pub max_body_bytes: usize,
    /// `None` = any model.
    pub allowed_models: Option<HashSet<String>>,
    /// `None` = the control plane's setting.
    pub hard_blocked: Option<CategorySet>,
    pub log_format: LogFormat,
    pub quota: QuotaConfig,
}

impl Config {
    /// Checks `args`; the error is one line naming the offending variable.
    pub fn from_args(args: Args) -> Result<Config, ConfigError> {
        let quota = QuotaConfig::from_args(&args)?;
        let control_plane = ControlPlaneConfig {
            url: http_url("DP_CONTROL_PLANE", &args.control_plane)?,
            ca_file: args.control_plane_ca,
            node_token: args.node_token.filter(|t| !t.is_empty()),
            node_id: match args.node_id.filter(|n| !n.trim().is_empty()) {
                Some(id) => id.trim().to_string(),
                None => hostname(),
            },
            region: args.region,
        };
        http_url("UPSTREAM_BASE_URL", &args.upstream_base_url)?;
        let upstream = UpstreamConfig {
            base_url: args.upstream_base_url.trim_end_matches('/').to_string(),
            api_key: args.upstream_api_key.filter(|k| !k.is_empty()),
            timeout: millis("UPSTREAM_TIMEOUT_MS", args.upstream_timeout_ms)?,
        };
        let moderation = match args.moderation_provider {
            ModerationProvider::None => ModerationConfig::None,
            ModerationProvider::Builtin => ModerationConfig::Builtin,
            ModerationProvider::Openai => {
                let url = args.moderation_url.as_deref().ok_or_else(|| {
                    ConfigError("MODERATION_PROVIDER=openai needs MODERATION_URL".into())
                })?;
                ModerationConfig::OpenAi {
                    url: http_url("MODERATION_URL", url)?,
                    api_key: args.moderation_api_key.filter(|k| !k.is_empty()),
                    model: args.moderation_model.filter(|m| !m.is_empty()),
                    timeout: millis("MODERATION_TIMEOUT_MS", args.moderation_timeout_ms)?,
                    fail: args.moderation_fail,
                }
            }
        };
        if args.max_body_bytes == 0 {
            return Err(ConfigError("MAX_BODY_BYTES must be positive".into()));
        }
        let allowed_models = args.allowed_models.as_deref().map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect::<HashSet<_>>()
        });
        let hard_blocked =
            args.hard_blocked_categories
                .as_deref()
                .map(|list| {
                    CategorySet::parse_names(list.split(',').filter(|n| !n.trim().is_empty()))
                        .map_err(|name| {
                            ConfigError(format!(
                                "HARD_BLOCKED_CATEGORIES: unknown category {name:?}; known: {}",
                                policy_engine::category::Category::known_names()
                            ))
                        })
                })
                .transpose()?;
        Ok(Config {
            http_addr: args.http_addr,
            control_plane,
            state_dir: args.state_dir,
            spool: SpoolConfig {
                max_bytes: args.spool_max_bytes.max(1024 * 1024),
                fsync_interval: millis("DP_SPOOL_FSYNC_MS", args.spool_fsync_ms)?,
            },
            shutdown_grace: Duration::from_millis(args.shutdown_grace_ms),
            upstream,
            moderation,
            max_body_bytes: args.max_body_bytes,
            allowed_models: allowed_models.filter(|set| !set.is_empty()),
            hard_blocked,
            log_format: args.log_format,
            quota,
        })
    }
}

fn http_url(var: &str, raw: &str) -> Result<Uri, ConfigError> {
    let uri: Uri = raw
        .trim()
        .parse()
        .map_err(|e| ConfigError(format!("{var}: {raw:?} is not a URL: {e}")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(ConfigError(format!(
            "{var}: {raw:?} must be an absolute http:// or https:// URL"
        ))),
    }
}

fn millis(var: &str, ms: u64) -> Result<Duration, ConfigError> {
    if ms == 0 {
        return Err(ConfigError(format!(
            "{var} must be a positive number of milliseconds"
        )));
    }
    Ok(Duration::from_millis(ms))
}

/// The kernel's hostname, read without a dependency; `data-plane` when unavailable.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "data-plane".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["data-plane"];
        argv.extend_from_slice(extra);
        let args = Args::try_parse_from(argv).map_err(|e| ConfigError(e.to_string()))?;
        Config::from_args(args)
    }

    #[test]
    fn defaults_are_for_one_machine() {
        let config = parse(&["--upstream-base-url", "http://127.0.0.1:9/v1/"]).unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8090");
        assert_eq!(config.upstream.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        assert!(matches!(config.moderation, ModerationConfig::Builtin));
        assert!(config.allowed_models.is_none());
        assert!(config.hard_blocked.is_none());
        assert!(!config.control_plane.node_id.is_empty());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = parse(&["--upstream-base-url", "api.example.com"]).unwrap_err();
        assert!(err.to_string().starts_with("UPSTREAM_BASE_URL"), "{err}");
        let err = parse(&["--moderation-provider", "openai"]).unwrap_err();
        assert!(err.to_string().contains("MODERATION_URL"), "{err}");
        let err = parse(&["--hard-blocked-categories", "sexual/minors,gore"]).unwrap_err();
        assert!(err.to_string().contains("\"gore\""), "{err}");
        let err = parse(&["--upstream-timeout-ms", "0"]).unwrap_err();
        assert!(err.to_string().contains("UPSTREAM_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn quota_settings_default_and_are_checked() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.quota.offline_requests, 0);
        assert_eq!(config.quota.offline_tokens, 0);
        assert_eq!(config.quota.default_max_tokens, 1024);
        assert_eq!(config.quota.lease_percent, 10);
        assert_eq!(config.quota.wait, Duration::from_millis(1000));
        for (flag, value, var) in [
            ("--quota-lease-percent", "0", "DP_QUOTA_LEASE_PERCENT"),
            ("--quota-lease-percent", "101", "DP_QUOTA_LEASE_PERCENT"),
            (
                "--quota-default-max-tokens",
                "0",
                "DP_QUOTA_DEFAULT_MAX_TOKENS",
            ),
            ("--quota-wait-ms", "0", "DP_QUOTA_WAIT_MS"),
            ("--quota-wait-ms", "60001", "DP_QUOTA_WAIT_MS"),
        ] {
            let err = parse(&[flag, value]).unwrap_err();
            assert!(err.to_string().starts_with(var), "{flag} {value}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
        let err = parse(&["--quota-offline-requests", "-1"]).unwrap_err();
        assert!(err.to_string().contains("-1"), "{err}");
    }

    #[test]
    fn lists_are_split_on_commas() {
        let config = parse(&[
            "--allowed-models",
            "gpt-4o, gpt-4o-mini,,",
            "--hard-blocked-categories",
            "",
        ])
        .unwrap();
        let models = config.allowed_models.unwrap();
        assert!(models.contains("gpt-4o") && models.contains("gpt-4o-mini"));
        assert_eq!(models.len(), 2);
        assert_eq!(config.hard_blocked, Some(CategorySet::EMPTY));
    }
}
