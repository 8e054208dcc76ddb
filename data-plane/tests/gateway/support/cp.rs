//! A fake control plane: the generated tonic server serving snapshots the test builds,
//! recording hellos, ACKs, NACKs and reported entries (deduplicated by id, as the real
//! one stores them), granting quota leases by the proto's contract ([`Authority`]), and
//! able to go down and come back on the same address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use policy_proto::v1 as pb;
use policy_proto::v1::data_plane_sync_server::{DataPlaneSync, DataPlaneSyncServer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

pub const NODE_TOKEN: &str = "node-token-for-tests";

#[derive(Default, Debug)]
pub struct Recorded {
    pub hellos: Vec<pb::Hello>,
    pub acks: Vec<u64>,
    pub nacks: Vec<(u64, String)>,
    pub audit: HashMap<String, pb::AuditEntry>,
    pub usage: HashMap<String, pb::UsageRecord>,
    /// Entries received, duplicates included.
    pub audit_received: usize,
    pub usage_received: usize,
    pub unauthenticated: usize,
    /// `Lease` calls (authenticated), and every lease request received.
    pub lease_streams: usize,
    pub lease_requests: Vec<pb::LeaseRequest>,
}

/// How the fake answers `Lease`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseMode {
    /// Grants by the contract.
    Grant,
    /// Answers every request with `error` set (a control plane whose database is down).
    Error,
    /// Ends open lease streams and refuses new ones with UNAVAILABLE.
    Unreachable,
}

/// (org, policy_id, subject_kind, subject, metric, window_start)
type BucketId = (String, String, String, String, String, i64);

fn bucket_id(bucket: &pb::QuotaBucket) -> BucketId {
    (
        bucket.org.clone(),
        bucket.policy_id.clone(),
        bucket.subject_kind.clone(),
        bucket.subject.clone(),
        bucket.metric.clone(),
        bucket.window_start_unix,
    )
}

#[derive(Debug)]
struct NodeLease {
    epoch: u64,
    held: u64,
    expires_at: Instant,
}

#[derive(Debug, Default)]
struct Counter {
    used: u64,
    leases: HashMap<String, NodeLease>,
}

/// The quota authority of the proto's contract, in memory: per bucket `used` (from
/// usage records' charges) and one lease per node; a grant never lets used plus the
/// unexpired leases' held budget exceed the limit.
#[derive(Debug)]
pub struct Authority {
    counters: HashMap<BucketId, Counter>,
    pub ttl: Duration,
}

impl Default for Authority {
    fn default() -> Self {
        Authority {
            counters: HashMap::new(),
            ttl: Duration::from_secs(60),
        }
    }
}

impl Authority {
    fn grant(&mut self, node: &str, demand: &pb::LeaseDemand) -> pb::LeaseGrant {
        let bucket = demand.bucket.clone().unwrap_or_default();
        let counter = self.counters.entry(bucket_id(&bucket)).or_default();
        let now = Instant::now();
        let others: u64 = counter
            .leases
            .iter()
            .filter(|(n, l)| n.as_str() != node && l.expires_at > now)
            .map(|(_, l)| l.held)
            .sum();
        let used = counter.used;
        let lease = counter.leases.entry(node.to_string()).or_insert(NodeLease {
            epoch: 0,
            held: 0,
            expires_at: now,
        });
        if lease.epoch == 0 || lease.expires_at <= now {
            lease.epoch += 1;
            lease.held = 0;
        } else if demand.epoch == lease.epoch {
            lease.held = lease.held.saturating_sub(demand.give_back);
        }
        let free = demand
            .limit
            .saturating_sub(used)
            .saturating_sub(others)
            .saturating_sub(lease.held);
        let granted = demand.want.min(free);
        lease.held += granted;
        lease.expires_at = now + self.ttl;
        pb::LeaseGrant {
            bucket: Some(bucket),
            epoch: lease.epoch,
            granted,
            held: lease.held,
            used,
            held_by_others: others,
            limit: demand.limit,
            expires_in_ms: self.ttl.as_millis() as u64,
        }
    }

    /// Applies a usage record's charges (once per record id, as the real one does).
    fn charge(&mut self, record: &pb::UsageRecord) {
        for charge in &record.charges {
            let Some(bucket) = &charge.bucket else {
                continue;
            };
            let counter = self.counters.entry(bucket_id(bucket)).or_default();
            counter.used += charge.amount;
            if let Some(lease) = counter.leases.get_mut(&record.node_id)
                && charge.epoch != 0
                && lease.epoch == charge.epoch
            {
                lease.held = lease.held.saturating_sub(charge.amount);
            }
        }
    }

    /// `used` of every bucket of `subject_kind`/`subject`/`metric`, summed.
    pub fn used(&self, subject_kind: &str, subject: &str, metric: &str) -> u64 {
        self.counters
            .iter()
            .filter(|(id, _)| id.2 == subject_kind && id.3 == subject && id.4 == metric)
            .map(|(_, c)| c.used)
            .sum()
    }
}

struct Shared {
    recorded: Mutex<Recorded>,
    authority: Mutex<Authority>,
    lease_mode: watch::Sender<LeaseMode>,
    snapshots: watch::Sender<Option<pb::Snapshot>>,
    /// Set while the server is stopping: open streams end.
    down: watch::Sender<bool>,
}

#[derive(Clone)]
struct Service(Arc<Shared>);

type Out<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl Service {
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let expected = format!("Bearer {NODE_TOKEN}");
        let ok = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str());
        if ok && !*self.0.down.borrow() {
            return Ok(());
        }
        if !ok {
            self.0.recorded.lock().unwrap().unauthenticated += 1;
        }
        Err(Status::unauthenticated("bad node token"))
    }
}

#[tonic::async_trait]
impl DataPlaneSync for Service {
    type SubscribeStream = Out<pb::SubscribeResponse>;
    type ReportAuditStream = Out<pb::BatchAck>;
    type ReportUsageStream = Out<pb::BatchAck>;
    type LeaseStream = Out<pb::LeaseResponse>;

    async fn lease(
        &self,
        request: Request<Streaming<pb::LeaseRequest>>,
    ) -> Result<Response<Self::LeaseStream>, Status> {
        self.check(&request)?;
        self.0.recorded.lock().unwrap().lease_streams += 1;
        if *self.0.lease_mode.borrow() == LeaseMode::Unreachable {
            return Err(Status::unavailable("the quota authority is unreachable"));
        }
        let mut inbound = request.into_inner();
        let shared = self.0.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut down = shared.down.subscribe();
            let mut mode = shared.lease_mode.subscribe();
            loop {
                let message = tokio::select! {
                    message = inbound.message() => Some(message),
                    _ = down.wait_for(|d| *d) => break,
                    _ = mode.wait_for(|m| *m == LeaseMode::Unreachable) => None,
                };
                let Some(message) = message else {
                    let gone = Status::unavailable("the quota authority is unreachable");
                    let _ = tx.send(Err(gone)).await;
                    break;
                };
                let Ok(Some(request)) = message else { break };
                shared
                    .recorded
                    .lock()
                    .unwrap()
                    .lease_requests
                    .push(request.clone());
                let response = if *shared.lease_mode.borrow() == LeaseMode::Error {
                    pb::LeaseResponse {
                        request_id: request.request_id,
                        grants: vec![],
                        error: "quota counters unavailable: database is down".into(),
                    }
                } else {
                    let mut authority = shared.authority.lock().unwrap();
                    pb::LeaseResponse {
                        request_id: request.request_id,
                        grants: request
                            .demands
                            .iter()
                            .map(|d| authority.grant(&request.node_id, d))
                            .collect(),
                        error: String::new(),
                    }
                };
                if tx.send(Ok(response)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn subscribe(
        &self,
        request: Request<Streaming<pb::SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.check(&request)?;
        let mut inbound = request.into_inner();
        let shared = self.0.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut down = shared.down.subscribe();
            let Ok(Some(pb::SubscribeRequest {
                message: Some(pb::subscribe_request::Message::Hello(hello)),
            })) = inbound.message().await
            else {
                return;
            };
            shared.recorded.lock().unwrap().hellos.push(hello);
            let reader_shared = shared.clone();
            let reader = tokio::spawn(async move {
                while let Ok(Some(message)) = inbound.message().await {
                    let mut recorded = reader_shared.recorded.lock().unwrap();
                    match message.message {
                        Some(pb::subscribe_request::Message::Ack(ack)) => {
                            recorded.acks.push(ack.version)
                        }
                        Some(pb::subscribe_request::Message::Nack(nack)) => {
                            recorded.nacks.push((nack.version, nack.error))
                        }
                        _ => {}
                    }
                }
            });
            let mut snapshots = shared.snapshots.subscribe();
            loop {
                let current = snapshots.borrow_and_update().clone();
                if let Some(snapshot) = current {
                    let message = pb::SubscribeResponse {
                        message: Some(pb::subscribe_response::Message::Snapshot(snapshot)),
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        break;
                    }
                }
                tokio::select! {
                    changed = snapshots.changed() => if changed.is_err() { break },
                    _ = down.wait_for(|d| *d) => break,
                }
            }
            reader.abort();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn report_audit(
        &self,
        request: Request<Streaming<pb::AuditBatch>>,
    ) -> Result<Response<Self::ReportAuditStream>, Status> {
        self.check(&request)?;
        let mut inbound = request.into_inner();
        let shared = self.0.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut down = shared.down.subscribe();
            loop {
                let batch = tokio::select! {
                    batch = inbound.message() => batch,
                    _ = down.wait_for(|d| *d) => break,
                };
                let Ok(Some(batch)) = batch else { break };
                let ids: Vec<String> = batch.entries.iter().map(|e| e.id.clone()).collect();
                {
                    let mut recorded = shared.recorded.lock().unwrap();
                    recorded.audit_received += batch.entries.len();
                    for entry in batch.entries {
                        recorded.audit.entry(entry.id.clone()).or_insert(entry);
                    }
                }
                if tx.send(Ok(pb::BatchAck { ids })).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn report_usage(
        &self,
        request: Request<Streaming<pb::UsageBatch>>,
    ) -> Result<Response<Self::ReportUsageStream>, Status> {
        self.check(&request)?;
        let mut inbound = request.into_inner();
        let shared = self.0.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut down = shared.down.subscribe();
            loop {
                let batch = tokio::select! {
                    batch = inbound.message() => batch,
                    _ = down.wait_for(|d| *d) => break,
                };
                let Ok(Some(batch)) = batch else { break };
                let ids: Vec<String> = batch.records.iter().map(|e| e.id.clone()).collect();
                {
                    let mut recorded = shared.recorded.lock().unwrap();
                    recorded.usage_received += batch.records.len();
                    let mut authority = shared.authority.lock().unwrap();
                    for record in batch.records {
                        if !recorded.usage.contains_key(&record.id) {
                            authority.charge(&record);
                            recorded.usage.insert(record.id.clone(), record);
                        }
                    }
                }
                if tx.send(Ok(pb::BatchAck { ids })).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

pub struct FakeCp {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    server: Option<(JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
}

impl FakeCp {
    /// Starts serving `snapshot` (none: the node waits) on a free port.
    pub async fn start(snapshot: Option<pb::Snapshot>) -> FakeCp {
        let (snapshots, _) = watch::channel(snapshot);
        let (down, _) = watch::channel(false);
        let (lease_mode, _) = watch::channel(LeaseMode::Grant);
        let shared = Arc::new(Shared {
            recorded: Mutex::new(Recorded::default()),
            authority: Mutex::new(Authority::default()),
            lease_mode,
            snapshots,
            down,
        });
        let mut cp = FakeCp {
            shared,
            addr: "127.0.0.1:0".parse().unwrap(),
            server: None,
        };
        cp.serve().await;
        cp
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn serve(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        self.shared.down.send_replace(false);
        let service = DataPlaneSyncServer::new(Service(self.shared.clone()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        self.server = Some((handle, stop_tx));
    }

    /// Goes down: open streams end, the port stops listening.
    pub async fn stop(&mut self) {
        self.shared.down.send_replace(true);
        if let Some((handle, stop)) = self.server.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), handle).await;
        }
    }

    /// Comes back on the same address.
    pub async fn restart(&mut self) {
        self.serve().await;
    }

    pub fn publish(&self, snapshot: pb::Snapshot) {
        self.shared.snapshots.send_replace(Some(snapshot));
    }

    pub fn recorded<R>(&self, f: impl FnOnce(&Recorded) -> R) -> R {
        f(&self.shared.recorded.lock().unwrap())
    }

    pub fn authority<R>(&self, f: impl FnOnce(&mut Authority) -> R) -> R {
        f(&mut self.shared.authority.lock().unwrap())
    }

    pub fn set_lease_mode(&self, mode: LeaseMode) {
        self.shared.lease_mode.send_replace(mode);
    }
}

impl Drop for FakeCp {
    fn drop(&mut self) {
        self.shared.down.send_replace(true);
        if let Some((handle, _)) = self.server.take() {
            handle.abort();
        }
    }
}
