//! Dispatches the four `DataPlaneSync` RPCs by path.
//!
//! Written by hand rather than with the generated `DataPlaneSyncServer` because Subscribe
//! sends pre-encoded snapshot frames through its own codec ([`SubscribeCodec`]); the
//! report and lease RPCs use the ordinary prost codec. The node-token interceptor wraps the whole
//! router, so every path, known or not, is authenticated first.

use std::convert::Infallible;
use std::task::{Context, Poll};

use policy_proto::v1::{
    AuditBatch, BatchAck, LeaseRequest, LeaseResponse, UsageBatch, data_plane_sync_server,
};
use sqlx::PgPool;
use tokio::sync::watch;
use tonic::body::Body as TonicBody;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService};
use tonic_prost::ProstCodec;

use crate::sync::Settings;
use crate::sync::codec::SubscribeCodec;
use crate::sync::ingest::{AuditRpc, Ingest, UsageRpc};
use crate::sync::lease::LeaseRpc;
use crate::sync::publisher::Latest;
use crate::sync::subscribe::SubscribeRpc;

const SUBSCRIBE: &str = "/policy_gateway.v1.DataPlaneSync/Subscribe";
const REPORT_AUDIT: &str = "/policy_gateway.v1.DataPlaneSync/ReportAudit";
const REPORT_USAGE: &str = "/policy_gateway.v1.DataPlaneSync/ReportUsage";
const LEASE: &str = "/policy_gateway.v1.DataPlaneSync/Lease";

#[derive(Clone)]
pub(crate) struct SyncRouter {
    subscribe: SubscribeRpc,
    ingest: Ingest,
    lease: LeaseRpc,
}

impl SyncRouter {
    pub(crate) fn new(
        pool: PgPool,
        settings: &Settings,
        snapshots: watch::Receiver<Latest>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            subscribe: SubscribeRpc::new(
                pool.clone(),
                &settings.replica_id,
                snapshots,
                shutdown.clone(),
            ),
            ingest: Ingest::new(pool.clone(), settings.history_limit, shutdown.clone()),
            lease: LeaseRpc::new(pool, settings.quota_lease_ttl, shutdown),
        }
    }
}

impl NamedService for SyncRouter {
    const NAME: &'static str = data_plane_sync_server::SERVICE_NAME;
}

impl<B> Service<http::Request<B>> for SyncRouter
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<TonicBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match request.uri().path() {
            SUBSCRIBE => {
                let rpc = self.subscribe.clone();
                Box::pin(async move { Ok(Grpc::new(SubscribeCodec).streaming(rpc, request).await) })
            }
            REPORT_AUDIT => {
                let rpc = AuditRpc(self.ingest.clone());
                Box::pin(async move {
                    let codec = ProstCodec::<BatchAck, AuditBatch>::default();
                    Ok(Grpc::new(codec).streaming(rpc, request).await)
                })
            }
            REPORT_USAGE => {
                let rpc = UsageRpc(self.ingest.clone());
                Box::pin(async move {
                    let codec = ProstCodec::<BatchAck, UsageBatch>::default();
                    Ok(Grpc::new(codec).streaming(rpc, request).await)
                })
            }
            LEASE => {
                let rpc = self.lease.clone();
                Box::pin(async move {
                    let codec = ProstCodec::<LeaseResponse, LeaseRequest>::default();
                    Ok(Grpc::new(codec).streaming(rpc, request).await)
                })
            }
            _ => Box::pin(async move { Ok(unimplemented()) }),
        }
    }
}

/// The gRPC answer to an unknown method.
fn unimplemented() -> http::Response<TonicBody> {
    tonic::Status::unimplemented("unknown method").into_http()
}
