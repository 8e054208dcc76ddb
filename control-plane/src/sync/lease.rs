//! `Lease` (SPEC §4, docs/quotas.md): data planes ask the control plane for quota budget.
//!
//! One long-lived stream per data plane; every `LeaseRequest` is decided in one database
//! transaction ([`db::quota::lease`]) and answered by exactly one `LeaseResponse` with its
//! `request_id`, in completion order. A request the control plane cannot decide (invalid
//! input, database unavailable or too slow) gets a response with `error` set and no grant;
//! the stream stays open, because the next request may well succeed.

use std::time::Duration;

use futures::stream::{BoxStream, StreamExt as _};
use policy_proto::v1::{LeaseDemand, LeaseGrant, LeaseRequest, LeaseResponse};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxFuture;
use tonic::server::StreamingService;
use tonic::{Response, Status, Streaming};

use crate::db::quota::{self as quotas, Demand, Grant};
use crate::quota::Bucket;
use crate::sync::ingest::retry;

/// Requests of one stream decided concurrently; the buckets' row locks serialize the ones
/// that touch the same bucket.
const CONCURRENCY: usize = 4;
/// Longest a request may take, waiting for a connection included. A data plane waits for
/// its answer on the request path, so a slow database must become a prompt error.
const DEADLINE: Duration = Duration::from_secs(5);
/// Most demands one request may carry.
const MAX_DEMANDS: usize = 1_000;

/// The `Lease` RPC; cheap to clone.
#[derive(Clone)]
pub(crate) struct LeaseRpc {
    pool: PgPool,
    ttl: Duration,
    shutdown: watch::Receiver<bool>,
}

type ResponseStream = BoxStream<'static, Result<LeaseResponse, Status>>;

impl LeaseRpc {
    pub(crate) fn new(pool: PgPool, ttl: Duration, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            pool,
            ttl,
            shutdown,
        }
    }

    async fn answer(self, request: LeaseRequest) -> LeaseResponse {
        let request_id = request.request_id;
        let (node_id, demands) = match check(request) {
            Ok(checked) => checked,
            Err(error) => {
                tracing::debug!(request_id, %error, "lease request refused");
                return refusal(request_id, error);
            }
        };
        let grants = tokio::time::timeout(DEADLINE, retry(|| self.decide(&node_id, &demands)));
        match grants.await {
            Ok(Ok(grants)) => LeaseResponse {
                request_id,
                grants: grants
                    .iter()
                    .zip(&demands)
                    .map(|(grant, demand)| self.grant(&demand.bucket, grant))
                    .collect(),
                error: String::new(),
            },
            Ok(Err(error)) => {
                tracing::error!(%error, node_id, request_id, "cannot decide lease request");
                refusal(request_id, "the quota store is unavailable".to_owned())
            }
            Err(_) => {
                tracing::error!(
                    node_id,
                    request_id,
                    deadline_ms = DEADLINE.as_millis() as u64,
                    "lease request timed out"
                );
                refusal(
                    request_id,
                    "the quota store did not answer in time".to_owned(),
                )
            }
        }
    }

    async fn decide(&self, node_id: &str, demands: &[Demand]) -> sqlx::Result<Vec<Grant>> {
        let mut tx = self.pool.begin().await?;
        let grants = quotas::lease(&mut tx, node_id, demands, self.ttl).await?;
        tx.commit().await?;
        Ok(grants)
    }

    fn grant(&self, bucket: &Bucket, grant: &Grant) -> LeaseGrant {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        LeaseGrant {
            bucket: Some(bucket.to_proto()),
            epoch: count(grant.epoch),
            granted: count(grant.granted),
            held: count(grant.held),
            used: count(grant.used),
            held_by_others: count(grant.held_by_others),
            limit: count(grant.limit),
            expires_in_ms: u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

fn refusal(request_id: u64, error: String) -> LeaseResponse {
    LeaseResponse {
        request_id,
        grants: Vec::new(),
        error,
    }
}

/// Checks a whole request before anything touches the database.
fn check(request: LeaseRequest) -> Result<(String, Vec<Demand>), String> {
    if request.node_id.is_empty() {
        return Err("node_id is empty".to_owned());
    }
    if request.demands.len() > MAX_DEMANDS {
        return Err(format!(
            "{} demands in one request; at most {MAX_DEMANDS}",
            request.demands.len()
        ));
    }
    let demands = request
        .demands
        .iter()
        .enumerate()
        .map(|(index, demand)| demand_of(demand).map_err(|e| format!("demands[{index}]: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((request.node_id, demands))
}

fn demand_of(raw: &LeaseDemand) -> Result<Demand, String> {
    let bucket = Bucket::parse(raw.bucket.as_ref()).map_err(|e| e.to_string())?;
    // Counters are BIGINT: anything larger is as good as unlimited.
    let amount = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(Demand {
        bucket,
        limit: amount(raw.limit),
        want: amount(raw.want),
        give_back: amount(raw.give_back),
        // An epoch past BIGINT was never handed out: it matches no lease.
        epoch: i64::try_from(raw.epoch).unwrap_or(-1),
    })
}

impl StreamingService<LeaseRequest> for LeaseRpc {
    type Response = LeaseResponse;
    type ResponseStream = ResponseStream;
    type Future = BoxFuture<Response<ResponseStream>, Status>;

    fn call(&mut self, request: tonic::Request<Streaming<LeaseRequest>>) -> Self::Future {
        let responses = serve(self.clone(), request.into_inner());
        Box::pin(async move { Ok(Response::new(responses)) })
    }
}

/// Reads requests until the stream ends, fails or the server shuts down, decides up to
/// [`CONCURRENCY`] at once and sends each answer as soon as it is ready. Requests already
/// read when shutdown comes are still answered.
fn serve(rpc: LeaseRpc, mut inbound: Streaming<LeaseRequest>) -> ResponseStream {
    let mut shutdown = rpc.shutdown.clone();
    let (requests_tx, requests_rx) = mpsc::channel::<LeaseRequest>(CONCURRENCY);
    tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                request = inbound.message() => request,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            match request {
                Ok(Some(request)) => {
                    if requests_tx.send(request).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    tracing::debug!(%status, "lease stream failed");
                    break;
                }
            }
        }
    });
    let (responses_tx, responses_rx) = mpsc::channel(CONCURRENCY);
    tokio::spawn(async move {
        let mut answers = ReceiverStream::new(requests_rx)
            .map(|request| rpc.clone().answer(request))
            .buffer_unordered(CONCURRENCY);
        while let Some(answer) = answers.next().await {
            if responses_tx.send(Ok(answer)).await.is_err() {
                break;
            }
        }
    });
    Box::pin(ReceiverStream::new(responses_rx))
}

#[cfg(test)]
mod tests {
    use policy_proto::v1::QuotaBucket;

    use super::*;

    fn demand(kind: &str) -> LeaseDemand {
        LeaseDemand {
            bucket: Some(QuotaBucket {
                org: "acme".into(),
                policy_id: "support".into(),
                subject_kind: kind.into(),
                subject: "alice".into(),
                metric: "requests".into(),
                // 2026-11-22T00:00:00Z
                window_start_unix: 1_795_305_600,
                window: "daily".into(),
            }),
            limit: u64::MAX,
            want: 10,
            give_back: 0,
            epoch: u64::MAX,
        }
    }

    #[test]
    fn a_request_is_checked_whole_and_errors_name_the_demand() {
        let request = |node_id: &str, demands| LeaseRequest {
            request_id: 7,
            node_id: node_id.into(),
            demands,
        };
        let (node, demands) = check(request("dp-1", vec![demand("user")])).unwrap();
        assert_eq!(node, "dp-1");
        assert_eq!(demands[0].limit, i64::MAX);
        assert_eq!(demands[0].epoch, -1);
        assert_eq!(
            check(request("", vec![demand("user")])).unwrap_err(),
            "node_id is empty"
        );
        let error = check(request("dp-1", vec![demand("user"), demand("team")])).unwrap_err();
        assert!(
            error.starts_with("demands[1]: bucket.subject_kind \"team\""),
            "{error}"
        );
        let mut missing = demand("user");
        missing.bucket = None;
        assert_eq!(
            check(request("dp-1", vec![missing])).unwrap_err(),
            "demands[0]: bucket is missing"
        );
        let many = vec![demand("user"); MAX_DEMANDS + 1];
        assert!(
            check(request("dp-1", many))
                .unwrap_err()
                .contains("at most")
        );
    }
}
