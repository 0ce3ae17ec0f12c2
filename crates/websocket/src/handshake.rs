//! The opening handshake's pieces both sides need (RFC 6455 §4):
//! `Sec-WebSocket-Accept`, header token lists, and Tornado's same-origin
//! rule.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 appends to the key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// True if `key` is the base64 of 16 bytes, as RFC 6455 requires.
pub fn valid_key(key: &str) -> bool {
    STANDARD.decode(key.trim()).is_ok_and(|k| k.len() == 16)
}

/// A fresh random key (16 bytes, base64).
pub fn new_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut bytes = [0u8; 16];
    for (i, half) in bytes.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        half.copy_from_slice(&h.finish().to_ne_bytes());
    }
    STANDARD.encode(bytes)
}

/// True if the comma-separated header value holds `token` (any case).
pub fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Tornado's default `check_origin`: the origin's host (and port) must be
/// the request's `Host`.
pub fn same_origin(origin: &str, host: &str) -> bool {
    let rest = match origin.split_once("://") {
        Some((_, rest)) => rest,
        None => return false,
    };
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Drop credentials, as urlparse's netloc comparison effectively does.
    let netloc = netloc.rsplit('@').next().unwrap_or("");
    !netloc.is_empty() && netloc.eq_ignore_ascii_case(host.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key("dGhlIHNhbXBsZQ=="));
        assert!(!valid_key("not base64!"));
        assert!(valid_key(&new_key()));
        assert_ne!(new_key(), new_key());
    }

    #[test]
    fn tokens_and_origins() {
        assert!(has_token("keep-alive, Upgrade", "upgrade"));
        assert!(!has_token("keep-alive, upgrades", "upgrade"));
        assert!(same_origin("http://example.com", "example.com"));
        assert!(same_origin(
            "https://Example.com:8080/path",
            "example.com:8080"
        ));
        assert!(!same_origin("http://evil.com", "example.com"));
        assert!(!same_origin("http://example.com:81", "example.com"));
        assert!(!same_origin("null", "example.com"));
    }
}
