//! A small blocking client for the control plane's management API (SPEC §7), shared by
//! the online commands. API errors become one readable line: the server's own message.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

const API_PREFIX: &str = "/api/policy-gateway";
/// Largest answer read: a policy with two full 10,000-term lists fits comfortably.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Where the control plane is and how to authenticate (SPEC §13).
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The control plane's root URL.
    #[arg(
        long,
        env = "POLICY_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// A management JWT (`sub`, `org`, `role` claims).
    #[arg(long, env = "POLICY_GATEWAY_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Why a call failed: the API answered with an error, or it could not be reached.
#[derive(Debug)]
pub enum Failure {
    Api {
        status: u16,
        message: String,
        details: Vec<String>,
    },
    Transport(String),
}

impl Failure {
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Api { status, .. } => Some(*status),
            Failure::Transport(_) => None,
        }
    }

    /// Prints the failure on stderr and gives the exit code of a failed online command.
    pub fn report(&self) -> ExitCode {
        eprintln!("policyctl: {self}");
        if let Failure::Api { details, .. } = self {
            for detail in details {
                eprintln!("  {detail}");
            }
        }
        ExitCode::from(1)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Api {
                status, message, ..
            } => write!(f, "the control plane answered {status}: {message}"),
            Failure::Transport(message) => write!(f, "cannot reach the control plane: {message}"),
        }
    }
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    pub fn new(connection: &Connection) -> Self {
        let agent = ureq::Agent::config_builder()
            // Error statuses are answers to read, not transport failures.
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base: format!("{}{API_PREFIX}", connection.url.trim_end_matches('/')),
            token: connection.token.clone(),
        }
    }

    /// `GET path?query`.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Failure> {
        let mut request = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        for (key, value) in query {
            request = request.query(*key, value);
        }
        read(request.call())
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .content_type("application/json")
            .send(body.to_string());
        read(response)
    }
}

fn read(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, Failure> {
    let mut response = response.map_err(|e| Failure::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
        .map_err(|e| Failure::Transport(e.to_string()))?;
    let body: Option<Value> = serde_json::from_str(&text).ok();
    if (200..300).contains(&status) {
        return body.ok_or_else(|| Failure::Transport("the answer is not JSON".to_owned()));
    }
    let error = body.as_ref().and_then(|b| b.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status} without an error body"));
    let details = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .map(|details| {
            details
                .iter()
                .map(|d| {
                    let pointer = d.get("pointer").and_then(Value::as_str).unwrap_or("");
                    let pointer = if pointer.is_empty() { "/" } else { pointer };
                    let message = d.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{pointer}: {message}")
                })
                .collect()
        })
        .unwrap_or_default();
    Err(Failure::Api {
        status,
        message,
        details,
    })
}
