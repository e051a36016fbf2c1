//! Key and value encoding for the embedded backend.
//!
//! Keys are the ScyllaDB primary key flattened: partition key columns then clustering
//! columns, each as order-preserving big-endian bytes, so a prefix scan over a partition
//! returns rows in clustering order exactly as CQL would. Values are MessagePack with field
//! names, so a row written by an older build still decodes when fields are added.
//!
//! The one exception is a message row (`insert_messages`, a million of them for a big
//! campaign, and every status change's rewrite): it is written compact, as a MessagePack
//! array of its fields in declaration order ([`encode_compact_into`]) — less than half the
//! bytes to encode, journal, flush and compact. [`decode`] reads both forms (the first byte
//! tells a map from an array; rows of older builds are named). So for `MessageRecord`: add fields only
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
            expires_at: Some(5_000),
            encoding: Some(crate::domain::sms::Encoding::Ucs2),
            segments: 3,
            email: None,
            fallback: Vec::new(),
        };
        let mut compact = Vec::new();
        encode_compact_into(&mut compact, &m);
        let named = encode(&m);
        assert!(compact.len() * 2 < named.len(), "{} vs {}", compact.len(), named.len());
        assert_eq!(decode::<MessageRecord>("messages", &compact).unwrap(), m);
        assert_eq!(decode::<MessageRecord>("messages", &named).unwrap(), m);
        // An array (array16 of 24 fields), not a map.
        assert_eq!(&compact[..3], &[0xdc, 0, 24]);
    }

    /// A compact row written before `encoding` and `segments` existed (19 fields) still
    /// decodes, with the new fields at their defaults.
    #[test]
    fn old_compact_message_rows_still_decode() {
        #[derive(serde::Serialize)]
        struct Old<'a>(i64, i64, Option<i64>, &'a str, Option<&'a str>, &'a str, &'a str, i32, &'a str, Option<i64>, Option<i64>, Option<&'a str>, Option<&'a str>, Option<&'a str>, u32, i64, i64, Option<()>, Option<&'a str>);
        let old = Old(7, 1, None, "+966501234567", Some("SA"), "Hi", "sms", 0, "queued", None, None, None, None, None, 0, 100, 100, None, None);
        let mut bytes = Vec::new();
        encode_compact_into(&mut bytes, &old);
        let m: crate::store::MessageRecord = decode("messages", &bytes).unwrap();
        assert_eq!((m.id, m.body.as_str(), m.encoding, m.segments), (7, "Hi", None, 0));
    }

    #[test]
    fn i64_keys_sort_like_integers() {
        let vals = [i64::MIN, -5, -1, 0, 1, 42, 1 << 40, i64::MAX];
        for w in vals.windows(2) {
            assert!(i64_key(w[0]) < i64_key(w[1]));
            assert_eq!(i64_from_key(&i64_key(w[0])), Some(w[0]));
        }
    }

    #[test]
    fn outbox_payloads_are_byte_strings_and_old_integer_arrays_still_decode() {
        use crate::store::OutboxEntry;
        let entry = OutboxEntry {
            event_id: "7-2".into(),
            association_id: 1,
            message_id: 7,
            url: "https://example.com/status".into(),
            payload: br#"{"event":"message.status","id":"7-2"}"#.to_vec(),
            attempt: 0,
            next_at: 1_700_000_000_000,
            created_at: 1_700_000_000_000,
        };
        let bytes = encode(&entry);
        // The body is one msgpack bin (marker 0xc4, a length byte, the bytes), not an array of
        // one integer per byte.
        let len = entry.payload.len() as u8;
        let mut bin = vec![0xc4, len];
        bin.extend_from_slice(&entry.payload);
        assert!(bytes.windows(bin.len()).any(|w| w == bin.as_slice()));
        assert_eq!(decode::<OutboxEntry>("callback_outbox", &bytes).unwrap(), entry);

        // A row written before: the same fields, the body as an array of integers.
        #[derive(Serialize)]
        struct Before<'a> {
            event_id: &'a str,
            association_id: i64,
            message_id: i64,
            url: &'a str,
            payload: &'a [u8],
            attempt: u32,
            next_at: i64,
            created_at: i64,
        }
        let old = encode(&Before {
            event_id: &entry.event_id,
            association_id: 1,
            message_id: 7,
            url: &entry.url,
            payload: &entry.payload,
            attempt: 0,
            next_at: entry.next_at,
            created_at: entry.created_at,
        });
        // array 16 (0xdc) of `len` integers (ASCII bytes are their own positive fixints).
        let mut array = vec![0xdc, 0, len];
        array.extend_from_slice(&entry.payload);
        assert!(old.windows(array.len()).any(|w| w == array.as_slice()));
        assert_eq!(decode::<OutboxEntry>("callback_outbox", &old).unwrap(), entry);
    }
}
