//! What webhook verification needs of an association (its record and unsealed secret), kept
//! for a moment: every signed request asks for it, and reading the row and opening the
//! AES-GCM seal each time cost more than the HMAC itself. Changes made through this node
//! invalidate the entry at once; the short lifetime bounds how long another node sharing
//! the store (ScyllaDB) can go on trusting a rotated secret.

use crate::store::AssociationRecord;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an entry is trusted without re-reading the store.
pub const SIGNING_CACHE_TTL: Duration = Duration::from_secs(1);

/// An association as webhook verification sees it.
pub struct SigningIdentity {
    pub record: AssociationRecord,
    pub secret: Vec<u8>,
}

#[derive(Default)]
pub struct SigningCache {
    entries: RwLock<HashMap<i64, (Instant, Arc<SigningIdentity>)>>,
}

impl SigningCache {
    pub fn get(&self, id: i64) -> Option<Arc<SigningIdentity>> {
        let entries = self.entries.read();
        let (at, identity) = entries.get(&id)?;
        (at.elapsed() < SIGNING_CACHE_TTL).then(|| identity.clone())
    }

    pub fn put(&self, id: i64, identity: Arc<SigningIdentity>) {
        let mut entries = self.entries.write();
        // Associations are few (one per customer); dropping expired entries on the rare
        // growth keeps a deleted or idle one from lingering.
        if entries.len() >= 1024 {
            entries.retain(|_, (at, _)| at.elapsed() < SIGNING_CACHE_TTL);
        }
        entries.insert(id, (Instant::now(), identity));
    }

    pub fn invalidate(&self, id: i64) {
        self.entries.write().remove(&id);
    }
}
