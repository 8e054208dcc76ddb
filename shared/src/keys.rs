//! API key format, hashing and preview (SPEC §5).
//!
//! A key is `ak_` followed by the URL-safe base64 of at least 32 random bytes. The engine
//! does not draw randomness itself: the caller passes the bytes in. Only the SHA-256 hash
//! and a short preview are ever stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "ak_";
/// Random bytes in a key; SPEC §5 asks for at least 32.
pub const KEY_RANDOM_BYTES: usize = 32;
/// Characters of the encoded random part (43 for 32 bytes, unpadded).
const ENCODED_LEN: usize = (KEY_RANDOM_BYTES * 4).div_ceil(3);

/// Builds a raw key from caller-supplied random bytes.
pub fn raw_key_from_bytes(random: &[u8; KEY_RANDOM_BYTES]) -> String {
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random))
}

/// SHA-256 of the raw key, the only form the control plane stores and data planes match.
pub fn hash_key(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

/// Whether `raw` has the shape of a gateway key, checked before hashing so obviously wrong
/// credentials (an OpenAI key pasted by mistake) get a clear 401.
pub fn is_well_formed(raw: &str) -> bool {
    raw.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() >= ENCODED_LEN
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// `ak_` + first 4 … last 4 characters of the random part: enough to tell keys apart in a
/// list, far too little to guess one.
pub fn preview(raw: &str) -> String {
    let rest = raw.strip_prefix(KEY_PREFIX).unwrap_or(raw);
    let chars: Vec<char> = rest.chars().collect();
    if chars.len() < 8 {
        return format!("{KEY_PREFIX}…");
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{KEY_PREFIX}{head}…{tail}")
}

/// Compares two key hashes in time independent of where they differ (SPEC §3.3).
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_url_safe_and_long_enough() {
        let key = raw_key_from_bytes(&[0xfb; KEY_RANDOM_BYTES]);
        assert!(key.starts_with("ak_"));
        assert_eq!(key.len(), 3 + 43);
        assert!(!key.contains('+') && !key.contains('/') && !key.contains('='));
        assert!(is_well_formed(&key));
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!is_well_formed("sk-abc"));
        assert!(!is_well_formed("ak_short"));
        assert!(!is_well_formed(&format!("ak_{}!", "a".repeat(43))));
    }

    #[test]
    fn preview_shows_four_and_four() {
        let key = format!("ak_ABCD{}wxyz", "m".repeat(35));
        assert_eq!(preview(&key), "ak_ABCD…wxyz");
        assert_eq!(preview("ak_abc"), "ak_…");
    }

    #[test]
    fn hash_is_sha256_of_the_whole_key() {
        let hash = hash_key("ak_test");
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        // sha256("ak_test"), computed independently with `printf ak_test | sha256sum`.
        assert_eq!(
            hex,
            "5364b0ab6b28e44634f8657a9ae296865937601d03a55585138ab0afa9a8b790"
        );
        assert!(hashes_equal(&hash, &hash_key("ak_test")));
        assert!(!hashes_equal(&hash, &hash_key("ak_tesT")));
    }
}
