//! SPEC §12: evaluation of a 4 KiB message against 10,000-term allow and deny lists
//! (target ≤ 5 µs), through the same entry point the data plane calls.

// Test and benchmark harness code: a failed fixture should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use policy_engine::{
    Category, CategorySet, CompiledPolicy, DecisionInput, Moderation, PolicyRevisions,
    RolloutRequest,
};
use serde_json::json;

const WORDS: &[&str] = &[
    "account",
    "billing",
    "refund",
    "order",
    "shipping",
    "invoice",
    "password",
    "login",
    "upgrade",
    "plan",
    "support",
    "ticket",
    "delivery",
    "warranty",
    "return",
    "exchange",
    "credit",
    "policy",
    "status",
    "update",
    "priority",
    "customer",
    "agent",
    "escalation",
    "renewal",
    "contract",
];

/// Deterministic pseudo-random terms of two or three words, distinct by construction.
fn terms(prefix: &str, count: usize) -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = WORDS[(state >> 33) as usize % WORDS.len()];
            let b = WORDS[(state >> 45) as usize % WORDS.len()];
            format!("{prefix}{i} {a} {b}")
        })
        .collect()
}

/// About 4 KiB of support-chat prose with one allowlisted term near the end.
fn message() -> String {
    let sentence = "Hello, I placed an order last week and the delivery status still says pending. \
                    Could you check whether the shipping address on my account is correct? ";
    let mut text = String::new();
    while text.len() < 4096 - 64 {
        text.push_str(sentence);
    }
    text.push_str("Also, what does allow17 ");
    text.truncate(4096);
    text
}

fn policy(allow: &[String], deny: &[String]) -> Arc<CompiledPolicy> {
    let doc = json!({
        "policy_id": "bench", "name": "Bench",
        "rules": {"allowlist": allow, "denylist": deny, "redact": true,
                  "flagged_categories": ["self-harm", "violence/graphic"], "response_pattern": "rewrite"}
    });
    Arc::new(CompiledPolicy::from_json(&doc, 1).expect("bench policy compiles"))
}

fn evaluation(c: &mut Criterion) {
    let allow = terms("allow", 10_000);
    let deny = terms("deny", 10_000);
    let text = message();
    let revisions = PolicyRevisions::stable(policy(&allow, &deny));
    let hard_blocked: CategorySet = [Category::SexualMinors].into_iter().collect();
    let request = RolloutRequest {
        sample_key: "user-1",
        target: Some("support-bot"),
    };

    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("4KiB message, 10k allow + 10k deny terms", |b| {
        b.iter(|| {
            let input = DecisionInput {
                text: black_box(&text),
                moderation: Moderation::Labels(CategorySet::EMPTY),
                hard_blocked,
            };
            black_box(revisions.evaluate(&request, &input))
        })
    });
    let non_ascii = text.replacen("Hello", "Grüße", 8);
    group.bench_function("4KiB non-ASCII message, 10k allow + 10k deny terms", |b| {
        b.iter(|| {
            let input = DecisionInput {
                text: black_box(&non_ascii),
                moderation: Moderation::Labels(CategorySet::EMPTY),
                hard_blocked,
            };
            black_box(revisions.evaluate(&request, &input))
        })
    });
    group.finish();

    let matcher = policy_engine::matcher::TermMatcher::new(&allow, &deny).expect("terms compile");
    c.bench_function("parts/normalize 4KiB", |b| {
        b.iter(|| black_box(policy_engine::matcher::normalize_term(black_box(&text))))
    });
    c.bench_function("parts/match 4KiB against 20k terms", |b| {
        b.iter(|| black_box(matcher.find(black_box(&text))))
    });

    c.bench_function("compile 10k allow + 10k deny terms", |b| {
        b.iter(|| black_box(policy(&allow, &deny)))
    });
}

criterion_group!(benches, evaluation);
criterion_main!(benches);
