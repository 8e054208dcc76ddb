//! JWT verification: HS256 with a shared secret, RS256/ES256 with PEM public keys.
//!
//! Only the algorithms of the configured key types are accepted, which rules out both
//! `alg: none` (not an algorithm the library will even parse) and algorithm confusion: an
//! HS256 token "signed" with an RSA public key is refused before any key is tried, because
//! HS256 is accepted only when an HS256 secret is configured, and then only with that secret.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::Claims;
use crate::error::ApiError;

/// Verification settings, as configured (SPEC §13).
#[derive(Debug, Clone, Default)]
pub struct JwtSettings {
    pub hs256_secret: Option<String>,
    pub public_key_files: Vec<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// Checks bearer tokens against the configured keys.
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, not even the public part.
        f.debug_struct("Verifier")
            .field(
                "algorithms",
                &self.keys.iter().map(|(a, _)| a).collect::<Vec<_>>(),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Verifier {
    /// Builds the verifier, reading PEM files; fails when no key is configured at all.
    pub fn from_settings(settings: &JwtSettings) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        if let Some(secret) = settings.hs256_secret.as_deref().filter(|s| !s.is_empty()) {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            ));
        }
        for path in &settings.public_key_files {
            let text = std::fs::read(path)
                .with_context(|| format!("cannot read JWT public key file {}", path.display()))?;
            let parsed = parse_public_keys(&text)
                .with_context(|| format!("invalid JWT public key file {}", path.display()))?;
            keys.extend(parsed);
        }
        if keys.is_empty() {
            bail!("no JWT verification key: set CP_JWT_HS256_SECRET or CP_JWT_PUBLIC_KEYS");
        }
        Ok(Self {
            keys,
            issuer: settings.issuer.clone().filter(|s| !s.is_empty()),
            audience: settings.audience.clone().filter(|s| !s.is_empty()),
        })
    }

    /// The verified claims of `token`, or a 401 saying why not.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::Unauthenticated("the bearer token is not a valid JWT".into()))?;
        let candidates: Vec<&DecodingKey> = self
            .keys
            .iter()
            .filter(|(alg, _)| *alg == header.alg)
            .map(|(_, key)| key)
            .collect();
        if candidates.is_empty() {
            return Err(ApiError::Unauthenticated(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let validation = self.validation(header.alg);
        let mut last = ErrorKind::InvalidSignature;
        // Several public keys may be configured (key rotation); any one may have signed.
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return check_claims(data.claims),
                Err(error) => match error.into_kind() {
                    ErrorKind::InvalidSignature => {}
                    other => {
                        last = other;
                        break;
                    }
                },
            }
        }
        Err(ApiError::Unauthenticated(describe(&last)))
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = 30;
        let mut required = vec!["exp"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Without a configured audience a token's `aud` is not ours to judge.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

fn check_claims(claims: Claims) -> Result<Claims, ApiError> {
    if claims.sub.trim().is_empty() || claims.org.trim().is_empty() {
        return Err(ApiError::Unauthenticated(
            "the token's sub and org claims must not be empty".into(),
        ));
    }
    Ok(claims)
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::InvalidAudience => "the token's audience is not accepted".into(),
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted".into(),
        ErrorKind::Json(_) => {
            "the token's claims must include sub, org and role (admin, editor or viewer)".into()
        }
        _ => "the bearer token is invalid".into(),
    }
}

/// Reads every public key in a PEM file (one or more `-----BEGIN` blocks), each as RSA
/// (RS256) or EC P-256 (ES256).
fn parse_public_keys(text: &[u8]) -> anyhow::Result<Vec<(Algorithm, DecodingKey)>> {
    let text = std::str::from_utf8(text).context("not UTF-8 text")?;
    let mut keys = Vec::new();
    for block in text.split("-----BEGIN ").skip(1) {
        let pem = format!("-----BEGIN {block}");
        if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
            keys.push((Algorithm::RS256, key));
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
            keys.push((Algorithm::ES256, key));
        } else {
            bail!("a PEM block is neither an RSA nor an EC public key");
        }
    }
    if keys.is_empty() {
        bail!("no PEM public key found");
    }
    Ok(keys)
}
