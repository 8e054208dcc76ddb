//! What the load generator sends, and where. Only loopback addresses are accepted: the
//! benchmark never sends traffic off this machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;

/// One request, built once and cloned for every send.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    method: Method,
    path: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Target {
    /// `url` must be `http://` on 127.0.0.0/8, `localhost` or `[::1]`; `headers` are
    /// `Name: value` lines; with a body the method is POST, else GET.
    pub fn new(url: &str, headers: &[String], body: Option<Bytes>) -> anyhow::Result<Target> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("{url:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("{url:?}: only http:// targets are supported");
        }
        let host = uri.host().unwrap_or_default();
        let ip = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            other => other
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .with_context(|| format!("{url:?}: the host must be a loopback address"))?,
        };
        if !ip.is_loopback() {
            bail!("{url:?}: only loopback targets (127.0.0.0/8, localhost, [::1]) are allowed");
        }
        let addr = SocketAddr::new(ip, uri.port_u16().unwrap_or(80));
        let path: Uri = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .context("bad path")?;
        let mut parsed = vec![(
            HOST,
            HeaderValue::from_str(&addr.to_string()).context("bad host")?,
        )];
        for line in headers {
            let (name, value) = line
                .split_once(':')
                .with_context(|| format!("header {line:?} is not `Name: value`"))?;
            parsed.push((
                HeaderName::from_bytes(name.trim().as_bytes())
                    .with_context(|| format!("bad header name in {line:?}"))?,
                HeaderValue::from_str(value.trim())
                    .with_context(|| format!("bad header value in {line:?}"))?,
            ));
        }
        let method = if body.is_some() {
            if !parsed.iter().any(|(n, _)| n == CONTENT_TYPE) {
                parsed.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
            }
            Method::POST
        } else {
            Method::GET
        };
        let body = body.unwrap_or_default();
        parsed.push((CONTENT_LENGTH, HeaderValue::from(body.len())));
        Ok(Target {
            addr,
            method,
            path,
            headers: parsed,
            body,
        })
    }

    /// A fresh request (origin-form URI, for a connection to `addr`).
    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.path.clone();
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(Target::new("http://127.0.0.1:8090/v1/chat/completions", &[], None).is_ok());
        assert!(Target::new("http://localhost:9/x", &[], None).is_ok());
        assert!(Target::new("http://[::1]:9/x", &[], None).is_ok());
        assert!(Target::new("http://10.0.0.1:80/", &[], None).is_err());
        assert!(Target::new("http://example.com/", &[], None).is_err());
        assert!(Target::new("https://127.0.0.1/", &[], None).is_err());
    }

    #[test]
    fn headers_and_body_shape_the_request() {
        let target = Target::new(
            "http://127.0.0.1:9/v1/chat/completions?x=1",
            &["Authorization: Bearer ak_test".to_string()],
            Some(Bytes::from_static(b"{}")),
        )
        .unwrap();
        let request = target.request();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/v1/chat/completions?x=1");
        assert_eq!(request.headers()["authorization"], "Bearer ak_test");
        assert_eq!(request.headers()["host"], "127.0.0.1:9");
        assert_eq!(request.headers()["content-length"], "2");
        assert!(Target::new("http://127.0.0.1:9/", &["nocolon".into()], None).is_err());
    }
}
