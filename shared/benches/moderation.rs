//! The `builtin` moderation classifier on a 4 KiB message (SPEC §12: whole-policy
//! evaluation of a 4 KiB message within 5 µs, so classification must be well under that).
//!
//! Run: `cargo bench -p policy-engine --bench moderation`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use policy_engine::moderation::Lexicon;

/// Ordinary support, travel and HR prose: mixed case, punctuation, line breaks, and a few
/// typographic quotes, as pasted from a mail client.
const PROSE: &str = "Hello team,\n\nI'm writing about booking REF-88412 for next Thursday. The \
flight from Lisbon to Berlin was delayed by three hours and I lost my connection, so the hotel \
charged me for an extra night. Could you please check whether the refund policy covers this? \
I already contacted the airline and they said the travel agency should handle it. Also, our \
HR portal still shows my old address — how do I update it? My manager asked me to submit the \
expense report by Friday, and the finance team needs the receipts as PDF files.\n\nOn another \
note, the staging deployment failed again overnight: the worker process hung after the database \
migration, the on-call engineer restarted the service and the health checks went green. We’d \
like a short post-incident summary for the customer, in plain language, plus a list of the \
follow-up tickets with owners and due dates. Thanks a lot for your help, and sorry for the long \
message!\n\n";

fn message_of_4_kib(tail: &str) -> String {
    let mut text = String::with_capacity(4096);
    while text.len() + PROSE.len() + tail.len() <= 4096 {
        text.push_str(PROSE);
    }
    let filler = 4096 - text.len() - tail.len();
    text.push_str(&PROSE[..PROSE.floor_char_boundary(filler)]);
    text.push_str(tail);
    text
}

fn classify(c: &mut Criterion) {
    let lexicon = Lexicon::builtin();
    let clean = message_of_4_kib("");
    let hit = message_of_4_kib(" Honestly I want to kill myself.");
    let idioms = message_of_4_kib(
        " Kill the process, shoot me an email, the deal is a steal, this commute is killing me.",
    );
    assert!(lexicon.classify(&clean).is_empty());
    assert!(!lexicon.classify(&hit).is_empty());
    assert!(lexicon.classify(&idioms).is_empty());

    let mut group = c.benchmark_group("moderation/builtin");
    for (name, text) in [
        ("4KiB_clean", &clean),
        ("4KiB_one_hit", &hit),
        ("4KiB_idioms", &idioms),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| lexicon.classify(black_box(text))));
    }
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
