//! Which trace export the standard `OTEL_*` variables ask for (SPEC §10, §13).
//!
//! Read through a lookup function, so tests never touch the process environment. Only
//! what decides *whether* and *how* to export is read here; the exporter itself reads
//! the rest (headers, compression, batch settings, resource attributes).

use std::time::Duration;

/// Why the `OTEL_*` variables cannot work; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SettingsError(String);

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// Trace export as configured; `None` from [`OtlpSettings::from_lookup`] means off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    pub protocol: Protocol,
    /// The endpoint the exporter will use (the traces-specific one when set).
    pub endpoint: String,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`: the deadline of one export request.
    pub timeout: Duration,
    /// Whether the environment names the service (`OTEL_SERVICE_NAME`, or `service.name`
    /// in `OTEL_RESOURCE_ATTRIBUTES`); if not, the binary's own name is used.
    pub service_named: bool,
}

/// The exporter's default deadline per export (OTLP exporter specification).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl OtlpSettings {
    /// Reads the settings; `Ok(None)` when export is off: no endpoint set,
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpSettings>, SettingsError> {
        // Empty values count as unset, as the OpenTelemetry specification says.
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match var("OTEL_TRACES_EXPORTER").as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => {
                return Err(SettingsError(format!(
                    "OTEL_TRACES_EXPORTER: {other:?} is not supported; use otlp or none"
                )));
            }
        }
        let Some(endpoint) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        else {
            return Ok(None);
        };
        let (protocol_var, protocol) = match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(value) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(value)),
            None => (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                var("OTEL_EXPORTER_OTLP_PROTOCOL"),
            ),
        };
        let protocol = match protocol.as_deref() {
            None | Some("grpc") => Protocol::Grpc,
            Some("http/protobuf") => Protocol::HttpProtobuf,
            Some(other) => {
                return Err(SettingsError(format!(
                    "{protocol_var}: {other:?} is not supported; use grpc or http/protobuf"
                )));
            }
        };
        let (timeout_var, timeout) = match var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
            Some(value) => ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", Some(value)),
            None => (
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                var("OTEL_EXPORTER_OTLP_TIMEOUT"),
            ),
        };
        let timeout = match timeout {
            None => DEFAULT_TIMEOUT,
            Some(ms) => match ms.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(SettingsError(format!(
                        "{timeout_var}: {ms:?} is not a positive number of milliseconds"
                    )));
                }
            },
        };
        let service_named = var("OTEL_SERVICE_NAME").is_some()
            || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| {
                attributes
                    .split(',')
                    .any(|pair| pair.trim_start().starts_with("service.name="))
            });
        Ok(Some(OtlpSettings {
            protocol,
            endpoint,
            timeout,
            service_named,
        }))
    }

    /// Whether the exporter needs TLS: anything but a plain `http://` endpoint (an
    /// endpoint without a scheme is secure unless `OTEL_EXPORTER_OTLP_INSECURE` says
    /// otherwise, which the exporter handles).
    pub fn secure(&self) -> bool {
        !self.endpoint.starts_with("http://")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<OtlpSettings>, SettingsError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OtlpSettings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(settings(&[]), Ok(None));
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), Ok(None));
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
        assert_eq!(
            settings(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]),
            Ok(None)
        );
        assert_eq!(
            settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(None)
        );
    }

    #[test]
    fn grpc_by_default_http_protobuf_when_asked() {
        let on = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")])
            .unwrap()
            .unwrap();
        assert_eq!(on.protocol, Protocol::Grpc);
        assert_eq!(on.timeout, Duration::from_secs(10));
        assert!(!on.secure());
        assert!(!on.service_named);
        let http = settings(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://collector/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, service.name=gw",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(http.protocol, Protocol::HttpProtobuf);
        assert_eq!(http.endpoint, "https://collector/v1/traces");
        assert_eq!(http.timeout, Duration::from_millis(2500));
        assert!(http.secure());
        assert!(http.service_named);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        let err = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(
            err.to_string().starts_with("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{err}"
        );
        let err = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            "{err}"
        );
        let err = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")]).unwrap_err();
        assert!(
            err.to_string().starts_with("OTEL_EXPORTER_OTLP_TIMEOUT"),
            "{err}"
        );
        let err = settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(err.to_string().starts_with("OTEL_TRACES_EXPORTER"), "{err}");
    }
}
