//! The `demo-upstream` binary over the wire: it prints its address, answers whole and
//! streamed chat completions and the model list, and refuses a non-loopback address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo-upstream"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start demo-upstream");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    /// One HTTP/1.1 exchange; returns the status line and the body.
    fn send(&self, method: &str, path: &str, body: &str) -> (String, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn answers_whole_and_streamed_completions_and_models() {
    let server = Server::start();
    let (status, body) = server.send(
        "POST",
        "/v1/chat/completions",
        r#"{"model":"m","messages":[{"role":"user","content":"How do I reach on-call?"}]}"#,
    );
    assert!(status.contains(" 200 "), "{status}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        demo_upstream::CONTACT
    );

    let (status, body) = server.send(
        "POST",
        "/v1/chat/completions",
        r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("data: [DONE]"), "{body}");

    let (status, body) = server.send("GET", "/v1/models", "");
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("demo-model"), "{body}");

    let (status, _) = server.send("POST", "/v1/chat/completions", "not json");
    assert!(status.contains(" 400 "), "{status}");
}

#[test]
fn refuses_to_listen_beyond_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo-upstream"))
        .args(["--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("loopback"),
        "{output:?}"
    );
}
