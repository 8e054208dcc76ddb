//! Two control-plane processes on one database (SPEC §0, §8): a key revoked and a policy
//! saved through one replica reach a data plane subscribed to the other, through
//! LISTEN/NOTIFY rather than the periodic resync.

use std::time::{Duration, Instant};

use e2e_tests::{ControlPlane, DataPlane, PATHS, Stack, StackOptions, chat};
use serde_json::json;

/// Well under the periodic resync, so only the cross-replica notification can explain it.
const WITHIN: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_saved_through_one_replica_reach_data_planes_of_the_other() {
    let stack = Stack::start(StackOptions {
        data_planes: 1,
        ..StackOptions::default()
    })
    .await;
    let replica_dir = stack.dir().join("replica-b");
    std::fs::create_dir_all(&replica_dir).expect("replica log directory");
    let replica_b = ControlPlane::start(&stack.db.url, &replica_dir, &[]).await;

    let mut config = stack.dp_config("dp-on-replica-b");
    config.control_plane = replica_b.grpc_url();
    let node = DataPlane::start(config).await;
    node.wait_ready().await;
    let http = node.http();
    let key = stack.key("support-bot").to_owned();
    let allowed = http
        .chat(PATHS[0], Some(&key), &chat("echo", "refund policy"), &[])
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());

    // A policy save through replica A changes decisions on the node of replica B.
    let mut policy: serde_json::Value =
        serde_json::from_str(e2e_tests::stack::SUPPORT_POLICY).expect("seed policy");
    policy["rules"]["denylist"] = json!(["illegal instructions", "refund policy"]);
    stack.api.save_policy(&policy).await;
    let started = Instant::now();
    loop {
        let reply = http
            .chat(PATHS[0], Some(&key), &chat("echo", "refund policy"), &[])
            .await;
        if reply.header("x-policy-decision") == "rewrite" {
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "the save made through replica A did not reach replica B's node"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A key revoked through replica A is refused by the node of replica B.
    stack.api.revoke_key(&stack.keys["support-bot"]).await;
    let started = Instant::now();
    loop {
        let reply = http
            .chat(PATHS[0], Some(&key), &chat("echo", "refund policy"), &[])
            .await;
        if reply.status == 401 {
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "the revocation made through replica A did not reach replica B's node"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
