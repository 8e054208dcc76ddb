//! A data plane's side of the Lease stream and its usage charges, for the quota tests.

use policy_engine::Window;
use policy_proto::v1::{
    BatchAck, LeaseDemand, LeaseGrant, LeaseRequest, LeaseResponse, QuotaBucket, QuotaCharge,
    UsageBatch, UsageRecord,
};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use uuid::Uuid;

use crate::common::{Client, DEADLINE, TOKEN, request};

pub const ORG: &str = "acme";
pub const POLICY: &str = "support";

/// The start of the current UTC window.
pub fn window_start(window: Window) -> i64 {
    window
        .bounds(OffsetDateTime::now_utc().unix_timestamp())
        .unwrap()
        .start
}

/// A bucket of the current window: `kind` "user" is daily, the others monthly.
pub fn bucket(kind: &str, subject: &str, metric: &str) -> QuotaBucket {
    let window = if kind == "user" {
        Window::Daily
    } else {
        Window::Monthly
    };
    QuotaBucket {
        org: ORG.into(),
        policy_id: if kind == "project_record" {
            String::new()
        } else {
            POLICY.into()
        },
        subject_kind: kind.into(),
        subject: subject.into(),
        metric: metric.into(),
        window_start_unix: window_start(window),
        window: window.name().into(),
    }
}

pub fn demand(bucket: &QuotaBucket, limit: u64, want: u64) -> LeaseDemand {
    LeaseDemand {
        bucket: Some(bucket.clone()),
        limit,
        want,
        give_back: 0,
        epoch: 0,
    }
}

/// One node's Lease stream.
pub struct LeaseStream {
    pub node_id: String,
    outbound: mpsc::Sender<LeaseRequest>,
    inbound: Streaming<LeaseResponse>,
    next_id: u64,
}

impl LeaseStream {
    pub async fn open(client: &mut Client, node_id: &str) -> Result<LeaseStream, Status> {
        LeaseStream::open_with_token(client, node_id, Some(TOKEN)).await
    }

    pub async fn open_with_token(
        client: &mut Client,
        node_id: &str,
        token: Option<&str>,
    ) -> Result<LeaseStream, Status> {
        let (outbound, rx) = mpsc::channel(16);
        let inbound = client
            .lease(request(ReceiverStream::new(rx), token))
            .await?
            .into_inner();
        Ok(LeaseStream {
            node_id: node_id.to_owned(),
            outbound,
            inbound,
            next_id: 1,
        })
    }

    /// Sends one request and waits for its answer (one request in flight at a time).
    pub async fn ask(&mut self, demands: Vec<LeaseDemand>) -> LeaseResponse {
        let request_id = self.next_id;
        self.next_id += 1;
        self.outbound
            .send(LeaseRequest {
                request_id,
                node_id: self.node_id.clone(),
                demands,
            })
            .await
            .unwrap();
        let response = tokio::time::timeout(DEADLINE, self.inbound.message())
            .await
            .expect("no lease response in time")
            .expect("lease stream failed")
            .expect("lease stream ended");
        assert_eq!(response.request_id, request_id);
        response
    }

    /// The one grant of a one-demand request, failing the test on an error answer.
    pub async fn grant(&mut self, demand: LeaseDemand) -> LeaseGrant {
        let response = self.ask(vec![demand]).await;
        assert_eq!(response.error, "", "unexpected error answer");
        assert_eq!(response.grants.len(), 1);
        response.grants.into_iter().next().unwrap()
    }
}

pub fn charge(bucket: &QuotaBucket, amount: u64, epoch: u64) -> QuotaCharge {
    QuotaCharge {
        bucket: Some(bucket.clone()),
        amount,
        epoch,
    }
}

/// A usage record of `node_id` carrying `charges`.
pub fn record(node_id: &str, charges: Vec<QuotaCharge>) -> UsageRecord {
    UsageRecord {
        id: Uuid::now_v7().to_string(),
        created_at_unix_ms: OffsetDateTime::now_utc().unix_timestamp() * 1000,
        org: ORG.into(),
        node_id: node_id.into(),
        project_id: "bot".into(),
        key_id: Uuid::now_v7().to_string(),
        policy_id: POLICY.into(),
        model: "gpt-4o-mini".into(),
        prompt_tokens: 10,
        completion_tokens: 20,
        quota_subject: "alice".into(),
        charges,
    }
}

/// Sends `batch` on a fresh ReportUsage stream and waits for its ACK.
pub async fn report(client: &mut Client, batch: UsageBatch) -> Result<BatchAck, Status> {
    let mut acks = client
        .report_usage(request(tokio_stream::iter([batch]), Some(TOKEN)))
        .await?
        .into_inner();
    let ack = tokio::time::timeout(DEADLINE, acks.message())
        .await
        .expect("no ack in time")?;
    ack.ok_or_else(|| Status::aborted("the usage stream ended without an ack"))
}
