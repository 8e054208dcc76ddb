//! `Subscribe` (SPEC §8): Hello, then the full snapshot, then every newer one; ACKs and
//! NACKs are recorded in `data_plane_nodes`.
//!
//! Each stream has two halves. The outbound half reads the publisher's `watch` channel and
//! sends the newest frame whenever it is newer than the last one sent: a slow data plane
//! skips intermediate versions instead of queueing them (latest wins). The inbound half is
//! a task reading ACK/NACK until the data plane goes away or the replica shuts down; when
//! it ends, the outbound half ends too.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt as _};
use policy_proto::v1::{Hello, ProtocolVersion, SubscribeRequest, subscribe_request};
use sqlx::PgPool;
use tokio::sync::{oneshot, watch};
use tonic::codegen::BoxFuture;
use tonic::server::StreamingService;
use tonic::{Response, Status, Streaming};
use tracing::Instrument as _;

use crate::metrics::{ConnectedDataPlane, metrics};
use crate::sync::codec::Frame;
use crate::sync::nodes::{self, Session};
use crate::sync::publisher::Latest;

/// A data plane that opens a stream and says nothing is dropped after this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The newest protocol this control plane speaks (LESSONS: refuse newer data planes).
const PROTOCOL_VERSION: i32 = ProtocolVersion::ProtocolVersion1 as i32;
const MAX_NODE_FIELD_CHARS: usize = 256;

#[derive(Clone)]
pub(crate) struct SubscribeRpc {
    pool: PgPool,
    replica_id: Arc<str>,
    snapshots: watch::Receiver<Latest>,
    shutdown: watch::Receiver<bool>,
}

impl SubscribeRpc {
    pub(crate) fn new(
        pool: PgPool,
        replica_id: &str,
        snapshots: watch::Receiver<Latest>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            pool,
            replica_id: replica_id.into(),
            snapshots,
            shutdown,
        }
    }

    async fn open(
        self,
        mut inbound: Streaming<SubscribeRequest>,
    ) -> Result<Response<BoxStream<'static, Result<Frame, Status>>>, Status> {
        let hello = read_hello(&mut inbound).await?;
        check_hello(&hello)?;
        let node_id: Arc<str> = hello.node_id.trim().into();
        tracing::Span::current().record("node_id", &*node_id);
        let session = match nodes::connect(
            &self.pool,
            &node_id,
            &hello.region,
            &hello.software_version,
            &self.replica_id,
        )
        .await
        {
            Ok(session) => Some(session),
            Err(error) => {
                // The snapshot matters more than the bookkeeping: serve it anyway (SPEC §7,
                // the CP keeps streaming while Postgres is unavailable).
                tracing::warn!(%error, node_id = %node_id, "cannot record data plane connection");
                None
            }
        };
        // Never resend a NACKed version (LESSONS): a node that rejected the current version
        // and runs the same software gets nothing until a newer version exists. Otherwise
        // the full snapshot goes out at once, even when the node says it already applied
        // this version: that is the contract (SPEC §8), and the content hash lets the node
        // confirm it runs exactly this content.
        let rejected = session.as_ref().and_then(|s| s.rejected_version);
        tracing::info!(
            node_id = %node_id,
            region = %hello.region,
            software_version = %hello.software_version,
            last_applied_version = hello.last_applied_version,
            rejected_version = ?rejected,
            "data plane subscribed"
        );

        let (closed_tx, closed_rx) = oneshot::channel::<()>();
        let connected = metrics().data_plane_connected();
        tokio::spawn(read_acks(
            self.pool.clone(),
            self.replica_id.clone(),
            node_id.clone(),
            session,
            inbound,
            self.shutdown.clone(),
            (closed_tx, connected),
        ));
        let outbound = snapshots(self.snapshots.clone(), rejected, node_id).take_until(closed_rx);
        Ok(Response::new(outbound.boxed()))
    }
}

impl StreamingService<SubscribeRequest> for SubscribeRpc {
    type Response = Frame;
    type ResponseStream = BoxStream<'static, Result<Frame, Status>>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: tonic::Request<Streaming<SubscribeRequest>>) -> Self::Future {
        let rpc = self.clone();
        // The handshake (Hello, node bookkeeping); the stream itself lives for hours and
        // is not one span.
        let span = tracing::info_span!(
            "sync.subscribe",
            node_id = tracing::field::Empty,
            otel.kind = "server"
        );
        Box::pin(rpc.open(request.into_inner()).instrument(span))
    }
}

async fn read_hello(inbound: &mut Streaming<SubscribeRequest>) -> Result<Hello, Status> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no Hello within 10 s of opening Subscribe"))??;
    match first.and_then(|request| request.message) {
        Some(subscribe_request::Message::Hello(hello)) => Ok(hello),
        Some(subscribe_request::Message::Ack(_) | subscribe_request::Message::Nack(_)) | None => {
            Err(Status::invalid_argument(
                "the first Subscribe message must be a Hello",
            ))
        }
    }
}

fn check_hello(hello: &Hello) -> Result<(), Status> {
    // 0 (unspecified) comes from data planes built before the field existed: version 1.
    if hello.protocol_version > PROTOCOL_VERSION {
        return Err(Status::failed_precondition(format!(
            "data plane speaks sync protocol version {}, this control plane at most {}: \
             upgrade the control plane before its data planes",
            hello.protocol_version, PROTOCOL_VERSION
        )));
    }
    let node_id = hello.node_id.trim();
    if node_id.is_empty() {
        return Err(Status::invalid_argument("Hello.node_id must not be empty"));
    }
    for (field, value) in [
        ("node_id", node_id),
        ("region", hello.region.as_str()),
        ("software_version", hello.software_version.as_str()),
    ] {
        if value.chars().count() > MAX_NODE_FIELD_CHARS {
            return Err(Status::invalid_argument(format!(
                "Hello.{field} is longer than {MAX_NODE_FIELD_CHARS} characters"
            )));
        }
    }
    Ok(())
}

/// The outbound half: every published frame newer than the last one sent (and newer than
/// a version the node rejected before reconnecting).
fn snapshots(
    latest: watch::Receiver<Latest>,
    rejected: Option<u64>,
    node_id: Arc<str>,
) -> impl futures::Stream<Item = Result<Frame, Status>> + Send + 'static {
    stream::unfold((latest, rejected), move |(mut latest, mut floor)| {
        let node_id = node_id.clone();
        async move {
            loop {
                let next = latest
                    .borrow_and_update()
                    .as_ref()
                    .filter(|published| floor.is_none_or(|sent| published.version > sent))
                    .cloned();
                if let Some(published) = next {
                    tracing::debug!(node_id = %node_id, version = published.version, "sending snapshot");
                    floor = Some(published.version);
                    metrics().snapshot_sent();
                    return Some((Ok(Frame(published.frame.clone())), (latest, floor)));
                }
                // The publisher is gone only when the replica shuts down.
                latest.changed().await.ok()?;
            }
        }
    })
}

/// The inbound half: ACK/NACK bookkeeping until the stream or the replica ends.
async fn read_acks(
    pool: PgPool,
    replica_id: Arc<str>,
    node_id: Arc<str>,
    session: Option<Session>,
    mut inbound: Streaming<SubscribeRequest>,
    mut shutdown: watch::Receiver<bool>,
    // Both dropped when the stream ends: the outbound half stops, the gauge goes down.
    closed: (oneshot::Sender<()>, ConnectedDataPlane),
) {
    loop {
        let message = tokio::select! {
            message = inbound.message() => message,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let message = match message {
            Ok(Some(request)) => request.message,
            Ok(None) => break,
            Err(status) => {
                tracing::debug!(node_id = %node_id, %status, "subscribe stream failed");
                break;
            }
        };
        match message {
            Some(subscribe_request::Message::Ack(ack)) => {
                tracing::debug!(node_id = %node_id, version = ack.version, "snapshot applied");
                if let Err(error) = nodes::ack(&pool, &node_id, ack.version).await {
                    tracing::warn!(%error, node_id = %node_id, version = ack.version,
                        "cannot record ACK");
                }
            }
            Some(subscribe_request::Message::Nack(nack)) => {
                let count = nodes::nack(&pool, &node_id, nack.version, &nack.error).await;
                // The NACK count is the signal operators watch (LESSONS).
                metrics().snapshot_nacked();
                tracing::warn!(
                    node_id = %node_id,
                    version = nack.version,
                    nack_count = count.as_ref().ok(),
                    error = %nack.error,
                    "data plane rejected snapshot"
                );
                if let Err(error) = count {
                    tracing::warn!(%error, node_id = %node_id, "cannot record NACK");
                }
            }
            Some(subscribe_request::Message::Hello(_)) => {
                tracing::warn!(node_id = %node_id, "repeated Hello on an open stream ignored");
            }
            // A message kind from a newer data plane; nothing to do with it.
            None => {}
        }
    }
    if let Some(session) = &session
        && let Err(error) = nodes::disconnect(&pool, &node_id, &replica_id, session).await
    {
        tracing::warn!(%error, node_id = %node_id, "cannot record data plane disconnect");
    }
    tracing::info!(node_id = %node_id, "data plane unsubscribed");
    drop(closed);
}
