//! HTTP/1.1 keep-alive connections for the load generator: one hyper connection per
//! in-flight request, reused for the next, and the check applied to every answer.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A keep-alive connection to the target.
pub type Conn = SendRequest<Full<Bytes>>;

/// Opens a connection (no Nagle delay) and drives it on the runtime.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// What every answer must look like to count as a success.
#[derive(Debug, Clone)]
pub struct Check {
    pub status: StatusCode,
    /// `name: value` that every answer must carry (e.g. `x-policy-decision: allow`).
    pub header: Option<(HeaderName, HeaderValue)>,
}

impl Check {
    /// `spec` is `name=value` or `name: value`.
    pub fn new(status: u16, header: Option<&str>) -> anyhow::Result<Check> {
        let header = header
            .map(|spec| -> anyhow::Result<_> {
                let (name, value) = spec
                    .split_once('=')
                    .or_else(|| spec.split_once(':'))
                    .with_context(|| format!("expected header {spec:?} is not name=value"))?;
                Ok((
                    HeaderName::from_bytes(name.trim().as_bytes())?,
                    HeaderValue::from_str(value.trim())?,
                ))
            })
            .transpose()?;
        Ok(Check {
            status: StatusCode::from_u16(status)?,
            header,
        })
    }
}

/// How one exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// An answer that failed the [`Check`]: the connection stays usable.
    Unexpected,
    /// No (whole) answer: the connection is dropped.
    Failed,
    TimedOut,
}

/// Sends `request` on `conn`, reads the whole body and checks the answer.
pub async fn exchange(
    conn: &mut Conn,
    request: Request<Full<Bytes>>,
    check: &Check,
    timeout: Duration,
) -> Outcome {
    let work = async {
        if conn.ready().await.is_err() {
            return Outcome::Failed;
        }
        let response = match conn.send_request(request).await {
            Ok(response) => response,
            Err(_) => return Outcome::Failed,
        };
        let expected = response.status() == check.status
            && check
                .header
                .as_ref()
                .is_none_or(|(name, value)| response.headers().get(name) == Some(value));
        match response.into_body().collect().await {
            Ok(_) if expected => Outcome::Ok,
            Ok(_) => Outcome::Unexpected,
            Err(_) => Outcome::Failed,
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Outcome::TimedOut)
}
