//! A 413 must say `Connection: close`: the node does not read the rest of the oversized
//! body, so a keep-alive client that reused the connection would fail its next request.

use e2e_tests::{Stack, StackOptions, chat};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_says_the_connection_closes() {
    let stack = Stack::start(
        StackOptions {
            data_planes: 1,
            ..StackOptions::default()
        }
        .dp_env("MAX_BODY_BYTES", "65536"),
    )
    .await;
    let key = stack.key("support-bot");
    let big = chat("echo", &"refund policy ".repeat(6000)).to_string();
    let request = |body: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n\
             authorization: Bearer {key}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut connection = tokio::net::TcpStream::connect(stack.dps[0].addr)
        .await
        .expect("connect");
    connection
        .write_all(request(&big).as_bytes())
        .await
        .expect("send");
    let mut answer = vec![0u8; 8192];
    let n = connection.read(&mut answer).await.expect("the 413");
    let head = String::from_utf8_lossy(&answer[..n]).to_lowercase();
    assert!(head.starts_with("http/1.1 413"), "{head}");
    if head.contains("\r\nconnection: close\r\n") {
        return;
    }
    // Not announced as closing: then the connection must still serve a request.
    let small = chat("echo", "What is your refund policy?").to_string();
    let sent = connection.write_all(request(&small).as_bytes()).await;
    let n = connection.read(&mut answer).await.unwrap_or(0);
    assert!(
        sent.is_ok() && String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"),
        "the 413 did not say `connection: close`, yet the connection was closed:\n{head}"
    );
}
