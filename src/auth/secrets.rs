//! The two process secrets and sealing at rest.
//!
//! * The super-admin key: from `JOOD_ADMIN_KEY` or the file `auth.admin_key_file`.
//! * The master key (32 bytes, hex or base64): from `JOOD_MASTER_KEY` or
//!   `auth.master_key_file`. It seals (AES-256-GCM, random 96-bit nonce) every secret the
//!   server must read back: association HMAC secret keys and provider credentials. A data
//!   directory copied elsewhere without the master key reveals none of them.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use std::fmt;
use std::path::Path;
use subtle::ConstantTimeEq;

const SEAL_VERSION: u8 = 1;

/// How to make a master key, shown when one is missing or malformed.
pub const MASTER_KEY_HINT: &str =
    "set JOOD_MASTER_KEY to 32 random bytes in hex, e.g. `export JOOD_MASTER_KEY=$(openssl rand -hex 32)` \
     (or `jood keygen`), or name a file holding it in auth.master_key_file";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no master key: {MASTER_KEY_HINT}")]
    MissingMasterKey,
    #[error("master key is malformed ({0}): {MASTER_KEY_HINT}")]
    MalformedMasterKey(String),
    #[error("cannot read {path}: {err}")]
    File { path: String, err: String },
    #[error("sealed value could not be opened (wrong master key or corrupt data)")]
    Unseal,
}

/// The AEAD key that seals secrets at rest. Debug never prints it.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    /// Parses 32 bytes given as 64 hex digits or as base64.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| SecretError::MalformedMasterKey(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| SecretError::MalformedMasterKey("neither 64 hex digits nor base64".into()))?
        };
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| SecretError::MalformedMasterKey(format!("{} bytes, need 32", b.len())))?;
        Ok(Self::from_bytes(&key))
    }

    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()) }
    }

    /// A fresh random key, hex-encoded (what `jood keygen` prints).
    pub fn generate_hex() -> String {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("OS random source");
        hex::encode(k)
    }

    /// From `JOOD_MASTER_KEY`, else the file.
    pub fn load(file: Option<&Path>) -> Result<Self, SecretError> {
        if let Ok(v) = std::env::var("JOOD_MASTER_KEY") {
            if !v.trim().is_empty() {
                return Self::parse(&v);
            }
        }
        match file {
            Some(p) => Self::parse(&read_secret_file(p)?),
            None => Err(SecretError::MissingMasterKey),
        }
    }

    /// `version || nonce || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("OS random source");
        let ct = self.cipher.encrypt(Nonce::from_slice(&nonce), plaintext).expect("AES-GCM encryption cannot fail");
        let mut out = Vec::with_capacity(1 + 12 + ct.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != SEAL_VERSION {
            return Err(SecretError::Unseal);
        }
        self.cipher.decrypt(Nonce::from_slice(&sealed[1..13]), &sealed[13..]).map_err(|_| SecretError::Unseal)
    }
}

/// The super-admin key. Debug never prints it; comparison is constant-time.
#[derive(Clone)]
pub struct AdminKey(String);

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminKey(…)")
    }
}

impl AdminKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// From `JOOD_ADMIN_KEY`, else the file; `None` when neither is set.
    pub fn load(file: Option<&Path>) -> Result<Option<Self>, SecretError> {
        if let Ok(v) = std::env::var("JOOD_ADMIN_KEY") {
            if !v.trim().is_empty() {
                return Ok(Some(Self(v.trim().to_string())));
            }
        }
        match file {
            Some(p) => Ok(Some(Self(read_secret_file(p)?))),
            None => Ok(None),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn read_secret_file(p: &Path) -> Result<String, SecretError> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| SecretError::File { path: p.display().to_string(), err: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_detects_wrong_key() {
        let k = MasterKey::parse(&MasterKey::generate_hex()).unwrap();
        let sealed = k.seal(b"jn_sec_abc");
        assert!(!sealed.windows(10).any(|w| w == b"jn_sec_abc"), "plaintext visible in sealed bytes");
        assert_eq!(k.open(&sealed).unwrap(), b"jn_sec_abc");
        let other = MasterKey::parse(&MasterKey::generate_hex()).unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(k.open(&sealed[..10]).is_err());
    }

    #[test]
    fn master_key_formats() {
        let hexkey = "00".repeat(32);
        assert!(MasterKey::parse(&hexkey).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(MasterKey::parse(&b64).is_ok());
        let err = MasterKey::parse("abcd").unwrap_err().to_string();
        assert!(err.contains("JOOD_MASTER_KEY"), "{err}");
        assert!(MasterKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 16])).is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        assert_eq!(format!("{:?}", AdminKey::new("topsecret")), "AdminKey(…)");
    }
}
