//! Bounds on the overview's server-sent-event streams: at most
//! [`MAX_STREAMS_PER_SESSION`] per session and [`MAX_STREAMS`] in all (a slot is held while a
//! stream lives and given back when it is dropped), and the notice that ends a session's
//! streams at once when it logs out. Sessions are keyed by the hash of their token (the
//! token itself is kept nowhere).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Streams one session may hold open (a few tabs); beyond, the console polls.
pub const MAX_STREAMS_PER_SESSION: usize = 3;
/// Streams the engine holds open in all.
pub const MAX_STREAMS: usize = 256;

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Session,
    Engine,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Session => write!(f, "This session already has {MAX_STREAMS_PER_SESSION} overview streams open: close one (the console polls meanwhile)"),
            Refused::Engine => write!(f, "The engine already serves {MAX_STREAMS} overview streams: the console polls meanwhile"),
        }
    }
}

pub struct Streams {
    open: Mutex<HashMap<Vec<u8>, usize>>,
    ended: broadcast::Sender<Vec<u8>>,
}

impl Default for Streams {
    fn default() -> Self {
        Self { open: Mutex::new(HashMap::new()), ended: broadcast::channel(64).0 }
    }
}

/// A held stream slot; dropping it frees the slot.
pub struct Slot {
    streams: Arc<Streams>,
    pub session: Vec<u8>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock();
        if let Some(n) = open.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

impl Streams {
    pub fn open(self: &Arc<Self>, session_token: &str) -> Result<Slot, Refused> {
        let session = crate::auth::keys::hash(session_token);
        let mut open = self.open.lock();
        if open.values().sum::<usize>() >= MAX_STREAMS {
            return Err(Refused::Engine);
        }
        let n = open.entry(session.clone()).or_default();
        if *n >= MAX_STREAMS_PER_SESSION {
            return Err(Refused::Session);
        }
        *n += 1;
        Ok(Slot { streams: self.clone(), session })
    }

    /// Streams open now for a session.
    pub fn count(&self, session_token: &str) -> usize {
        self.open.lock().get(&crate::auth::keys::hash(session_token)).copied().unwrap_or(0)
    }

    /// Ends the session's streams (a log-out).
    pub fn end_session(&self, session_token: &str) {
        let _ = self.ended.send(crate::auth::keys::hash(session_token));
    }

    pub fn ended(&self) -> broadcast::Receiver<Vec<u8>> {
        self.ended.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_a_bounded_number_of_slots_and_gets_them_back() {
        let s = Arc::new(Streams::default());
        let held: Vec<Slot> = (0..MAX_STREAMS_PER_SESSION).map(|_| s.open("a").unwrap()).collect();
        assert_eq!(s.open("a").err(), Some(Refused::Session));
        let other = s.open("b").unwrap();
        assert_eq!(s.count("a"), MAX_STREAMS_PER_SESSION);
        drop(held);
        assert_eq!(s.count("a"), 0);
        assert!(s.open("a").is_ok());
        drop(other);
        assert_eq!(s.count("b"), 0);
    }
}
