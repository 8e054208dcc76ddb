//! `ReportAudit` and `ReportUsage` (SPEC §6, §8): batches with stable ids, stored exactly
//! once, acknowledged once committed.
//!
//! Each batch is one transaction of a few set-based statements (arrays bound once and
//! expanded with UNNEST), so the cost per entry is Postgres' insert cost and not a network
//! round trip. A batch that is resent after a lost ACK inserts nothing new and is
//! acknowledged again (LESSONS "Audit and usage delivery"). Logs name ids and counts only,
//! never entry contents.

mod audit;
mod fields;
mod usage;

use std::future::Future;
use std::time::Instant;

use futures::stream::{BoxStream, StreamExt as _};
use policy_proto::v1::{AuditBatch, BatchAck, UsageBatch};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxFuture;
use tonic::server::StreamingService;
use tonic::{Response, Status, Streaming};

use crate::metrics::metrics;

/// Attempts per transaction when Postgres aborts it to resolve a deadlock or a
/// serialization conflict with a concurrent one; both are safe to retry as a whole.
const MAX_ATTEMPTS: u32 = 3;
/// Batches of one stream stored concurrently.
const PIPELINE: usize = 4;

/// Shared state of both report RPCs.
#[derive(Clone)]
pub(crate) struct Ingest {
    pool: PgPool,
    history_limit: u32,
    shutdown: watch::Receiver<bool>,
}

impl Ingest {
    pub(crate) fn new(pool: PgPool, history_limit: u32, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            pool,
            history_limit,
            shutdown,
        }
    }

    #[tracing::instrument(name = "sync.report_audit", skip_all,
        fields(entries = batch.entries.len(), new = tracing::field::Empty))]
    async fn audit(self, batch: AuditBatch) -> Result<BatchAck, Status> {
        let started = Instant::now();
        let (ids, entries) = audit::check(batch)?;
        let stored = retry(|| audit::store(&self.pool, self.history_limit, &entries))
            .await
            .map_err(|error| unavailable("audit", error))?;
        tracing::Span::current().record("new", stored.new);
        metrics().audit_entries_ingested(stored.new as u64);
        tracing::debug!(
            entries = ids.len(),
            new = stored.new,
            history = stored.history,
            observations = stored.observations,
            store_ms = started.elapsed().as_millis() as u64,
            "audit batch stored"
        );
        Ok(BatchAck { ids })
    }

    #[tracing::instrument(name = "sync.report_usage", skip_all,
        fields(records = batch.records.len(), new = tracing::field::Empty))]
    async fn usage(self, batch: UsageBatch) -> Result<BatchAck, Status> {
        let (ids, records) = usage::check(batch)?;
        let new = retry(|| usage::store(&self.pool, &records))
            .await
            .map_err(|error| unavailable("usage", error))?;
        tracing::Span::current().record("new", new);
        metrics().usage_records_ingested(new);
        tracing::debug!(records = ids.len(), new, "usage batch stored");
        Ok(BatchAck { ids })
    }
}

/// `ReportAudit`.
#[derive(Clone)]
pub(crate) struct AuditRpc(pub(crate) Ingest);

/// `ReportUsage`.
#[derive(Clone)]
pub(crate) struct UsageRpc(pub(crate) Ingest);

type AckStream = BoxStream<'static, Result<BatchAck, Status>>;

impl StreamingService<AuditBatch> for AuditRpc {
    type Response = BatchAck;
    type ResponseStream = AckStream;
    type Future = BoxFuture<Response<AckStream>, Status>;

    fn call(&mut self, request: tonic::Request<Streaming<AuditBatch>>) -> Self::Future {
        let ingest = self.0.clone();
        let shutdown = ingest.shutdown.clone();
        let acks = acknowledge(request.into_inner(), shutdown, "audit", move |batch| {
            ingest.clone().audit(batch)
        });
        Box::pin(async move { Ok(Response::new(acks)) })
    }
}

impl StreamingService<UsageBatch> for UsageRpc {
    type Response = BatchAck;
    type ResponseStream = AckStream;
    type Future = BoxFuture<Response<AckStream>, Status>;

    fn call(&mut self, request: tonic::Request<Streaming<UsageBatch>>) -> Self::Future {
        let ingest = self.0.clone();
        let shutdown = ingest.shutdown.clone();
        let acks = acknowledge(request.into_inner(), shutdown, "usage", move |batch| {
            ingest.clone().usage(batch)
        });
        Box::pin(async move { Ok(Response::new(acks)) })
    }
}

/// Stores the batches of one stream and answers each with its ACK, in order. Up to
/// [`PIPELINE`] batches are stored concurrently, so one data plane's throughput is not
/// bounded by one transaction's latency. An invalid batch or a storage failure ends the
/// stream with that status: the data plane keeps the entries spooled and resends them on
/// its next stream (what was committed meanwhile is recognised by id). On shutdown no new
/// batch is read; those in progress are finished and acknowledged.
fn acknowledge<B, F, Fut>(
    mut inbound: Streaming<B>,
    mut shutdown: watch::Receiver<bool>,
    kind: &'static str,
    store: F,
) -> AckStream
where
    B: Send + 'static,
    F: FnMut(B) -> Fut + Send + 'static,
    Fut: Future<Output = Result<BatchAck, Status>> + Send + 'static,
{
    // Reader: batches in, until the stream ends or shutdown.
    let (batches_tx, batches_rx) = mpsc::channel::<B>(PIPELINE);
    tokio::spawn(async move {
        loop {
            let batch = tokio::select! {
                batch = inbound.message() => batch,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            match batch {
                Ok(Some(batch)) => {
                    if batches_tx.send(batch).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    tracing::debug!(kind, %status, "report stream failed");
                    break;
                }
            }
        }
    });
    // Writer: stores up to PIPELINE batches at once, acknowledges them in order.
    let (acks, rx) = mpsc::channel(PIPELINE);
    tokio::spawn(async move {
        let mut stored = ReceiverStream::new(batches_rx)
            .map(store)
            .buffered(PIPELINE);
        while let Some(result) = stored.next().await {
            let failed = result.is_err();
            if acks.send(result).await.is_err() || failed {
                break;
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

/// Runs `attempt` again when Postgres aborted it for a deadlock (40P01) or a
/// serialization failure (40001).
pub(crate) async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(sqlx::Error::Database(db))
                if tries < MAX_ATTEMPTS
                    && matches!(db.code().as_deref(), Some("40P01" | "40001")) =>
            {
                tracing::debug!(error = %db, tries, "transaction aborted; retrying");
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Storage failures are the control plane's problem; the data plane only learns to resend.
fn unavailable(kind: &'static str, error: sqlx::Error) -> Status {
    tracing::error!(kind, %error, "cannot store report batch");
    Status::unavailable(format!(
        "{kind} storage is unavailable; resend the batch later"
    ))
}
