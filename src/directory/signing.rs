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
    /// Bumped by every invalidation: an entry read from the store before an invalidation
    /// is not cached after it (it may predate the change that invalidated).
    generation: std::sync::atomic::AtomicU64,
}

impl SigningCache {
    pub fn get(&self, id: i64) -> Option<Arc<SigningIdentity>> {
        let entries = self.entries.read();
        let (at, identity) = entries.get(&id)?;
        (at.elapsed() < SIGNING_CACHE_TTL).then(|| identity.clone())
    }

    /// The generation to pass to [`Self::put`]: take it before reading the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Caches `identity`, read from the store after `generation` was taken, unless an
    /// invalidation happened since.
    pub fn put(&self, id: i64, identity: Arc<SigningIdentity>, generation: u64) {
        let mut entries = self.entries.write();
        if self.generation.load(std::sync::atomic::Ordering::Acquire) != generation {
            return;
        }
        // Associations are few (one per customer); dropping expired entries on the rare
        // growth keeps a deleted or idle one from lingering.
        if entries.len() >= 1024 {
            entries.retain(|_, (at, _)| at.elapsed() < SIGNING_CACHE_TTL);
        }
        entries.insert(id, (Instant::now(), identity));
    }

    pub fn invalidate(&self, id: i64) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        entries.remove(&id);
    }
}
