//! The benchmark's pieces against each other on loopback: both load modes reach the fake
//! upstream directly and through the bare hop, every answer passes the check, and runs
//! stop by themselves.

// A test crate: a failed unwrap is a failed test (allow-*-in-tests does not reach helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bench::client::Check;
use bench::fixed::{self, Plan};
use bench::target::Target;
use bench::{bare_hop, saturate, upstream};
use bytes::Bytes;
use tokio::net::TcpListener;

async fn start_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(upstream::serve(listener, upstream::Answers::new()));
    format!("http://{addr}")
}

async fn start_hop(upstream: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = bare_hop::Upstream::parse(upstream).unwrap();
    tokio::spawn(bare_hop::serve(listener, upstream));
    format!("http://{addr}")
}

fn chat(base: &str) -> Target {
    Target::new(
        &format!("{base}/v1/chat/completions"),
        &["Authorization: Bearer ak_test".to_string()],
        Some(Bytes::from_static(
            br#"{"model":"gpt-4o-mini","messages":[]}"#,
        )),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_and_saturation_direct_and_through_the_hop() {
    let direct = start_upstream().await;
    let hop = start_hop(&direct).await;
    let check = Check::new(200, Some("content-type=application/json")).unwrap();
    for base in [&direct, &hop] {
        let plan = Plan {
            rate: 200.0,
            duration: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
            max_connections: 8,
        };
        let (recorder, elapsed) = fixed::run(chat(base), check.clone(), &plan).await.unwrap();
        assert_eq!((recorder.ok, recorder.errors()), (100, 0), "{base}");
        assert!(elapsed >= Duration::from_millis(495), "{elapsed:?}");
        assert_eq!(recorder.service.len(), 100);

        let (recorder, elapsed) = saturate::run(
            chat(base),
            check.clone(),
            2,
            Duration::from_millis(300),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        assert!(recorder.ok > 10, "{base}: {}", recorder.ok);
        assert_eq!(recorder.errors(), 0);
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }
}

#[tokio::test]
async fn unexpected_answers_are_counted() {
    let direct = start_upstream().await;
    let unknown = Target::new(&format!("{direct}/nope"), &[], None).unwrap();
    let check = Check::new(200, None).unwrap();
    let (recorder, _) = saturate::run(
        unknown,
        check,
        1,
        Duration::from_millis(100),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(recorder.ok, 0);
    assert!(recorder.unexpected > 0);
}
