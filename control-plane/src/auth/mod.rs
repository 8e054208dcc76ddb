//! Management API authentication and roles (SPEC §7).
//!
//! Callers present `Authorization: Bearer <JWT>`. The token's `org` claim scopes every row
//! it can see, `sub` is recorded as the author of changes, and `role` decides what it may
//! do: viewers read, editors also change policies and simulate, admins also manage projects,
//! keys and see the fleet.

mod verifier;

pub use verifier::{JwtSettings, Verifier};

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::Deserialize;

use crate::error::ApiError;

/// A caller's role; the order is the order of privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }
}

/// The claims the API reads; `exp` (and `iss`/`aud` when configured) are checked by the
/// verifier before these are trusted.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub org: String,
    pub role: Role,
}

/// An authenticated caller, extracted from the request before anything else is parsed so
/// that an anonymous request gets its 401 whatever its body looks like.
#[derive(Debug, Clone)]
pub struct Caller {
    pub sub: String,
    pub org: String,
    pub role: Role,
}

impl Caller {
    /// Fails with 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this operation needs the {} role; the token has {}",
                role.name(),
                self.role.name()
            )))
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|value| value.as_bytes());
        authenticate(&Arc::<Verifier>::from_ref(state), header)
    }
}

/// The one bearer-token check, for REST (`Authorization` header) and gRPC (`authorization`
/// metadata) alike: the raw header value in, the verified caller out.
pub fn authenticate(verifier: &Verifier, header: Option<&[u8]>) -> Result<Caller, ApiError> {
    let header = header.ok_or_else(|| {
        ApiError::Unauthenticated("missing bearer token (Authorization: Bearer <JWT>)".into())
    })?;
    let token = std::str::from_utf8(header)
        .ok()
        .filter(|value| {
            value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        })
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("the Authorization header must be `Bearer <JWT>`".into())
        })?;
    let claims = verifier.verify(token)?;
    Ok(Caller {
        sub: claims.sub,
        org: claims.org,
        role: claims.role,
    })
}
