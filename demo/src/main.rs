//! `demo-upstream`: the quickstart's stand-in for an OpenAI-compatible model server (see
//! the library docs). Prints `listening on ADDR` once bound; stops on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "demo-upstream",
    about = "Canned OpenAI-compatible answers for the quickstart demo (not a model)"
)]
struct Args {
    /// Listen address (loopback only); port 0 picks a free one.
    #[arg(long, env = "DEMO_UPSTREAM_ADDR", default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("--addr must be a loopback address: this is a demo server");
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    println!("listening on {}", listener.local_addr()?);
    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models));
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await
        .context("serving")
}

async fn chat_completions(body: String) -> Response {
    let request: Value = match serde_json::from_str(&body) {
        Ok(request @ Value::Object(_)) => request,
        _ => {
            let error = json!({"error": {
                "message": "the body is not a JSON object",
                "type": "invalid_request_error", "param": null, "code": "invalid_json"
            }});
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        }
    };
    if request["stream"] == true {
        (
            [(header::CONTENT_TYPE, "text/event-stream")],
            demo_upstream::completion_events(&request, now()),
        )
            .into_response()
    } else {
        axum::Json(demo_upstream::completion(&request, now())).into_response()
    }
}

async fn models() -> axum::Json<Value> {
    axum::Json(demo_upstream::models(now()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
