//! Publishable keys the Worker checks on its own, before any Durable Object is touched.
//!
//! A publishable key is `pk_{tenant}_{random}{tag}`: 16 random bytes and an 8-byte tag, both
//! hex (48 digits), the tag an HMAC-SHA-256 over the tenant id and the random part with the
//! Worker's `PUBLISHABLE_KEY_SECRET`. Anyone can make up a key (it names a tenant and the rest
//! looks random); without the secret no one can make one whose tag matches, so the Worker
//! refuses a made-up key, or one for a made-up tenant, with one HMAC and no storage, no
//! Durable Object and no network. A matching tag says only that the edge issued the key: whether
//! it is still live (not revoked) is the tenant's object's answer, at admission and at every
//! grant.
//!
//! Why a MAC and not a lookup: KV is eventually consistent (a new key would be refused for up
//! to a minute) and costs a read per upgrade; a MAC costs nothing and needs no store.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::tenant::settings::{PublishableKey, TenantId};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the tag (16 hex digits): a guess succeeds once in 2^64.
const TAG_LEN: usize = 8;
/// Shortest secret accepted: 32 bytes.
pub const SECRET_MIN: usize = 32;
/// Domain separation from every other use of HMAC in the edge.
const DOMAIN: &[u8] = b"aura-publishable-key\0";

/// The secret is shorter than [`SECRET_MIN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("PUBLISHABLE_KEY_SECRET must be at least {SECRET_MIN} bytes")]
pub struct WeakSecret;

/// The key's tag is not the edge's: a made-up key, one for a made-up tenant, or one issued
/// under another secret. Answered like any invalid key (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the publishable key was not issued by this edge")]
pub struct NotIssued;

/// Issues and checks publishable keys with one secret.
pub struct KeyTagger {
    mac: HmacSha256,
}

impl KeyTagger {
    pub fn new(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < SECRET_MIN {
            return Err(WeakSecret);
        }
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| WeakSecret)?;
        Ok(Self { mac })
    }

    fn tag_mac(&self, tenant: &TenantId, random_hex: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(tenant.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(random_hex.as_bytes());
        mac
    }

    /// A new key for `tenant` from 16 random bytes.
    pub fn issue(&self, tenant: &TenantId, random: [u8; 16]) -> PublishableKey {
        let random_hex = hex(&random);
        let tag = self.tag_mac(tenant, &random_hex).finalize().into_bytes();
        PublishableKey {
            tenant: tenant.clone(),
            key: format!("pk_{tenant}_{random_hex}{}", hex(&tag[..TAG_LEN])),
        }
    }

    /// Whether the edge issued `key` (in constant time).
    pub fn check(&self, key: &PublishableKey) -> Result<(), NotIssued> {
        let tail = key
            .key
            .rsplit_once('_')
            .map(|(_, tail)| tail)
            .ok_or(NotIssued)?;
        let (random_hex, tag_hex) = tail.split_at_checked(32).ok_or(NotIssued)?;
        let tag = unhex(tag_hex).ok_or(NotIssued)?;
        if tag.len() != TAG_LEN {
            return Err(NotIssued);
        }
        self.tag_mac(&key.tenant, random_hex)
            .verify_truncated_left(&tag)
            .map_err(|_| NotIssued)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl KeyTagger {
    /// Whether the Worker would accept `key`, stored for `tenant`: the edge's form (not the
    /// 32-digit form of before the tag) and the edge's tag under this secret. A stored key
    /// that fails is one no page can use any more, so re-issuing it loses nothing.
    pub fn accepts(&self, tenant: &TenantId, key: &str) -> bool {
        PublishableKey::parse(key).is_ok_and(|k| k.tenant == *tenant && self.check(&k).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_before_the_tag_or_another_secret_are_not_accepted() {
        let t = tenant("mill-lane");
        let key = tagger(1).issue(&t, [7; 16]).key;
        assert!(tagger(1).accepts(&t, &key));
        assert!(!tagger(2).accepts(&t, &key), "issued under another secret");
        assert!(
            !tagger(1).accepts(&tenant("other"), &key),
            "stored for another tenant"
        );
        let untagged = format!("pk_mill-lane_{}", "ab".repeat(16));
        assert!(
            !tagger(1).accepts(&t, &untagged),
            "the form of before the tag"
        );
        assert!(!tagger(1).accepts(&t, "junk"));
    }

    fn tagger(seed: u8) -> KeyTagger {
        KeyTagger::new(&[seed; 32]).unwrap()
    }

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn an_issued_key_parses_names_its_tenant_and_checks_out() {
        let key = tagger(1).issue(&tenant("mill-lane"), [0xab; 16]);
        assert!(
            key.key
                .starts_with(&format!("pk_mill-lane_{}", "ab".repeat(16)))
        );
        assert_eq!(key.key.len(), "pk_mill-lane_".len() + 48);
        let parsed = PublishableKey::parse(&key.key).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(tagger(1).check(&parsed), Ok(()));
    }

    /// What anyone can make up without the secret is refused: a random tag, another tenant's
    /// name on an issued key, another secret's key, any changed digit.
    #[test]
    fn made_up_moved_or_altered_keys_are_not_issued() {
        let t = tagger(1);
        let key = t.issue(&tenant("mill-lane"), [0xab; 16]);
        let made_up = PublishableKey::parse(&format!("pk_nobody_{}", "cd".repeat(24))).unwrap();
        assert_eq!(t.check(&made_up), Err(NotIssued));
        let moved = key.key.replace("mill-lane", "shop-b");
        assert_eq!(
            t.check(&PublishableKey::parse(&moved).unwrap()),
            Err(NotIssued)
        );
        assert_eq!(tagger(2).check(&key), Err(NotIssued));
        let tail_start = key.key.len() - 48;
        for i in tail_start..key.key.len() {
            let mut bytes = key.key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let altered = PublishableKey::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
            assert_eq!(t.check(&altered), Err(NotIssued), "digit {i} changed");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(KeyTagger::new(&[1; 31]).is_err());
        assert!(KeyTagger::new(b"").is_err());
    }
}
