//! Node-token authentication for every sync RPC (SPEC §8): snapshots carry API-key hashes,
//! so a peer without the token gets UNAUTHENTICATED and nothing else.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// A tonic interceptor comparing `authorization: Bearer <token>` with the configured token.
#[derive(Clone)]
pub struct NodeAuth {
    /// SHA-256 of the expected token. Comparing fixed-length digests in constant time leaks
    /// neither the token's bytes nor its length through timing.
    expected: Arc<[u8; 32]>,
}

impl NodeAuth {
    pub fn new(token: &str) -> Self {
        Self {
            expected: Arc::new(digest(token.as_bytes())),
        }
    }

    fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(token) = header.and_then(|value| value.strip_prefix(b"Bearer ")) else {
            return false;
        };
        digest(token).ct_eq(&*self.expected).into()
    }
}

impl std::fmt::Debug for NodeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeAuth(*****)")
    }
}

impl Interceptor for NodeAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|value| value.as_bytes());
        if self.accepts(header) {
            Ok(request)
        } else {
            // One message for missing and wrong tokens: nothing to learn from the difference.
            tracing::debug!("sync call refused: missing or wrong node token");
            Err(Status::unauthenticated("missing or invalid node token"))
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_bearer_token() {
        let auth = NodeAuth::new("s3cret");
        assert!(auth.accepts(Some(b"Bearer s3cret")));
        assert!(!auth.accepts(None));
        assert!(!auth.accepts(Some(b"s3cret")));
        assert!(!auth.accepts(Some(b"Bearer s3cret ")));
        assert!(!auth.accepts(Some(b"Bearer s3cre")));
        assert!(!auth.accepts(Some(b"bearer s3cret")));
        assert!(!auth.accepts(Some(b"Bearer ")));
    }
}
