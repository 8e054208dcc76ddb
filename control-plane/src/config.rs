//! Process configuration (SPEC §13). Every flag also reads its environment variable; tests
//! build a `ServeConfig` directly instead of touching the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::anyhow;
use policy_engine::{Category, CategorySet};

use crate::auth::JwtSettings;

#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Postgres connection string.
    // Optional for clap so that a missing value is our one-line error, not a usage dump.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    pub fn database_url(&self) -> anyhow::Result<&str> {
        self.database_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .ok_or_else(|| anyhow!("DATABASE_URL is not set (postgres://user@host:port/database)"))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[arg(long, env = "CP_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    #[arg(long, env = "CP_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// HS256 secret for management JWTs.
    #[arg(long, env = "CP_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,
    /// PEM file(s) with RS256/ES256 public keys for management JWTs (comma-separated).
    #[arg(long, env = "CP_JWT_PUBLIC_KEYS", value_delimiter = ',')]
    pub jwt_public_keys: Vec<PathBuf>,
    #[arg(long, env = "CP_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    #[arg(long, env = "CP_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Token data planes must present (`authorization: Bearer <token>` on every gRPC call).
    #[arg(long, env = "CP_NODE_TOKEN", hide_env_values = true)]
    pub node_token: Option<String>,
    /// History entries kept per policy, oldest pruned first (SPEC §6).
    #[arg(
        long,
        env = "POLICY_HISTORY_LIMIT",
        default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub history_limit: u32,
    /// Moderation categories refused whatever a policy says (SPEC §2.2), comma-separated.
    #[arg(long, env = "HARD_BLOCKED_CATEGORIES", default_value = "sexual/minors")]
    pub hard_blocked_categories: String,
    /// How long a quota lease lasts unless the data plane extends it, in seconds
    /// (docs/quotas.md): longer strands more budget on a node that went away, shorter
    /// costs more lease round trips.
    #[arg(
        long,
        env = "CP_QUOTA_LEASE_TTL_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub quota_lease_ttl_secs: u64,
    /// Skip applying migrations on start.
    #[arg(long)]
    pub no_migrate: bool,
}

impl ServeConfig {
    /// `CP_NODE_TOKEN`, which must be set and not blank.
    pub fn node_token(&self) -> anyhow::Result<&str> {
        self.node_token
            .as_deref()
            .filter(|token| !token.trim().is_empty())
            .ok_or_else(|| anyhow!("CP_NODE_TOKEN is not set: data planes authenticate with it"))
    }

    /// The JWT verification settings (SPEC §7).
    pub fn jwt_settings(&self) -> JwtSettings {
        JwtSettings {
            hs256_secret: self.jwt_hs256_secret.clone(),
            public_key_files: self.jwt_public_keys.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        }
    }

    /// `HARD_BLOCKED_CATEGORIES` as a set; an unknown name is a configuration error.
    pub fn hard_blocked(&self) -> anyhow::Result<CategorySet> {
        parse_hard_blocked(&self.hard_blocked_categories)
    }
}

/// Parses a comma-separated list of moderation categories (blank entries ignored).
pub fn parse_hard_blocked(spec: &str) -> anyhow::Result<CategorySet> {
    CategorySet::parse_names(
        spec.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty()),
    )
    .map_err(|unknown| {
        anyhow!(
            "invalid HARD_BLOCKED_CATEGORIES: unknown category {unknown:?}; known: {}",
            Category::known_names()
        )
    })
}

#[cfg(test)]
mod tests;
