//! Rows read on every request and changed rarely (an association: one read per accepted
//! message), kept decoded beside the bytes they were decoded from. A read still goes to the
//! store; only when the stored bytes are the ones decoded last time is the decode skipped
//! (msgpack decodes byte vectors one integer at a time: 14k instructions per association).
//! So a change committed a moment ago, a deactivation say, is seen at once, as with no cache.

use super::codec::decode;
use super::io;
use crate::store::StoreResult;
use fjall::{Keyspace, Slice};
use rustc_hash::FxHashMap;

pub(super) struct DecodedRows<T> {
    rows: parking_lot::Mutex<FxHashMap<Vec<u8>, (Slice, T)>>,
}

impl<T> Default for DecodedRows<T> {
    fn default() -> Self {
        Self { rows: parking_lot::Mutex::default() }
    }
}

impl<T: serde::de::DeserializeOwned + Clone> DecodedRows<T> {
    /// Past this many rows the cache starts again empty (a miss costs only the decode).
    const CAP: usize = 4096;

    /// The row at `key` as stored now.
    pub fn get(&self, ks: &Keyspace, table: &'static str, key: &[u8]) -> StoreResult<Option<T>> {
        let Some(bytes) = ks.get(key).map_err(io)? else { return Ok(None) };
        if let Some((seen, value)) = self.rows.lock().get(key) {
            if *seen == bytes {
                return Ok(Some(value.clone()));
            }
        }
        let value: T = decode(table, &bytes)?;
        let mut rows = self.rows.lock();
        if rows.len() >= Self::CAP {
            rows.clear();
        }
        rows.insert(key.to_vec(), (bytes, value.clone()));
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjall::{Database, KeyspaceCreateOptions};

    #[test]
    fn a_changed_row_is_decoded_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).open().unwrap();
        let ks = db.keyspace("t", KeyspaceCreateOptions::default).unwrap();
        let rows: DecodedRows<String> = DecodedRows::default();
        assert_eq!(rows.get(&ks, "t", b"k").unwrap(), None);
        ks.insert(b"k", super::super::codec::encode(&"one".to_string())).unwrap();
        assert_eq!(rows.get(&ks, "t", b"k").unwrap().as_deref(), Some("one"));
        assert_eq!(rows.get(&ks, "t", b"k").unwrap().as_deref(), Some("one"), "from the cache");
        ks.insert(b"k", super::super::codec::encode(&"two".to_string())).unwrap();
        assert_eq!(rows.get(&ks, "t", b"k").unwrap().as_deref(), Some("two"), "the stored bytes changed");
        ks.remove(b"k").unwrap();
        assert_eq!(rows.get(&ks, "t", b"k").unwrap(), None, "a deleted row is gone at once");
    }
}
