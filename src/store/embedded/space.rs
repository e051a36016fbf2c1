//! Free space of the data directory's filesystem, checked before new messages are written.
//! A store that runs out of space mid-commit has to refuse every write until a restart (the
//! journal cannot be trusted after a failed append), so new work is turned away earlier:
//! below `store.min_free_bytes` free, `insert_messages` answers `Unavailable` (HTTP 503 with
//! `Retry-After`, gRPC UNAVAILABLE) while status updates, cancels and management writes go
//! on in the reserve. Once space returns, the next check lets sends in again; nothing
//! acknowledged was written past the reserve, so nothing acknowledged is lost.

use crate::store::{StoreError, StoreResult};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long one reading of the free space is trusted (statvfs is cheap, but a busy ingest
/// asks thousands of times a second).
const RECHECK: Duration = Duration::from_millis(200);

pub struct SpaceGuard {
    dir: PathBuf,
    min_free: u64,
    /// (when read, bytes free then)
    last: parking_lot::Mutex<Option<(Instant, u64)>>,
}

impl SpaceGuard {
    pub fn new(dir: PathBuf, min_free: u64) -> Self {
        Self { dir, min_free, last: parking_lot::Mutex::new(None) }
    }

    /// `Ok` when new data may be written.
    pub fn admit(&self) -> StoreResult<()> {
        if self.min_free == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut last = self.last.lock();
        let free = match *last {
            Some((at, free)) if now.duration_since(at) < RECHECK => free,
            previous => {
                let free = free_bytes(&self.dir).unwrap_or(u64::MAX);
                let was_low = previous.is_some_and(|(_, f)| f < self.min_free);
                if free < self.min_free && !was_low {
                    tracing::error!(free, min_free = self.min_free, dir = %self.dir.display(), "data directory nearly full; refusing new messages");
                } else if free >= self.min_free && was_low {
                    tracing::info!(free, "space is back in the data directory; accepting new messages");
                }
                *last = Some((now, free));
                free
            }
        };
        metrics::gauge!(crate::telemetry::STORE_DISK_FREE_BYTES).set(free.min(i64::MAX as u64) as f64);
        if free < self.min_free {
            return Err(StoreError::Unavailable(format!(
                "the data directory's filesystem has {free} bytes free, below store.min_free_bytes ({})",
                self.min_free
            )));
        }
        Ok(())
    }
}

/// Bytes available to this (unprivileged) process on the filesystem holding `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_below_the_reserve_and_reads_real_space() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).expect("statvfs works");
        assert!(free > 0);
        assert!(SpaceGuard::new(dir.path().into(), 0).admit().is_ok(), "0 turns the check off");
        assert!(SpaceGuard::new(dir.path().into(), 1).admit().is_ok());
        let err = SpaceGuard::new(dir.path().into(), u64::MAX).admit().unwrap_err();
        assert!(err.to_string().contains("below store.min_free_bytes"), "{err}");
    }
}
