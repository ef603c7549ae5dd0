//! Signatures of tool webhook calls, so a tenant's server can tell a call came from Aura and
//! was not replayed.
//!
//! Every webhook request carries `Aura-Signature: t=UNIX_SECONDS,v1=HEX`, where `HEX` is the
//! HMAC-SHA-256 of `"{t}.{body}"` (the exact request body bytes) under the tenant's webhook
//! secret. A receiver recomputes it, compares in constant time, and refuses a `t` more than
//! five minutes from its clock. [`verify`] is that check, for tests and as a reference for
//! tenants (docs/tools.md shows the same in a few lines of other languages).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header name.
pub const HEADER: &str = "Aura-Signature";
/// How far a signature's time may be from the receiver's clock.
pub const TOLERANCE_S: u64 = 300;

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's time is too far from now")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a header value against the body received at `now` (Unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: u64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<u64>().ok(),
            Some(("v1", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Malformed);
    };
    if now.abs_diff(timestamp) > TOLERANCE_S {
        return Err(SignatureError::Stale);
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&signature[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    mac(secret, timestamp, body)
        .verify_slice(&bytes)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_0123456789abcdef0123456789abcdef";
    const BODY: &[u8] = br#"{"tool":"check_order","call_id":"call_1","arguments":{"order":42}}"#;

    #[test]
    fn a_signed_body_verifies_within_five_minutes() {
        let header = sign(SECRET, 1_800_000_000, BODY);
        assert!(header.starts_with("t=1800000000,v1=") && header.len() == 16 + 64);
        assert_eq!(verify(SECRET, &header, BODY, 1_800_000_000), Ok(()));
        assert_eq!(verify(SECRET, &header, BODY, 1_800_000_300), Ok(()));
        assert_eq!(
            verify(SECRET, &header, BODY, 1_800_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, 1_799_999_600),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn another_body_secret_or_time_does_not_verify() {
        let header = sign(SECRET, 1_800_000_000, BODY);
        assert_eq!(
            verify(
                SECRET,
                &header,
                br#"{"tool":"check_order","arguments":{"order":43}}"#,
                1_800_000_000
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another secret", &header, BODY, 1_800_000_000),
            Err(SignatureError::Mismatch)
        );
        // The time is signed too: moving it breaks the signature.
        let moved = header.replace("t=1800000000", "t=1800000001");
        assert_eq!(
            verify(SECRET, &moved, BODY, 1_800_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1800000000,v1=zz",
            "t=1800000000,v1=abc",
        ] {
            assert!(verify(SECRET, bad, BODY, 1_800_000_000).is_err(), "{bad}");
        }
    }
}
