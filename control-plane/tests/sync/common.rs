//! A sync server per test, a data-plane client, seed rows and polling helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use control_plane::sync::{self, Settings};
use policy_engine::{Category, CategorySet};
use policy_proto::v1::data_plane_sync_client::DataPlaneSyncClient;
use policy_proto::v1::{
    Ack, Hello, Nack, ProtocolVersion, Snapshot, SubscribeRequest, SubscribeResponse,
    subscribe_request, subscribe_response,
};
use sha2::{Digest as _, Sha256};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor as _, PgPool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Status, Streaming};
use uuid::Uuid;

pub const TOKEN: &str = "node-token-for-tests";
/// SPEC §12's propagation target, checked here as a generous functional bound.
pub const PROPAGATION: Duration = Duration::from_millis(250);
/// How long a "nothing more arrives" check waits.
pub const QUIET: Duration = Duration::from_millis(400);
pub const DEADLINE: Duration = Duration::from_secs(10);

pub type Client = DataPlaneSyncClient<Channel>;

/// A running sync server ("replica"); stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn start(pool: PgPool) -> Server {
        Server::start_with(pool, "replica-a", 50).await
    }

    pub async fn start_with(pool: PgPool, replica_id: &str, history_limit: u32) -> Server {
        Server::start_full(pool, replica_id, history_limit, Duration::from_secs(60)).await
    }

    /// A server whose quota leases last `lease_ttl`.
    pub async fn start_with_lease_ttl(pool: PgPool, lease_ttl: Duration) -> Server {
        Server::start_full(pool, "replica-a", 50, lease_ttl).await
    }

    async fn start_full(
        pool: PgPool,
        replica_id: &str,
        history_limit: u32,
        quota_lease_ttl: Duration,
    ) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let settings = Settings {
            node_token: TOKEN.to_owned(),
            replica_id: replica_id.to_owned(),
            hard_blocked: [Category::SexualMinors]
                .into_iter()
                .collect::<CategorySet>(),
            history_limit,
            quota_lease_ttl,
        };
        let task = tokio::spawn(sync::serve(listener, pool, settings, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub async fn client(&self) -> Client {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        DataPlaneSyncClient::new(channel).max_decoding_message_size(256 << 20)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A request carrying `authorization: Bearer <token>` when a token is given.
pub fn request<T>(body: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

pub fn hello(node_id: &str) -> Hello {
    Hello {
        node_id: node_id.to_owned(),
        region: "eu-west".to_owned(),
        software_version: "1.0.0".to_owned(),
        last_applied_version: 0,
        protocol_version: ProtocolVersion::ProtocolVersion1 as i32,
    }
}

/// One data plane's Subscribe stream.
pub struct Subscription {
    outbound: mpsc::Sender<SubscribeRequest>,
    pub inbound: Streaming<SubscribeResponse>,
}

impl Subscription {
    pub async fn open(client: &mut Client, hello: Hello) -> Result<Subscription, Status> {
        Subscription::open_with_token(client, hello, Some(TOKEN)).await
    }

    pub async fn open_with_token(
        client: &mut Client,
        hello: Hello,
        token: Option<&str>,
    ) -> Result<Subscription, Status> {
        Subscription::open_raw(client, subscribe_request::Message::Hello(hello), token).await
    }

    /// Opens the stream with `first` as its first message.
    pub async fn open_raw(
        client: &mut Client,
        first: subscribe_request::Message,
        token: Option<&str>,
    ) -> Result<Subscription, Status> {
        let (outbound, rx) = mpsc::channel(16);
        outbound
            .send(SubscribeRequest {
                message: Some(first),
            })
            .await
            .unwrap();
        let response = client
            .subscribe(request(ReceiverStream::new(rx), token))
            .await?;
        Ok(Subscription {
            outbound,
            inbound: response.into_inner(),
        })
    }

    /// The next snapshot, failing the test after `within`.
    pub async fn next_snapshot(&mut self, within: Duration) -> Snapshot {
        let message = tokio::time::timeout(within, self.inbound.message())
            .await
            .expect("no snapshot in time")
            .expect("stream failed")
            .expect("stream ended");
        match message.message {
            Some(subscribe_response::Message::Snapshot(snapshot)) => snapshot,
            None => panic!("empty SubscribeResponse"),
        }
    }

    /// Snapshots until one has at least `version`; returns it and how long that took.
    pub async fn wait_for_version(&mut self, version: i64) -> (Snapshot, Duration) {
        let started = Instant::now();
        loop {
            let snapshot = self.next_snapshot(DEADLINE).await;
            if snapshot.version >= version as u64 {
                return (snapshot, started.elapsed());
            }
        }
    }

    pub async fn ack(&self, version: u64) {
        let ack = subscribe_request::Message::Ack(Ack { version });
        self.send(ack).await;
    }

    pub async fn nack(&self, version: u64, error: &str) {
        let nack = subscribe_request::Message::Nack(Nack {
            version,
            error: error.to_owned(),
        });
        self.send(nack).await;
    }

    async fn send(&self, message: subscribe_request::Message) {
        self.outbound
            .send(SubscribeRequest {
                message: Some(message),
            })
            .await
            .unwrap();
    }
}

/// A second pool on the same database, as another replica would have.
pub async fn second_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap()
}

// === Postgres outages ===

/// A connection to the server's maintenance database, outside the database under test.
pub async fn admin(pool: &PgPool) -> PgPool {
    let options = (*pool.connect_options()).clone().database("postgres");
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

/// Refuses new connections to `database` (superusers included) and ends the open ones.
pub async fn take_down(admin: &PgPool, database: &str) {
    // Identifiers cannot be bound; format() with %I quotes it on the server side.
    let statement: String =
        sqlx::query_scalar("SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS false', $1::text)")
            .bind(database)
            .fetch_one(admin)
            .await
            .unwrap();
    admin.execute(statement.as_str()).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(database)
        .execute(admin)
        .await
        .unwrap();
}

pub async fn bring_back(admin: &PgPool, database: &str) {
    let statement: String =
        sqlx::query_scalar("SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS true', $1::text)")
            .bind(database)
            .fetch_one(admin)
            .await
            .unwrap();
    admin.execute(statement.as_str()).await.unwrap();
}

/// The name of the database `pool` connects to.
pub async fn database_name(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap()
}

// === seed rows (plain SQL, as the management API would leave them) ===

pub fn document(policy_id: &str, name: &str) -> String {
    serde_json::json!({ "policy_id": policy_id, "name": name, "rules": {} }).to_string()
}

/// A policy with revisions 1..=`revisions`; `stable` and `candidate` point into them.
pub async fn seed_policy(
    pool: &PgPool,
    org: &str,
    policy_id: &str,
    revisions: i64,
    stable: i64,
    candidate: Option<i64>,
) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO policies (org, policy_id, latest_revision, stable_revision, candidate_revision, \
                               rollout_state, updated_by) \
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 IS NULL THEN 'none' ELSE 'canary' END, 'seed')",
    )
    .bind(org)
    .bind(policy_id)
    .bind(revisions)
    .bind(stable)
    .bind(candidate)
    .execute(&mut *tx)
    .await
    .unwrap();
    for revision in 1..=revisions {
        insert_revision(&mut tx, org, policy_id, revision).await;
    }
    control_plane::db::config_version::bump(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

pub async fn insert_revision(
    conn: &mut sqlx::PgConnection,
    org: &str,
    policy_id: &str,
    revision: i64,
) {
    sqlx::query(
        "INSERT INTO policy_revisions (org, policy_id, revision, document, author) \
         VALUES ($1, $2, $3, $4::jsonb, 'seed')",
    )
    .bind(org)
    .bind(policy_id)
    .bind(revision)
    .bind(document(policy_id, &format!("{policy_id} r{revision}")))
    .execute(conn)
    .await
    .unwrap();
}

pub async fn seed_project(
    pool: &PgPool,
    org: &str,
    id: &str,
    suspended: bool,
    limits: (Option<i64>, Option<i64>),
) {
    sqlx::query(
        "INSERT INTO projects (org, id, name, status, policy_id, monthly_request_limit, monthly_token_limit) \
         VALUES ($1, $2, $3, $4, 'support', $5, $6)",
    )
    .bind(org)
    .bind(id)
    .bind(format!("Project {id}"))
    .bind(if suspended { "suspended" } else { "active" })
    .bind(limits.0)
    .bind(limits.1)
    .execute(pool)
    .await
    .unwrap();
}

/// A key; returns its id and hash. Not bumped: callers bump once after seeding.
pub async fn seed_key(
    pool: &PgPool,
    org: &str,
    project_id: Option<&str>,
    label: &str,
) -> (Uuid, Vec<u8>) {
    let id = Uuid::now_v7();
    let hash = Sha256::digest(format!("ak_{id}")).to_vec();
    sqlx::query(
        "INSERT INTO api_keys (id, org, key_hash, key_preview, label, project_id, created_by) \
         VALUES ($1, $2, $3, 'ak_xxxx…xxxx', $4, $5, 'seed')",
    )
    .bind(id)
    .bind(org)
    .bind(&hash)
    .bind(label)
    .bind(project_id)
    .execute(pool)
    .await
    .unwrap();
    (id, hash)
}

pub async fn bump(pool: &PgPool) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    let version = control_plane::db::config_version::bump(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    version
}

/// Polls `probe` until it returns `Some`, failing the test after `DEADLINE`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
