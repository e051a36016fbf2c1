//! Key and value encoding for the embedded backend.
//!
//! Keys are the ScyllaDB primary key flattened: partition key columns then clustering
//! columns, each as order-preserving big-endian bytes, so a prefix scan over a partition
//! returns rows in clustering order exactly as CQL would. Values are MessagePack with field
//! names, so a row written by an older build still decodes when fields are added.

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

pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> StoreResult<T> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt { table, detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i64_keys_sort_like_integers() {
        let vals = [i64::MIN, -5, -1, 0, 1, 42, 1 << 40, i64::MAX];
        for w in vals.windows(2) {
            assert!(i64_key(w[0]) < i64_key(w[1]));
            assert_eq!(i64_from_key(&i64_key(w[0])), Some(w[0]));
        }
    }
}
