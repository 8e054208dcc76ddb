//! The `Lease` stream to the control plane (SPEC §4, §8).
//!
//! Opened only once some bucket needs budget (a node whose policies set no quota sends no
//! lease traffic at all), then kept open: every ask that arrives while a request is under
//! way is coalesced into the next `LeaseRequest`, one request at a time per bucket. Once
//! a second the task also refreshes leases of active buckets before they expire, gives
//! back the budget of idle ones and forgets buckets whose window has ended. When the
//! stream breaks, the node treats the control plane as unreachable (requests stop waiting
//! and use the offline allowance) and reconnects with jittered exponential backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use policy_proto::v1 as pb;
use policy_proto::v1::data_plane_sync_client::DataPlaneSyncClient;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tracing::{debug, info, warn};

use super::bucket::Bucket;
use super::{BucketKey, Quotas};
use crate::grpc::{self, Backoff, NodeToken};

/// How often leases are checked for refresh, give-back and clean-up.
const TICK: Duration = Duration::from_secs(1);
/// A bucket without admissions for this long gives its budget back.
const IDLE: Duration = Duration::from_secs(10);
/// An idle bucket with nothing left is forgotten after this long.
const FORGET: Duration = Duration::from_secs(600);
/// A lease request unanswered for this long means the stream is stuck: reconnect.
const STALLED: Duration = Duration::from_secs(10);
/// While reconnecting, the longest a request that needs budget makes the next attempt
/// wait: a busy node probes a down control plane at most this often.
const RETRY_WHEN_ASKED: Duration = Duration::from_millis(250);
/// How long a stopping node waits for the control plane to take its budget back.
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// Lease requests that may wait to be written to the stream.
const OUTBOUND: usize = 64;
/// Demands per lease request: a control plane refuses very large requests whole (the
/// reference one takes at most 1,000), and one bad demand fails its whole request.
const MAX_DEMANDS: usize = 500;

pub struct LeaseTask {
    pub quotas: Arc<Quotas>,
    pub asks: mpsc::Receiver<Arc<Bucket>>,
    pub channel: Channel,
    pub token: NodeToken,
    pub node_id: String,
}

#[derive(Debug, thiserror::Error)]
enum LeaseError {
    #[error("control plane: {0}")]
    Status(#[from] tonic::Status),
    #[error("the control plane ended the lease stream")]
    Ended,
    #[error("the control plane left a lease request unanswered for {0:?}")]
    Stalled(Duration),
    #[error("the lease stream does not take requests")]
    Blocked,
}

/// A lease request awaiting its answer.
struct Sent {
    at: Instant,
    /// Each bucket with the `want` of its demand.
    buckets: Vec<(Arc<Bucket>, u64)>,
}

/// The task's bookkeeping, kept across sessions.
struct Book {
    next_id: u64,
    in_flight: HashMap<u64, Sent>,
    /// Buckets waiting to go out with the next request.
    queued: Vec<Arc<Bucket>>,
}

impl LeaseTask {
    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let first = tokio::select! {
            first = self.asks.recv() => first,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Some(first) = first else { return };
        let mut book = Book {
            next_id: 1,
            in_flight: HashMap::new(),
            queued: vec![first],
        };
        let mut backoff = Backoff::default();
        loop {
            let outcome = self.session(&mut book, &mut backoff, &mut shutdown).await;
            self.quotas.set_down(true);
            match outcome {
                Ok(()) => return,
                Err(error) => warn!(%error, "quota lease stream failed"),
            }
            // Whatever was under way will not be answered.
            for (_, sent) in book.in_flight.drain() {
                for (bucket, _) in sent.buckets {
                    if bucket.failed() {
                        book.queued.push(bucket);
                    }
                }
            }
            let delay = backoff.next_delay();
            info!(
                delay_ms = delay.as_millis() as u64,
                "reconnecting the quota lease stream"
            );
            let wake = tokio::time::Instant::now() + delay;
            let asked = tokio::select! {
                () = tokio::time::sleep_until(wake) => false,
                ask = self.asks.recv() => {
                    let Some(bucket) = ask else { return };
                    book.queued.push(bucket);
                    true
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            if asked {
                // A request is refused for want of budget: try again soon rather than
                // after the whole (growing) backoff, so a control plane that is back is
                // found within RETRY_WHEN_ASKED.
                let sooner = wake.min(tokio::time::Instant::now() + RETRY_WHEN_ASKED);
                tokio::select! {
                    () = tokio::time::sleep_until(sooner) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        }
    }

    /// One stream: `Ok` only when the node is stopping.
    async fn session(
        &mut self,
        book: &mut Book,
        backoff: &mut Backoff,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), LeaseError> {
        while let Ok(bucket) = self.asks.try_recv() {
            book.queued.push(bucket);
        }
        let (tx, rx) = mpsc::channel(OUTBOUND);
        // Written before the call, so the stream opens with what is waiting.
        self.send(book, &tx)?;
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        grpc::authorize(&mut request, &self.token);
        let mut client = DataPlaneSyncClient::new(self.channel.clone());
        let mut inbound = tokio::select! {
            call = client.lease(request) => call?.into_inner(),
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        self.quotas.set_down(false);
        debug!("quota lease stream open");
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => true,
                ask = self.asks.recv() => {
                    let Some(bucket) = ask else { return Ok(()) };
                    book.queued.push(bucket);
                    while let Ok(bucket) = self.asks.try_recv() {
                        book.queued.push(bucket);
                    }
                    false
                }
                message = inbound.message() => {
                    let Some(response) = message? else { return Err(LeaseError::Ended) };
                    backoff.reset();
                    self.answer(book, response);
                    false
                }
                _ = tick.tick() => {
                    self.maintain(book);
                    if let Some(sent) = book.in_flight.values().map(|s| s.at.elapsed()).max()
                        && sent > STALLED
                    {
                        return Err(LeaseError::Stalled(sent));
                    }
                    false
                }
            };
            if stopping {
                return self.release(book, &tx, &mut inbound).await;
            }
            self.send(book, &tx)?;
        }
    }

    /// At shutdown (every request has finished by then): hands the unspent budget of
    /// every lease back, so other nodes can use it at once instead of after the lease
    /// expires. Waits for the answers at most [`RELEASE_WAIT`].
    async fn release(
        &self,
        book: &mut Book,
        tx: &mpsc::Sender<pb::LeaseRequest>,
        inbound: &mut tonic::Streaming<pb::LeaseResponse>,
    ) -> Result<(), LeaseError> {
        let now = Instant::now();
        book.queued.clear();
        for bucket in self.quotas.all() {
            let mut state = bucket.lock();
            let leased = state.expires_at.is_some_and(|end| now < end);
            if state.in_flight || !leased || state.available == 0 {
                continue;
            }
            state.give_back = true;
            state.in_flight = true;
            drop(state);
            book.queued.push(bucket);
        }
        if book.queued.is_empty() {
            return Ok(());
        }
        let returned = book.queued.len();
        self.send(book, tx)?;
        let deadline = tokio::time::sleep(RELEASE_WAIT);
        tokio::pin!(deadline);
        while !book.in_flight.is_empty() {
            tokio::select! {
                message = inbound.message() => match message? {
                    Some(response) => self.answer(book, response),
                    None => break,
                },
                () = &mut deadline => break,
            }
        }
        info!(buckets = returned, "quota budget handed back");
        Ok(())
    }

    /// Sends a demand for every queued bucket, [`MAX_DEMANDS`] per request.
    fn send(&self, book: &mut Book, tx: &mpsc::Sender<pb::LeaseRequest>) -> Result<(), LeaseError> {
        if book.queued.is_empty() {
            return Ok(());
        }
        let mut queued = std::mem::take(&mut book.queued);
        queued.sort_by_key(|b| Arc::as_ptr(b) as usize);
        queued.dedup_by(|a, b| Arc::ptr_eq(a, b));
        let settings = self.quotas.settings();
        for part in queued.chunks(MAX_DEMANDS) {
            let mut demands = Vec::with_capacity(part.len());
            let mut buckets = Vec::with_capacity(part.len());
            for bucket in part {
                let demand = bucket.demand(settings);
                buckets.push((bucket.clone(), demand.want));
                demands.push(demand);
            }
            let request_id = book.next_id;
            book.next_id += 1;
            book.in_flight.insert(
                request_id,
                Sent {
                    at: Instant::now(),
                    buckets,
                },
            );
            tx.try_send(pb::LeaseRequest {
                request_id,
                node_id: self.node_id.clone(),
                demands,
            })
            .map_err(|_| LeaseError::Blocked)?;
        }
        Ok(())
    }

    /// Applies one answer; buckets that want more go back in the queue.
    fn answer(&self, book: &mut Book, response: pb::LeaseResponse) {
        let Some(sent) = book.in_flight.remove(&response.request_id) else {
            warn!(
                request_id = response.request_id,
                "lease answer to no request"
            );
            return;
        };
        if !response.error.is_empty() {
            warn!(error = %response.error, "control plane could not grant quota leases");
        }
        for (i, (bucket, want)) in sent.buckets.into_iter().enumerate() {
            let grant = response
                .grants
                .get(i)
                .filter(|_| response.error.is_empty())
                .filter(|g| g.bucket.as_ref().is_none_or(|b| bucket.key.matches(b)));
            let again = match grant {
                Some(grant) => bucket.granted(grant, want, sent.at),
                None => bucket.failed(),
            };
            if again {
                book.queued.push(bucket);
            }
        }
    }

    /// Refreshes leases of active buckets before they end, gives idle buckets' budget
    /// back and forgets buckets that are over.
    fn maintain(&self, book: &mut Book) {
        let now = Instant::now();
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut forget: Vec<BucketKey> = Vec::new();
        for bucket in self.quotas.all() {
            let mut state = bucket.lock();
            if state.in_flight {
                continue;
            }
            if unix_now >= bucket.window_end {
                forget.push(bucket.key.clone());
                continue;
            }
            let idle_for = now.saturating_duration_since(state.last_activity);
            let left = state
                .expires_at
                .map_or(Duration::ZERO, |end| end.saturating_duration_since(now));
            if left.is_zero() {
                if idle_for >= FORGET && state.offline_used == 0 {
                    forget.push(bucket.key.clone());
                }
                continue;
            }
            if idle_for >= IDLE {
                if state.available > 0 {
                    state.give_back = true;
                    state.in_flight = true;
                    drop(state);
                    book.queued.push(bucket);
                }
            } else if left < state.ttl / 2 {
                state.in_flight = true;
                drop(state);
                book.queued.push(bucket);
            }
        }
        self.quotas.remove(&forget);
    }
}
