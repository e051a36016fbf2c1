//! Association keys: generated from the OS CSPRNG, stored only as SHA-256 hashes (the
//! public and admin keys) or sealed (the secret key, needed back for HMAC verification).
//! Keys carry 190 bits of entropy, so a plain hash is as strong as a slow one here.

use sha2::{Digest, Sha256};

pub const PUBLIC_PREFIX: &str = "jn_pub_";
pub const SECRET_PREFIX: &str = "jn_sec_";
pub const ADMIN_PREFIX: &str = "jn_admin_";
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const KEY_CHARS: usize = 32;

/// `prefix` followed by 32 uniformly random alphanumerics (~190 bits).
pub fn generate(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + KEY_CHARS);
    out.push_str(prefix);
    let mut buf = [0u8; 64];
    while out.len() < prefix.len() + KEY_CHARS {
        getrandom::fill(&mut buf).expect("OS random source");
        // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == prefix.len() + KEY_CHARS {
                break;
            }
            out.push(ALPHABET[(*b % 62) as usize] as char);
        }
    }
    out
}

pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_prefix_length_and_differ() {
        let a = generate(PUBLIC_PREFIX);
        let b = generate(PUBLIC_PREFIX);
        assert!(a.starts_with("jn_pub_") && a.len() == 7 + 32);
        assert!(a[7..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }
}
