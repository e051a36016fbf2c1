//! Key and value encoding for the embedded backend.
//!
//! Keys are the ScyllaDB primary key flattened: partition key columns then clustering
//! columns, each as order-preserving big-endian bytes, so a prefix scan over a partition
//! returns rows in clustering order exactly as CQL would. Values are MessagePack with field
//! names, so a row written by an older build still decodes when fields are added.
//!
//! The one exception is a new message row (`insert_messages`, a million of them for a big
//! campaign): it is written compact, as a MessagePack array of its fields in declaration
//! order ([`encode_compact_into`]) — less than half the bytes to encode, journal, flush and
//! compact. [`decode`] reads both forms (the first byte tells a map from an array), and a row
//! rewritten later (`update_messages`) is named again. So for `MessageRecord`: add fields only
//! at the end, with `#[serde(default)]`; never reorder or remove one.

use crate::store::{StoreError, StoreResult};
use serde::{de::DeserializeOwned, Serialize};

/// Order-preserving encoding of a signed 64-bit integer (sign bit flipped, big-endian).
pub fn i64_key(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn i64_from_key(b: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(arr) ^ (1 << 63)) as i64)
}

/// A composite key of two 64-bit columns.
pub fn pair_key(a: i64, b: i64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i64_key(a));
    k[8..].copy_from_slice(&i64_key(b));
    k
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising plain records into a Vec cannot fail.
    rmp_serde::to_vec_named(v).expect("records serialise")
}

/// `v` as a MessagePack array of its fields (see the module comment), appended to `buf`.
pub fn encode_compact_into<T: Serialize>(buf: &mut Vec<u8>, v: &T) {
    // Serialising plain records into a Vec cannot fail.
    rmp_serde::encode::write(buf, v).expect("records serialise")
}

pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> StoreResult<T> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt { table, detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_message_rows_decode_like_named_ones() {
        use crate::store::{MessageRecord, MessageStatus};
        let m = MessageRecord {
            id: 7,
            association_id: 1,
            campaign_id: Some(3),
            recipient: "+966501234567".into(),
            country: Some("SA".into()),
            body: "Hello".into(),
            channel: "sms".into(),
            priority: 2,
            status: MessageStatus::Queued,
            scheduled_at: None,
            credential_id: Some(9),
            provider: None,
            provider_message_id: None,
            error: Some("x".into()),
            attempts: 1,
            created_at: 100,
            updated_at: 101,
            content: None,
            callback_url: None,
            email: None,
            fallback: Vec::new(),
        };
        let mut compact = Vec::new();
        encode_compact_into(&mut compact, &m);
        let named = encode(&m);
        assert!(compact.len() * 2 < named.len(), "{} vs {}", compact.len(), named.len());
        assert_eq!(decode::<MessageRecord>("messages", &compact).unwrap(), m);
        assert_eq!(decode::<MessageRecord>("messages", &named).unwrap(), m);
        // An array (array16 of 21 fields), not a map.
        assert_eq!(&compact[..3], &[0xdc, 0, 21]);
        // A row written before `email` and `fallback` existed (19 fields) still decodes: the
        // two trailing fields (nil, empty array) dropped and the count patched.
        assert_eq!(&compact[compact.len() - 2..], &[0xc0, 0x90]);
        let mut old = compact[..compact.len() - 2].to_vec();
        old[2] = 19;
        assert_eq!(decode::<MessageRecord>("messages", &old).unwrap(), m);
    }

    #[test]
    fn i64_keys_sort_like_integers() {
        let vals = [i64::MIN, -5, -1, 0, 1, 42, 1 << 40, i64::MAX];
        for w in vals.windows(2) {
            assert!(i64_key(w[0]) < i64_key(w[1]));
            assert_eq!(i64_from_key(&i64_key(w[0])), Some(w[0]));
        }
    }
}
