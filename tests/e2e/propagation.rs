//! Propagation (SPEC §5, §12): a key revoked and a policy saved through the REST API are
//! enforced by both data planes within 250 ms, measured from the API's answer to the
//! first answer that shows the new behaviour on each node.
//!
//! SPEC §12 sets the target as a p99 (over 10 nodes). Here 19 of 20 trials must be under
//! it and every trial under [`CEILING`]: on a two-core machine shared with compilers, one
//! trial in twenty can be starved of CPU (the control plane then logs a snapshot build of
//! 100+ ms that takes 2 ms otherwise), while a real regression (waiting for the periodic
//! resync, a reconnect) shows in every trial.

use std::time::{Duration, Instant};

use e2e_tests::{Http, PATHS, Stack, StackOptions, chat};
use serde_json::{Value, json};

use crate::common::percentile;

const TRIALS: usize = 20;
const TARGET: Duration = Duration::from_millis(250);
/// Trials that must meet [`TARGET`].
const WITHIN_TARGET: usize = TRIALS - 1;
/// No trial may take longer.
const CEILING: Duration = Duration::from_secs(1);
/// Pause between two probes of one node: the measurement's resolution.
const PROBE_EVERY: Duration = Duration::from_millis(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_and_policy_saves_reach_both_data_planes_within_250_ms() {
    // Alone on the machine, so that other tests' processes do not skew the timings.
    let stack = Stack::start(StackOptions {
        exclusive: true,
        ..StackOptions::default()
    })
    .await;
    let api = &stack.api;
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();

    // Keys created up front; each trial revokes one that both nodes accept.
    let mut keys = Vec::new();
    for n in 0..TRIALS {
        keys.push(
            api.create_project_key("support-bot", &format!("trial {n}"))
                .await,
        );
    }
    let allowed = chat("echo", "What is your refund policy?");
    for key in &keys {
        for node in &nodes {
            wait_until(node, &key.raw, &allowed, |r| r.status == 200).await;
        }
    }
    let mut revocations = Vec::new();
    for key in &keys {
        api.revoke_key(key).await;
        let answered = Instant::now();
        let mut worst = Duration::ZERO;
        for latency in futures::future::join_all(nodes.iter().map(|node| {
            let raw = key.raw.clone();
            let allowed = allowed.clone();
            async move { probe_until(node, &raw, &allowed, answered, |r| r.status == 401).await }
        }))
        .await
        {
            worst = worst.max(latency);
        }
        revocations.push(worst);
    }

    // A policy whose every save refuses a new term: the message naming it flips from
    // allow to refuse once the new revision is active.
    let mut policy = json!({
        "policy_id": "moving-target", "name": "Moving target",
        "rules": {"denylist": ["term-0"], "response_pattern": "refuse"},
        "refusal_replacement": {"mode": "refuse"}
    });
    api.save_policy(&policy).await;
    api.create_project("moving-bot", "moving-target").await;
    let key = api.create_project_key("moving-bot", "moving").await;
    for node in &nodes {
        wait_until(node, &key.raw, &chat("echo", "term-0"), refused).await;
    }
    let mut saves = Vec::new();
    for n in 1..=TRIALS {
        let term = format!("term-{n}");
        let message = chat("echo", &format!("about {term}"));
        for node in &nodes {
            let reply = node.chat(PATHS[0], Some(&key.raw), &message, &[]).await;
            assert_eq!(
                reply.header("x-policy-decision"),
                "allow",
                "{}",
                reply.text()
            );
        }
        policy["rules"]["denylist"] = json!([term]);
        let state = api.save_policy(&policy).await;
        let revision = state["revision"].as_i64().expect("revision").to_string();
        let answered = Instant::now();
        let mut worst = Duration::ZERO;
        for latency in futures::future::join_all(nodes.iter().map(|node| {
            let (raw, message, revision) = (key.raw.clone(), message.clone(), revision.clone());
            async move {
                probe_until(node, &raw, &message, answered, |r| {
                    refused(r) && r.header("x-policy-revision") == revision
                })
                .await
            }
        }))
        .await
        {
            worst = worst.max(latency);
        }
        saves.push(worst);
    }

    let report = |what: &str, samples: &[Duration]| {
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let line = format!(
            "{what}: {} trials, both nodes: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            ms.len(),
            percentile(&ms, 50.0),
            percentile(&ms, 90.0),
            percentile(&ms, 100.0)
        );
        eprintln!("propagation {line}");
        line
    };
    let lines = [
        report("key revocation", &revocations),
        report("policy save", &saves),
    ];
    for (samples, line) in [(&revocations, &lines[0]), (&saves, &lines[1])] {
        let within = samples.iter().filter(|d| **d < TARGET).count();
        assert!(
            within >= WITHIN_TARGET && samples.iter().all(|d| *d < CEILING),
            "{within} of {TRIALS} trials within {TARGET:?}: {line} ({samples:?})"
        );
    }
}

fn refused(reply: &e2e_tests::Reply) -> bool {
    reply.status == 200
        && reply
            .headers
            .get("x-policy-decision")
            .is_some_and(|v| v == "refuse")
}

/// Probes `node` until an answer satisfies `done`; returns the time from `since` until
/// that answer arrived (what a client sees, so slightly more than the node needed).
async fn probe_until(
    node: &Http,
    key: &str,
    body: &Value,
    since: Instant,
    done: impl Fn(&e2e_tests::Reply) -> bool,
) -> Duration {
    let give_up = since + Duration::from_secs(10);
    loop {
        let reply = node.chat(PATHS[0], Some(key), body, &[]).await;
        if done(&reply) {
            return since.elapsed();
        }
        assert!(
            Instant::now() < give_up,
            "{} never showed the change: {} {}",
            node.base(),
            reply.status,
            reply.text()
        );
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

async fn wait_until(
    node: &Http,
    key: &str,
    body: &Value,
    done: impl Fn(&e2e_tests::Reply) -> bool,
) {
    probe_until(node, key, body, Instant::now(), done).await;
}
