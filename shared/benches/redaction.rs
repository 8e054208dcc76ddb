//! Redaction throughput over ~64 KiB of LLM-style output with a few secrets (SPEC §12:
//! streaming redaction ≥ 200 MB/s per core). Measures the whole-text redactor and the
//! streaming one fed 32-byte chunks, the size of typical SSE deltas.
//!
//! Run: `cargo bench -p policy-engine --bench redaction`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use policy_engine::redact::{Redactor, StreamRedactor};

/// Paragraphs of the kind a chat model writes: prose, markdown, numbers, dates,
/// versions, code and a URL, with nothing that should be redacted.
const PARAGRAPHS: &[&str] = &[
    "Sure! Here is a summary of the incident and the steps we took to resolve it. The \
     deployment of version 2.14.7 on 2024-01-15 at 10:45 UTC introduced a regression in \
     the session cache, which caused roughly 3.2% of requests to fail for about 40 minutes.\n\n",
    "## What happened\n\n1. The new build rolled out to 25% of the fleet.\n2. Error rates rose \
     from 0.1% to 3.4% within five minutes.\n3. The on-call engineer rolled back to v2.14.6 \
     and the error rate returned to normal.\n\n",
    "```rust\nfn retry_delay(attempt: u32) -> Duration {\n    let base = 100u64 << attempt.min(6);\n    \
     Duration::from_millis(base + 17)\n}\n```\n\n",
    "| Region | Requests | Errors |\n|---|---|---|\n| eu-west-1 | 1,204,332 | 3,118 |\n| \
     us-east-1 | 2,918,004 | 9,402 |\n\nOrder #123456789 and ticket 48213 are linked to this \
     incident; see https://status.example.com/incidents/48213 for the timeline.\n\n",
    "In short, the fix is to invalidate the cache entries on schema changes, add a canary \
     stage that holds for 15 minutes, and alert when the error budget burn rate exceeds 2x \
     over a one-hour window. Flight AA 1234 was not affected, of course — that was a joke.\n\n",
    "Café owners in Zürich reported the same symptoms — naïve retries made it worse. \
     日本語のユーザーにも影響がありました。 We will follow up on Friday with the final report.\n\n",
];

/// Secrets sprinkled into the text, one every few KiB.
const SECRETS: &[&str] = &[
    "Contact the on-call lead at ops-team@corp.example.net or (212) 555-0147.\n\n",
    "The leaked key was sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9q, \
     revoked at once.\n\n",
    "Affected host 10.20.30.40 logged card 4012 8888 8888 1881 in plain text.\n\n",
    "Refund to GB82 WEST 1234 5698 7654 32 was approved; AWS key AKIAIOSFODNN7EXAMPLE \
     rotated.\n\n",
];

fn realistic_text(target: usize) -> String {
    let mut text = String::with_capacity(target + 1024);
    let mut k = 0;
    while text.len() < target {
        text.push_str(PARAGRAPHS[k % PARAGRAPHS.len()]);
        if k % 11 == 10 {
            text.push_str(SECRETS[(k / 11) % SECRETS.len()]);
        }
        k += 1;
    }
    text
}

/// Chunks of about `size` bytes, cut on character boundaries.
fn chunks(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = size.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        out.push(chunk);
        rest = tail;
    }
    out
}

fn stream_all(stream: &mut StreamRedactor<'_>, chunks: &[&str]) -> usize {
    let mut emitted = 0;
    for chunk in chunks {
        emitted += stream.push(black_box(chunk)).len();
    }
    emitted + stream.finish().len()
}

fn redaction(c: &mut Criterion) {
    let redactor = Redactor::new();
    let text = realistic_text(64 * 1024);
    let whole = redactor.redact(&text);
    assert!(whole.counts.total() >= 8, "{:?}", whole.counts);
    let pieces = chunks(&text, 32);
    assert_eq!(
        stream_all(&mut redactor.stream(), &pieces),
        whole.text.len()
    );

    let mut group = c.benchmark_group("redaction/64KiB");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("whole_text", |b| {
        b.iter(|| redactor.redact(black_box(&text)).counts.total())
    });
    group.bench_function("stream_32B_chunks", |b| {
        b.iter(|| stream_all(&mut redactor.stream(), &pieces))
    });
    group.finish();
}

criterion_group!(benches, redaction);
criterion_main!(benches);
