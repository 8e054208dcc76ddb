//! The OTLP span exporter and the tracer provider around it.
//!
//! The SDK's batch processor exports from a thread of its own, outside the Tokio runtime.
//! tonic's channel is fine there (it is created inside the runtime and its connection
//! tasks run on it). The HTTP transport uses hyper, whose connections must be spawned on
//! the runtime, so [`OnRuntime`] sends each export through the runtime's handle. This
//! keeps TLS on rustls with the ring provider, like the rest of the gateway.

use std::sync::Arc;

use async_trait::async_trait;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::{
    SpanExporter, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::TelemetryError;
use crate::settings::{OtlpSettings, Protocol};

/// A tracer provider exporting in batches (`OTEL_BSP_*` tune them) to the configured
/// endpoint. Must be called inside the Tokio runtime.
pub fn provider(
    settings: &OtlpSettings,
    default_service_name: &'static str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = match settings.protocol {
        Protocol::Grpc => {
            let mut builder = SpanExporter::builder().with_tonic();
            if settings.secure() {
                builder = builder.with_tls_config(ClientTlsConfig::new().with_enabled_roots());
            }
            builder.build()
        }
        Protocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_http_client(OnRuntime::new(settings)?)
            .build(),
    }
    .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
    let mut resource = Resource::builder();
    if !settings.service_named {
        resource = resource.with_service_name(default_service_name);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// hyper's client, driven by the runtime whatever thread the export runs on.
#[derive(Debug)]
struct OnRuntime {
    client: HyperClient<HttpsConnector<HttpConnector>>,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    fn new(settings: &OtlpSettings) -> Result<OnRuntime, TelemetryError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| TelemetryError::Exporter("no Tokio runtime to export on".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|error| TelemetryError::Exporter(format!("TLS setup failed: {error}")))?
            .https_or_http()
            .enable_all_versions()
            .build();
        Ok(OnRuntime {
            client: HyperClient::new(connector, settings.timeout, None),
            runtime,
        })
    }
}

#[async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
