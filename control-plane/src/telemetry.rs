//! Logs and traces of the control plane (SPEC §10, §13), set up by the binary through
//! `policy_telemetry`: `RUST_LOG` levels, `LOG_FORMAT=json` for one JSON object per line
//! on stderr, and OTLP trace export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Spans: `http_request` for each REST call (route template, status; continues the
//! caller's `traceparent`), `sync.subscribe` for each data plane's Subscribe handshake
//! and `sync.report_audit` / `sync.report_usage` for each batch stored. Nothing here ever
//! records prompt or completion text.

pub use policy_telemetry::{Telemetry, TelemetryError};

/// `service.name` when the environment names none.
pub const SERVICE_NAME: &str = "policy-gateway-control-plane";

/// Installs logging and, when configured, trace export. Call it inside the runtime.
pub fn init() -> Result<Telemetry, TelemetryError> {
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    policy_telemetry::init(
        policy_telemetry::Options {
            service_name: SERVICE_NAME,
            span_target: "control_plane",
            json,
            log_target: policy_telemetry::LogTarget::Stderr,
        },
        |name| std::env::var(name).ok(),
    )
}
