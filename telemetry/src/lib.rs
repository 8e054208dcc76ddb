//! Observability shared by both planes (SPEC §10, §13), set up only by the binaries.
//!
//! - Logs: `RUST_LOG` levels (default `info`); `LOG_FORMAT=json` makes every line a JSON
//!   object with the current span's fields.
//! - Traces: exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific
//!   variable) is set, over gRPC or HTTP/protobuf as `OTEL_EXPORTER_OTLP_PROTOCOL` says
//!   ([`settings`]). The exported spans are the `tracing` spans of the binary's own crate
//!   at INFO and above, whatever `RUST_LOG` says, so quieting the logs keeps the traces.
//! - Trace context: W3C `traceparent`/`tracestate`, extracted from incoming requests and
//!   injected into outgoing ones ([`set_parent_from`], [`inject_current`]).
//!
//! When export is off nothing of OpenTelemetry is installed: no layer, no exporter, no
//! thread, and [`enabled`] lets hot paths skip the spans that only traces need.
//! Nothing here ever sees prompt or completion text: spans carry identifiers, decisions
//! and counts only, and that is a rule for every span field in the gateway.

mod export;
pub mod settings;

use std::sync::atomic::{AtomicBool, Ordering};

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

pub use settings::{OtlpSettings, Protocol, SettingsError};

/// Set once by [`init`] when traces are exported.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported. Spans that exist only for traces are skipped when not.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The W3C trace-context propagator; the only format spoken (SPEC §10).
static PROPAGATOR: std::sync::LazyLock<TraceContextPropagator> =
    std::sync::LazyLock::new(TraceContextPropagator::new);

/// Why telemetry could not start; the message names the variable or the part.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("OTLP exporter: {0}")]
    Exporter(String),
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    Stderr,
}

/// How a binary sets up telemetry.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `service.name` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` set one.
    pub service_name: &'static str,
    /// The crate whose spans are exported (its `tracing` target prefix).
    pub span_target: &'static str,
    /// `LOG_FORMAT=json`.
    pub json: bool,
    pub log_target: LogTarget,
}

/// Keeps the exporter alive; [`Telemetry::shutdown`] flushes what is still queued.
#[must_use = "spans are only flushed by Telemetry::shutdown"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports every span still queued and stops the exporter. Blocks until done (at
    /// most the export timeout): call it outside async code, e.g. from `spawn_blocking`,
    /// while the runtime is still running.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "cannot flush the remaining spans");
        }
    }

    /// Whether this process exports traces.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

/// Installs the global subscriber (logs, and traces when configured) reading the `OTEL_*`
/// variables through `lookup`. Call it inside the Tokio runtime: the exporter's
/// connections run on it. A second call in one process keeps the first subscriber.
pub fn init(
    options: Options,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Telemetry, TelemetryError> {
    let otlp = OtlpSettings::from_lookup(&lookup)?;
    let provider = otlp
        .as_ref()
        .map(|settings| export::provider(settings, options.service_name))
        .transpose()?;

    let filter = lookup("RUST_LOG")
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let writer = match options.log_target {
        LogTarget::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogTarget::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let logs = if options.json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(writer).boxed()
    };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(options.service_name))
            .with_location(false)
            .with_threads(false)
            .with_filter(
                Targets::new()
                    .with_target(options.span_target, LevelFilter::INFO)
                    .with_default(LevelFilter::OFF),
            )
    });
    let installed = Registry::default()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init()
        .is_ok();
    ENABLED.store(installed && provider.is_some(), Ordering::Relaxed);
    if let Some(settings) = &otlp {
        tracing::info!(endpoint = %settings.endpoint, protocol = ?settings.protocol,
            "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

/// Makes `span` continue the trace of an incoming request's `traceparent`, if it has a
/// valid one. Call it right after creating the span, before it is entered.
pub fn set_parent_from(span: &Span, headers: &HeaderMap) {
    if !enabled() {
        return;
    }
    let parent = PROPAGATOR.extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Fails only for a disabled span, which has nothing to continue.
        let _ = span.set_parent(parent);
    }
}

/// Adds the current span's `traceparent` (and `tracestate`) to an outgoing request.
pub fn inject_current(headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let context = Span::current().context();
    PROPAGATOR.inject_context(&context, &mut HeaderInjector(headers));
}
