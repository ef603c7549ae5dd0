//! Tenant provider keys, encrypted at rest.
//!
//! AES-256-GCM under a master key from a Worker secret (`MASTER_KEYS`). Every ciphertext carries
//! the version of the master key that sealed it, so the master key can rotate: add a new version,
//! re-seal (`rewrap`), then drop the old one. The associated data binds a ciphertext to its
//! tenant and slot, so a ciphertext copied to another tenant or slot does not open.
//!
//! A provider key can rotate too: the new key becomes current and the old one stays usable as a
//! fallback (when the provider refuses the new one) until its grace period ends, then it is gone.
//!
//! Plain Rust: nonces come from the caller (the Worker's CSPRNG), so this is tested on the host.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// Why a key could not be sealed or opened. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("MASTER_KEYS is missing or malformed: expected VERSION:BASE64_32_BYTES[,...]")]
    BadMasterKeys,
    #[error("the master key version {0} that sealed this key is not configured")]
    UnknownVersion(u32),
    #[error("a stored key does not open (altered, or sealed for another tenant or slot)")]
    Corrupt,
}

/// A sealed secret as stored: master key version, nonce, ciphertext (with the GCM tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub v: u32,
    pub nonce: String,
    pub ct: String,
}

/// The configured master keys by version; the highest version seals.
pub struct MasterKeys {
    keys: BTreeMap<u32, Aes256Gcm>,
}

impl MasterKeys {
    /// Parses `VERSION:BASE64KEY[,VERSION:BASE64KEY...]`, each key 32 bytes.
    pub fn parse(spec: &str) -> Result<Self, VaultError> {
        let mut keys = BTreeMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (version, key) = entry.split_once(':').ok_or(VaultError::BadMasterKeys)?;
            let version: u32 = version
                .trim_start_matches('v')
                .parse()
                .map_err(|_| VaultError::BadMasterKeys)?;
            let bytes = B64.decode(key).map_err(|_| VaultError::BadMasterKeys)?;
            if bytes.len() != 32 || keys.contains_key(&version) {
                return Err(VaultError::BadMasterKeys);
            }
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| VaultError::BadMasterKeys)?;
            keys.insert(version, cipher);
        }
        if keys.is_empty() {
            return Err(VaultError::BadMasterKeys);
        }
        Ok(Self { keys })
    }

    /// The version that seals new keys.
    pub fn current_version(&self) -> u32 {
        *self.keys.keys().next_back().expect("at least one key")
    }

    /// Seals `secret` for `aad` (the tenant and slot) with the current master key.
    pub fn seal(&self, secret: &str, aad: &str, nonce: [u8; 12]) -> Sealed {
        let v = self.current_version();
        let ct = self.keys[&v]
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short secret does not fail");
        Sealed {
            v,
            nonce: B64.encode(nonce),
            ct: B64.encode(ct),
        }
    }

    /// Opens a sealed secret. The plaintext lives only in the returned value.
    pub fn open(&self, sealed: &Sealed, aad: &str) -> Result<String, VaultError> {
        let cipher = self
            .keys
            .get(&sealed.v)
            .ok_or(VaultError::UnknownVersion(sealed.v))?;
        let nonce = B64.decode(&sealed.nonce).map_err(|_| VaultError::Corrupt)?;
        let ct = B64.decode(&sealed.ct).map_err(|_| VaultError::Corrupt)?;
        if nonce.len() != 12 {
            return Err(VaultError::Corrupt);
        }
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| VaultError::Corrupt)
    }

    /// Re-seals under the current master key (a no-op result if already current).
    pub fn rewrap(
        &self,
        sealed: &Sealed,
        aad: &str,
        nonce: [u8; 12],
    ) -> Result<Sealed, VaultError> {
        if sealed.v == self.current_version() {
            return Ok(sealed.clone());
        }
        Ok(self.seal(&self.open(sealed, aad)?, aad, nonce))
    }
}

/// The associated data for a tenant's slot: binds the ciphertext to the tenant, the slot and
/// the provider it was set for (`bound_to`, the origin of the slot's base URL, from
/// [`crate::tenant::settings::TenantSettings::key_binding`]). A key opens only for that
/// origin: pointing the slot's `base_url` elsewhere does not send the key there, it needs the
/// key set again. (v1 keys, bound to tenant and slot only, no longer open.)
pub fn aad(tenant: &str, slot: &str, bound_to: &str) -> String {
    format!("aura/provider-key/v2/{tenant}/{slot}/{bound_to}")
}

/// One provider slot's keys: the current one and, during a rotation's grace period, the one
/// it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySlot {
    pub current: Sealed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Sealed>,
    /// When the previous key stops being used, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until_ms: Option<u64>,
}

impl KeySlot {
    pub fn new(current: Sealed) -> Self {
        Self {
            current,
            previous: None,
            previous_until_ms: None,
        }
    }

    /// Replaces the key; the old one stays usable for `grace_ms` (none if zero).
    pub fn rotate(self, new: Sealed, grace_ms: u64, now_ms: u64) -> Self {
        Self {
            current: new,
            previous: (grace_ms > 0).then_some(self.current),
            previous_until_ms: (grace_ms > 0).then_some(now_ms + grace_ms),
        }
    }

    /// The previous key if its grace period still runs.
    pub fn previous_in_grace(&self, now_ms: u64) -> Option<&Sealed> {
        match (&self.previous, self.previous_until_ms) {
            (Some(prev), Some(until)) if now_ms < until => Some(prev),
            _ => None,
        }
    }

    /// The slot with an expired previous key removed: what storage should hold.
    pub fn pruned(mut self, now_ms: u64) -> Self {
        if self.previous_in_grace(now_ms).is_none() {
            self.previous = None;
            self.previous_until_ms = None;
        }
        self
    }
}

/// The keys of a slot to try in order, opened: the current one, then the previous one while in
/// grace. The second is used only when the provider refuses the first (401/403).
pub fn usable_keys(
    master: &MasterKeys,
    slot: &KeySlot,
    aad: &str,
    now_ms: u64,
) -> Result<Vec<String>, VaultError> {
    let mut keys = vec![master.open(&slot.current, aad)?];
    if let Some(prev) = slot.previous_in_grace(now_ms) {
        keys.push(master.open(prev, aad)?);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 x 0x01
    const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 x 0x02

    fn keys(spec: &str) -> MasterKeys {
        MasterKeys::parse(spec).unwrap()
    }

    #[test]
    fn sealed_keys_open_with_the_same_tenant_and_slot_only() {
        let m = keys(&format!("1:{K1}"));
        let sealed = m.seal(
            "sk-tenant-a",
            &aad("a", "llm0", "https://api.x.ai"),
            [9; 12],
        );
        assert_eq!(sealed.v, 1);
        assert!(!sealed.ct.contains("sk-tenant-a"));
        assert_eq!(
            m.open(&sealed, &aad("a", "llm0", "https://api.x.ai"))
                .unwrap(),
            "sk-tenant-a"
        );
        for (tenant, slot, host) in [
            ("b", "llm0", "https://api.x.ai"),
            ("a", "tts", "https://api.x.ai"),
            ("a", "llm0", "https://attacker.example"),
            ("a", "llm0", "http://api.x.ai"),
            ("a", "llm0", "https://api.x.ai:8443"),
        ] {
            assert_eq!(
                m.open(&sealed, &aad(tenant, slot, host)),
                Err(VaultError::Corrupt),
                "{tenant} {slot} {host}"
            );
        }
    }

    #[test]
    fn an_altered_ciphertext_does_not_open() {
        let m = keys(&format!("1:{K1}"));
        let mut sealed = m.seal("sk-1", "x", [0; 12]);
        let mut ct = B64.decode(&sealed.ct).unwrap();
        ct[0] ^= 1;
        sealed.ct = B64.encode(ct);
        assert_eq!(m.open(&sealed, "x"), Err(VaultError::Corrupt));
        sealed.nonce = "AAAA".into();
        assert_eq!(m.open(&sealed, "x"), Err(VaultError::Corrupt));
    }

    #[test]
    fn the_master_key_rotates_by_version() {
        let old = keys(&format!("1:{K1}"));
        let sealed = old.seal("sk-1", "x", [3; 12]);
        // Both versions configured: v2 seals, v1 still opens.
        let both = keys(&format!("1:{K1}, v2:{K2}"));
        assert_eq!(both.current_version(), 2);
        assert_eq!(both.open(&sealed, "x").unwrap(), "sk-1");
        let rewrapped = both.rewrap(&sealed, "x", [4; 12]).unwrap();
        assert_eq!(rewrapped.v, 2);
        // After the old version is dropped, only re-sealed keys open.
        let new = keys(&format!("2:{K2}"));
        assert_eq!(new.open(&rewrapped, "x").unwrap(), "sk-1");
        assert_eq!(new.open(&sealed, "x"), Err(VaultError::UnknownVersion(1)));
        // Same key under another version number: a different cipher, so no confusion.
        assert_eq!(both.rewrap(&rewrapped, "x", [5; 12]).unwrap(), rewrapped);
    }

    #[test]
    fn malformed_master_keys_are_refused() {
        for bad in [
            "",
            "1",
            "1:notbase64!",
            "x:AQ==",
            "1:AQEB",
            &format!("1:{K1},1:{K2}"),
        ] {
            assert_eq!(
                MasterKeys::parse(bad).err(),
                Some(VaultError::BadMasterKeys),
                "{bad}"
            );
        }
        // The error text never includes the configured value.
        let text = VaultError::BadMasterKeys.to_string();
        assert!(!text.contains(K1));
    }

    #[test]
    fn a_rotated_provider_key_keeps_the_old_one_for_the_grace_period() {
        let m = keys(&format!("1:{K1}"));
        let a = aad("t", "llm0", "https://api.openai.com");
        let slot = KeySlot::new(m.seal("sk-old", &a, [1; 12]));
        let slot = slot.rotate(m.seal("sk-new", &a, [2; 12]), 60_000, 1_000);
        assert_eq!(
            usable_keys(&m, &slot, &a, 1_000).unwrap(),
            ["sk-new", "sk-old"]
        );
        assert_eq!(
            usable_keys(&m, &slot, &a, 60_999).unwrap(),
            ["sk-new", "sk-old"]
        );
        assert_eq!(usable_keys(&m, &slot, &a, 61_000).unwrap(), ["sk-new"]);
        let pruned = slot.clone().pruned(61_000);
        assert_eq!(pruned.previous, None);
        assert_eq!(slot.clone().pruned(2_000), slot, "still in grace: kept");
        // No grace: the old key is gone at once.
        let slot = slot.rotate(m.seal("sk-newer", &a, [3; 12]), 0, 2_000);
        assert_eq!(usable_keys(&m, &slot, &a, 2_000).unwrap(), ["sk-newer"]);
    }
}
