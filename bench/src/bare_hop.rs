//! A bare HTTP/1.1 pass-through proxy: every request is sent on to one upstream over a
//! pooled keep-alive client and the answer streamed back, with no parsing beyond HTTP
//! framing. It is the floor of any proxy hop (SPEC §12 quotes one measured on this
//! machine kind): the benchmark runs it in the same run as the data plane, so "half a
//! bare hop" can be checked under the same conditions.

use std::convert::Infallible;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, hyper::Error>;

/// Where requests go: `http://127.0.0.1:PORT` (loopback only).
#[derive(Debug, Clone)]
pub struct Upstream {
    authority: Authority,
    host: HeaderValue,
}

impl Upstream {
    pub fn parse(url: &str) -> anyhow::Result<Upstream> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("{url:?} is not a URL"))?;
        let authority = uri
            .authority()
            .cloned()
            .with_context(|| format!("{url:?} has no host"))?;
        let loopback = authority.host() == "localhost"
            || authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if uri.scheme() != Some(&Scheme::HTTP) || !loopback {
            bail!("{url:?}: the upstream must be http:// on a loopback address");
        }
        Ok(Upstream {
            host: HeaderValue::from_str(authority.as_str())?,
            authority,
        })
    }
}

/// Serves connections from `listener`, forwarding everything to `upstream`.
pub async fn serve(listener: TcpListener, upstream: Upstream) -> anyhow::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(512)
        .build(connector);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move { Ok::<_, Infallible>(forward(&client, &upstream, request).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    client: &Client<HttpConnector, Incoming>,
    upstream: &Upstream,
    request: Request<Incoming>,
) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let mut uri = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(upstream.authority.clone());
    if let Some(path) = parts.uri.path_and_query() {
        uri = uri.path_and_query(path.clone());
    } else {
        uri = uri.path_and_query(PathAndQuery::from_static("/"));
    }
    parts.uri = match uri.build() {
        Ok(uri) => uri,
        Err(_) => return bad_gateway(),
    };
    parts.headers.insert(HOST, upstream.host.clone());
    match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(|body| body.boxed()),
        Err(_) => bad_gateway(),
    }
}

fn bad_gateway() -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(b"bad gateway"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}
