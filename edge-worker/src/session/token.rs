//! Signed session tokens: what a client presents to resume its conversation.
//!
//! `v1.{claims}.{signature}`: the claims are base64url JSON (tenant, conversation, expiry), the
//! signature is HMAC-SHA-256 over `v1.{claims}` with the Worker's signing secret, base64url.
//! A token is bound to one tenant and one conversation and stops working at its expiry; the
//! edge checks it before a WebSocket upgrade, so a forged, altered, expired or misdirected token
//! never reaches a conversation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "v1.";
/// Longest token accepted for checking (the protocol allows 512 bytes).
const TOKEN_MAX: usize = 512;
/// Shortest signing secret accepted: 32 bytes.
pub const SECRET_MIN: usize = 32;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Tenant id.
    #[serde(rename = "t")]
    pub tenant: String,
    /// Conversation id.
    #[serde(rename = "c")]
    pub conversation: String,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    pub expires_at_s: u64,
    /// Which of the conversation's tokens this is: the conversation's object resumes only with
    /// its latest (an older copy, one sniffed from a URL, resumes nothing), and none after the
    /// conversation ended.
    #[serde(rename = "g", default)]
    pub generation: u64,
}

/// Why a token was refused. All of them answer the client the same way (401); the variants
/// are for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another tenant or conversation")]
    WrongSubject,
}

/// Why a signing secret was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session signing secret must be at least {SECRET_MIN} bytes")]
pub struct WeakSecret;

/// Signs and checks tokens with one secret.
pub struct TokenSigner {
    mac: HmacSha256,
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < SECRET_MIN {
            return Err(WeakSecret);
        }
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| WeakSecret)?;
        Ok(Self { mac })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{PREFIX}{payload}");
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{signed}.{sig}")
    }

    /// A client's tag for per-client limits: a keyed hash of its address (as Cloudflare
    /// reports it), so counters never hold the address itself and no one without the key can
    /// tell which address a tag is. Domain-separated from tokens, 16 hex digits.
    pub fn client_tag(&self, address: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(b"aura-client\0");
        mac.update(address.as_bytes());
        mac.finalize().into_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Checks the signature (in constant time) and the expiry; returns the claims.
    pub fn verify(&self, token: &str, now_s: u64) -> Result<Claims, TokenError> {
        if token.len() > TOKEN_MAX {
            return Err(TokenError::Malformed);
        }
        let (signed, sig) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let payload = signed.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenError::Malformed)?;
        if now_s >= claims.expires_at_s {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// [`Self::verify`], and the token must be for this tenant and conversation.
    pub fn verify_for(
        &self,
        token: &str,
        tenant: &str,
        conversation: &str,
        now_s: u64,
    ) -> Result<Claims, TokenError> {
        let claims = self.verify(token, now_s)?;
        if claims.tenant != tenant || claims.conversation != conversation {
            return Err(TokenError::WrongSubject);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(&[7u8; 32]).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            tenant: "mill-lane".into(),
            conversation: "c0ffee".into(),
            expires_at_s: 1_000,
            generation: 1,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let token = signer().sign(&claims());
        assert!(token.starts_with("v1.") && token.len() < 200);
        assert_eq!(signer().verify(&token, 999), Ok(claims()));
        assert_eq!(signer().verify(&token, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn another_secret_or_any_changed_byte_breaks_the_signature() {
        let token = signer().sign(&claims());
        let other = TokenSigner::new(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(&token, 0), Err(TokenError::BadSignature));
        // Flip each character of the token in turn: never accepted.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            if forged != token {
                assert!(
                    signer().verify(&forged, 0).is_err(),
                    "byte {i} changed, accepted"
                );
            }
        }
    }

    #[test]
    fn claims_cannot_be_swapped_between_tokens() {
        let a = signer().sign(&claims());
        let b = signer().sign(&Claims {
            tenant: "other".into(),
            ..claims()
        });
        let (a_signed, _) = a.rsplit_once('.').unwrap();
        let (_, b_sig) = b.rsplit_once('.').unwrap();
        assert_eq!(
            signer().verify(&format!("{a_signed}.{b_sig}"), 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_token_is_bound_to_its_tenant_and_conversation() {
        let token = signer().sign(&claims());
        assert!(
            signer()
                .verify_for(&token, "mill-lane", "c0ffee", 0)
                .is_ok()
        );
        assert_eq!(
            signer().verify_for(&token, "other", "c0ffee", 0),
            Err(TokenError::WrongSubject)
        );
        assert_eq!(
            signer().verify_for(&token, "mill-lane", "c0ffee1", 0),
            Err(TokenError::WrongSubject)
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bad in [
            "",
            ".",
            "v1.",
            "v1..",
            "v2.e30.AAAA",
            "v1.!!!.AAAA",
            "x".repeat(600).as_str(),
        ] {
            assert!(signer().verify(bad, 0).is_err(), "{bad:?}");
        }
        // A valid signature over a payload that is not JSON claims.
        let mut mac = HmacSha256::new_from_slice(&[7u8; 32]).unwrap();
        let signed = format!("v1.{}", B64.encode(b"[1,2]"));
        mac.update(signed.as_bytes());
        let token = format!("{signed}.{}", B64.encode(mac.finalize().into_bytes()));
        assert_eq!(signer().verify(&token, 0), Err(TokenError::Malformed));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenSigner::new(&[1u8; 31]).is_err());
        assert!(TokenSigner::new(b"").is_err());
    }

    #[test]
    fn client_tags_are_stable_keyed_and_hide_the_address() {
        let a = TokenSigner::new(&[1u8; 32]).unwrap();
        let b = TokenSigner::new(&[2u8; 32]).unwrap();
        let tag = a.client_tag("203.0.113.9");
        assert_eq!(tag.len(), 16);
        assert_eq!(tag, a.client_tag("203.0.113.9"));
        assert_ne!(tag, a.client_tag("203.0.113.10"));
        assert_ne!(tag, b.client_tag("203.0.113.9"), "another key, another tag");
    }
}
