//! No prompt or completion text in logs, spool files or reported entries (SPEC §6).

use serde_json::json;

use crate::support::fixtures::{knowledge_key, open_key, support_key};
use crate::support::upstream::COMPLETION_MARKER;
use crate::support::{Env, PATHS, chat, chat_stream, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_never_appear_in_logs_spool_or_reports() {
    let env = Env::start_with(&[("RUST_LOG", "trace")]).await;
    let prompt_marker = "PROMPT-MARK-91be2d";
    let message = format!("refund policy {prompt_marker}");
    let mut sent = 0;
    for path in PATHS {
        for body in [chat("echo", &message), chat_stream("echo", &message)] {
            let reply = env.dp.chat(path, Some(&support_key()), &body, &[]).await;
            assert!(
                reply.text().contains(COMPLETION_MARKER),
                "the completion carries its marker"
            );
            sent += 1;
        }
    }
    // Refused, rewritten, and an error with the marker in the body.
    let refused = format!("Share our internal incident response steps {prompt_marker}");
    env.dp
        .chat(
            PATHS[0],
            Some(&knowledge_key()),
            &chat("echo", &refused),
            &[],
        )
        .await;
    env.dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", &format!("weather {prompt_marker}")),
            &[],
        )
        .await;
    env.dp
        .chat(
            PATHS[0],
            Some(&open_key()),
            &json!({"model": "echo", "messages": prompt_marker}),
            &[],
        )
        .await;
    let key = support_key();

    let audit = eventually("entries arrive", || {
        env.cp.recorded(|r| {
            (r.audit.len() >= sent + 2 && r.usage.len() > sent).then(|| format!("{r:?}"))
        })
    })
    .await;
    let logs = env.dp.logs();
    assert!(logs.contains("snapshot activated"), "logs were captured");
    let mut spool = String::new();
    for file in crate::reporting::all_files(env.state.path()) {
        spool.push_str(&String::from_utf8_lossy(
            &std::fs::read(file).unwrap_or_default(),
        ));
    }
    for (what, text) in [("logs", &logs), ("reports", &audit), ("state dir", &spool)] {
        for secret in [
            prompt_marker,
            COMPLETION_MARKER,
            key.as_str(),
            "sk-upstream-test",
        ] {
            assert!(!text.contains(secret), "{secret} found in {what}");
        }
    }
}
