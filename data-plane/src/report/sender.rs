//! Streams spooled records to the control plane and acknowledges them in the spool
//! (SPEC §8: `ReportAudit`, `ReportUsage`).
//!
//! Each connection starts reading the spool from its beginning, so whatever was not
//! acknowledged before (a broken stream, a restart) is sent again; the control plane
//! stores each id once. At most [`WINDOW`] records are in flight, which bounds memory
//! while the control plane is slow.

use std::collections::HashMap;
use std::future::Future;

use policy_proto::v1 as pb;
use policy_proto::v1::data_plane_sync_client::DataPlaneSyncClient;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;
use tracing::{debug, warn};

use super::spool::{self, RecordRef};
use super::{SpoolHandle, with_spool};
use crate::grpc::{self, Backoff, NodeToken};
use crate::metrics::Metrics;

/// Records per batch.
const BATCH: usize = 256;
/// Records sent and not yet acknowledged, at most.
const WINDOW: usize = 4096;

/// A kind of report: its message, its batch and the RPC that carries it.
pub trait Report: Message + Default + Send + 'static {
    type Batch: Send + 'static;

    fn id(&self) -> &str;
    fn batch(items: Vec<Self>) -> Self::Batch;
    fn open(
        client: DataPlaneSyncClient<Channel>,
        request: tonic::Request<ReceiverStream<Self::Batch>>,
    ) -> impl Future<Output = Result<Streaming<pb::BatchAck>, tonic::Status>> + Send;
}

impl Report for pb::AuditEntry {
    type Batch = pb::AuditBatch;

    fn id(&self) -> &str {
        &self.id
    }

    fn batch(entries: Vec<Self>) -> pb::AuditBatch {
        pb::AuditBatch { entries }
    }

    async fn open(
        mut client: DataPlaneSyncClient<Channel>,
        request: tonic::Request<ReceiverStream<pb::AuditBatch>>,
    ) -> Result<Streaming<pb::BatchAck>, tonic::Status> {
        Ok(client.report_audit(request).await?.into_inner())
    }
}

impl Report for pb::UsageRecord {
    type Batch = pb::UsageBatch;

    fn id(&self) -> &str {
        &self.id
    }

    fn batch(records: Vec<Self>) -> pb::UsageBatch {
        pb::UsageBatch { records }
    }

    async fn open(
        mut client: DataPlaneSyncClient<Channel>,
        request: tonic::Request<ReceiverStream<pb::UsageBatch>>,
    ) -> Result<Streaming<pb::BatchAck>, tonic::Status> {
        Ok(client.report_usage(request).await?.into_inner())
    }
}

/// Sends one spool's records until `shutdown`, reconnecting with backoff.
pub async fn run_sender<R: Report>(
    handle: SpoolHandle,
    channel: Channel,
    token: NodeToken,
    metrics: std::sync::Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    loop {
        let outcome = tokio::select! {
            outcome = session::<R>(&handle, &channel, &token, &metrics, &mut backoff) => outcome,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        if let Err(error) = outcome {
            warn!(spool = handle.kind.name(), %error, "report stream failed");
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

async fn session<R: Report>(
    handle: &SpoolHandle,
    channel: &Channel,
    token: &NodeToken,
    metrics: &Metrics,
    backoff: &mut Backoff,
) -> Result<(), tonic::Status> {
    let (tx, rx) = mpsc::channel::<R::Batch>(4);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    grpc::authorize(&mut request, token);
    let mut acks = R::open(DataPlaneSyncClient::new(channel.clone()), request).await?;
    debug!(spool = handle.kind.name(), "report stream open");

    let mut cursor = spool::START;
    let mut in_flight: HashMap<String, RecordRef> = HashMap::new();
    loop {
        if in_flight.len() < WINDOW {
            let room = (WINDOW - in_flight.len()).min(BATCH);
            let read = with_spool(&handle.spool, move |s| s.read(cursor, room)).await;
            let (records, next) = match read {
                Some(Ok(read)) => read,
                Some(Err(error)) => {
                    warn!(spool = handle.kind.name(), %error, "spool read failed");
                    return Err(tonic::Status::internal("spool read failed"));
                }
                None => return Err(tonic::Status::internal("spool read task failed")),
            };
            cursor = next;
            if !records.is_empty() {
                let mut items = Vec::with_capacity(records.len());
                for (at, payload) in records {
                    match R::decode(payload.as_slice()) {
                        Ok(item) => {
                            in_flight.insert(item.id().to_string(), at);
                            items.push(item);
                        }
                        // A record that passed its checksum but does not decode cannot
                        // become valid later: acknowledge it locally so it is not stuck.
                        Err(_) => {
                            warn!(
                                spool = handle.kind.name(),
                                "undecodable spool record skipped"
                            );
                            let _ = with_spool(&handle.spool, move |s| s.ack(at)).await;
                        }
                    }
                }
                if tx.send(R::batch(items)).await.is_err() {
                    return Err(tonic::Status::unavailable("report stream closed"));
                }
                continue;
            }
        }
        tokio::select! {
            () = handle.notify.notified(), if in_flight.len() < WINDOW => {}
            ack = acks.message() => {
                let Some(ack) = ack? else {
                    return Err(tonic::Status::unavailable("control plane closed the report stream"));
                };
                backoff.reset();
                let done: Vec<RecordRef> =
                    ack.ids.iter().filter_map(|id| in_flight.remove(id)).collect();
                let depth = with_spool(&handle.spool, move |s| {
                    for at in done {
                        s.ack(at);
                    }
                    s.depth()
                })
                .await;
                if let Some(depth) = depth {
                    metrics.spool_depth(handle.kind, depth);
                }
            }
        }
    }
}
