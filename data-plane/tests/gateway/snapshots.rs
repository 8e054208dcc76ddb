//! Snapshot swaps, NACKs, and serving from the disk cache (SPEC §0, §8).

use policy_engine::keys::hash_key;

use crate::support::fixtures::{self, support_key};
use crate::support::{DataPlane, Env, PATHS, chat, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_is_swapped_in_and_acked() {
    let env = Env::start().await;
    eventually("version 1 is acked", || {
        env.cp.recorded(|r| r.acks.contains(&1).then_some(()))
    })
    .await;
    let hello = env.cp.recorded(|r| r.hellos[0].clone());
    assert_eq!(hello.node_id, "test-node");
    assert_eq!(hello.last_applied_version, 0);
    let body = chat("echo", "refund policy");
    assert_eq!(
        env.dp
            .chat(PATHS[0], Some(&support_key()), &body, &[])
            .await
            .status,
        200
    );

    // Revoke the support key.
    let mut next = fixtures::snapshot(2);
    next.keys.retain(|k| k.key_id != "key-support");
    env.cp.publish(next);
    eventually("version 2 is acked", || {
        env.cp.recorded(|r| r.acks.contains(&2).then_some(()))
    })
    .await;
    assert_eq!(
        env.dp
            .chat(PATHS[0], Some(&support_key()), &body, &[])
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_document_is_nacked_and_the_old_snapshot_kept() {
    let env = Env::start().await;
    eventually("version 1 is acked", || {
        env.cp.recorded(|r| r.acks.contains(&1).then_some(()))
    })
    .await;
    let mut bad = fixtures::snapshot(2);
    bad.keys.clear();
    bad.policies[0].stable.as_mut().unwrap().document_json =
        r#"{"policy_id": "policy-gateway", "name": "x", "rules": {"response_pattern": "shout"}}"#
            .into();
    env.cp.publish(bad);
    let (version, error) = eventually("version 2 is nacked", || {
        env.cp.recorded(|r| r.nacks.first().cloned())
    })
    .await;
    assert_eq!(version, 2);
    assert!(error.contains("/rules/response_pattern"), "{error}");
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200, "the key of version 1 still works");
    assert!(
        env.dp
            .get("/metrics")
            .await
            .text()
            .contains("dp_snapshot_nacks_total 1")
    );
    assert!(env.cp.recorded(|r| !r.acks.contains(&2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_serves_its_cached_snapshot_while_the_cp_is_down() {
    let env = Env::start().await;
    eventually("version 1 is acked", || {
        env.cp.recorded(|r| r.acks.contains(&1).then_some(()))
    })
    .await;
    let Env {
        mut cp,
        upstream,
        dp,
        state,
    } = env;
    cp.stop().await;
    dp.terminate().await;
    let dp = DataPlane::start(&cp.url(), &upstream.base_url(), state.path(), &[]).await;
    dp.wait_ready().await;
    let reply = dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(dp.logs().contains("serving the cached snapshot"));

    // When the CP comes back the node says which version it runs.
    cp.restart().await;
    eventually("the node says hello again", || {
        cp.recorded(|r| {
            r.hellos
                .iter()
                .any(|h| h.last_applied_version == 1)
                .then_some(())
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_grpcs_default_message_limit_is_applied() {
    let env = Env::start().await;
    eventually("version 1 is acked", || {
        env.cp.recorded(|r| r.acks.contains(&1).then_some(()))
    })
    .await;
    // 40,000 extra keys encode to well over tonic's default 4 MiB decoding limit; a
    // fleet's snapshot at the SPEC §12 scale (100,000 keys) is about 12 MiB.
    let mut big = fixtures::snapshot(2);
    let template = big.keys[0].clone();
    for n in 0..40_000u32 {
        let mut key = template.clone();
        key.key_id = format!("bulk-key-{n:05}-{}", "x".repeat(24));
        key.label = format!("bulk key number {n} for the size test");
        // Real digests, as the control plane sends them.
        key.key_hash = hash_key(&format!("ak_bulk_{n}")).to_vec();
        big.keys.push(key);
    }
    assert!(prost::Message::encoded_len(&big) > 4 * 1024 * 1024);
    env.cp.publish(big);
    eventually("version 2 is acked", || {
        env.cp.recorded(|r| r.acks.contains(&2).then_some(()))
    })
    .await;
    let body = chat("echo", "refund policy");
    let reply = env
        .dp
        .chat(PATHS[0], Some(&support_key()), &body, &[])
        .await;
    assert_eq!(reply.status, 200);
}
