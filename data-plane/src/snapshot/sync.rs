//! The `Subscribe` stream to the control plane (SPEC §8).
//!
//! The node says hello (with the version it already runs), the control plane answers with
//! a full snapshot and then one per change. A reader task keeps only the newest snapshot
//! received (bursts coalesce, latest wins); the applier builds it on a blocking thread,
//! swaps it in, persists it and ACKs, or NACKs with the build errors and keeps the old
//! one. When the stream breaks the node keeps serving its snapshot and reconnects with
//! jittered exponential backoff.

use std::path::PathBuf;
use std::sync::Arc;

use policy_engine::CategorySet;
use policy_proto::v1 as pb;
use policy_proto::v1::data_plane_sync_client::DataPlaneSyncClient;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tracing::{info, warn};

use super::{build, cache};
use crate::grpc::{self, Backoff, NodeToken};
use crate::state::AppState;

/// Everything the subscription needs besides the shared state.
pub struct SyncTask {
    pub state: Arc<AppState>,
    pub channel: Channel,
    pub token: NodeToken,
    pub node_id: String,
    pub region: String,
    pub state_dir: PathBuf,
    pub hard_blocked: Option<CategorySet>,
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("control plane: {0}")]
    Status(#[from] tonic::Status),
    #[error("the subscription's request stream closed")]
    RequestClosed,
}

impl SyncTask {
    /// Subscribes until `shutdown` turns true, reconnecting after every failure.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::default();
        loop {
            let outcome = tokio::select! {
                outcome = self.session(&mut backoff) => outcome,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match outcome {
                Ok(()) => info!("control plane ended the snapshot stream"),
                Err(error) => warn!(%error, "snapshot stream failed"),
            }
            let delay = backoff.next_delay();
            info!(
                delay_ms = delay.as_millis() as u64,
                "reconnecting to the control plane"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn session(&self, backoff: &mut Backoff) -> Result<(), SyncError> {
        let (tx, rx) = mpsc::channel(8);
        let last_applied = self.state.snapshot.load().as_ref().map_or(0, |s| s.version);
        let hello = pb::Hello {
            node_id: self.node_id.clone(),
            region: self.region.clone(),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            last_applied_version: last_applied,
            protocol_version: pb::ProtocolVersion::ProtocolVersion1.into(),
        };
        tx.send(message(pb::subscribe_request::Message::Hello(hello)))
            .await
            .map_err(|_| SyncError::RequestClosed)?;
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        grpc::authorize(&mut request, &self.token);
        let mut client = DataPlaneSyncClient::new(self.channel.clone())
            .max_decoding_message_size(grpc::MAX_SNAPSHOT_BYTES);
        let mut inbound = client.subscribe(request).await?.into_inner();
        info!(last_applied, "subscribed to the control plane");

        let (latest_tx, mut latest_rx) = watch::channel::<Option<Arc<pb::Snapshot>>>(None);
        let reader = async {
            while let Some(response) = inbound.message().await? {
                if let Some(pb::subscribe_response::Message::Snapshot(snapshot)) = response.message
                {
                    latest_tx.send_replace(Some(Arc::new(snapshot)));
                }
            }
            Ok::<(), SyncError>(())
        };
        let applier = async {
            while latest_rx.changed().await.is_ok() {
                let latest = latest_rx.borrow_and_update().clone();
                if let Some(snapshot) = latest {
                    backoff.reset();
                    self.apply(snapshot, &tx).await?;
                }
            }
            Ok(())
        };
        tokio::select! {
            outcome = reader => outcome,
            outcome = applier => outcome,
        }
    }

    /// Builds, activates, persists and ACKs one snapshot, or NACKs it.
    async fn apply(
        &self,
        proto: Arc<pb::Snapshot>,
        tx: &mpsc::Sender<pb::SubscribeRequest>,
    ) -> Result<(), SyncError> {
        let version = proto.version;
        let current = self.state.snapshot.load_full();
        if current
            .as_ref()
            .is_some_and(|c| c.version == version && c.content_hash == proto.content_hash)
        {
            // Already active (booted from the cache, or a resend after a reconnect).
            return ack(tx, version).await;
        }
        if let Some(current) = &current
            && version < current.version
        {
            warn!(
                version,
                active = current.version,
                "control plane sent an older snapshot; applying it as the authority"
            );
        }
        let hard_blocked = self.hard_blocked;
        let input = proto.clone();
        let built =
            tokio::task::spawn_blocking(move || build(&input, current.as_deref(), hard_blocked))
                .await;
        match built {
            Ok(Ok(snapshot)) => {
                self.state.activate(Arc::new(snapshot));
                let dir = self.state_dir.clone();
                let persisted =
                    tokio::task::spawn_blocking(move || cache::store(&dir, &proto)).await;
                match persisted {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => warn!(%error, version, "could not cache the snapshot"),
                    Err(error) => warn!(%error, version, "could not cache the snapshot"),
                }
                ack(tx, version).await
            }
            Ok(Err(error)) => {
                self.state.metrics.snapshot_nacks.inc();
                warn!(version, %error, "snapshot rejected; keeping the active one");
                nack(tx, version, error.to_string()).await
            }
            Err(join) => {
                self.state.metrics.snapshot_nacks.inc();
                warn!(version, error = %join, "snapshot build failed");
                nack(tx, version, format!("snapshot build failed: {join}")).await
            }
        }
    }
}

fn message(m: pb::subscribe_request::Message) -> pb::SubscribeRequest {
    pb::SubscribeRequest { message: Some(m) }
}

async fn ack(tx: &mpsc::Sender<pb::SubscribeRequest>, version: u64) -> Result<(), SyncError> {
    tx.send(message(pb::subscribe_request::Message::Ack(pb::Ack {
        version,
    })))
    .await
    .map_err(|_| SyncError::RequestClosed)
}

async fn nack(
    tx: &mpsc::Sender<pb::SubscribeRequest>,
    version: u64,
    error: String,
) -> Result<(), SyncError> {
    tx.send(message(pb::subscribe_request::Message::Nack(pb::Nack {
        version,
        error,
    })))
    .await
    .map_err(|_| SyncError::RequestClosed)
}

/// Loads the cached snapshot at start, so the node is ready before (or without) the
/// control plane. A missing or unusable cache only means waiting for the first snapshot.
pub async fn boot_from_cache(
    state: &Arc<AppState>,
    state_dir: PathBuf,
    hard_blocked: Option<CategorySet>,
) {
    let loaded = tokio::task::spawn_blocking(move || {
        let proto = cache::load(&state_dir)?;
        Ok::<_, anyhow::Error>(match proto {
            Some(proto) => Some(build(&proto, None, hard_blocked)?),
            None => None,
        })
    })
    .await;
    match loaded {
        Ok(Ok(Some(snapshot))) => {
            info!(version = snapshot.version, "serving the cached snapshot");
            state.activate(Arc::new(snapshot));
        }
        Ok(Ok(None)) => info!("no cached snapshot; waiting for the control plane"),
        Ok(Err(error)) => warn!(%error, "ignoring the cached snapshot"),
        Err(error) => warn!(%error, "ignoring the cached snapshot"),
    }
}
