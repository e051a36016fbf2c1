//! Node id leases: several engines sharing one store and one Redis, each with its own node id
//! (the node bits of every id it generates) held as a Redis lease it renews.
//!
//! Work is owned by node id: a message, a schedule entry or a campaign belongs to the node
//! whose bits its id carries ([`crate::domain::ids::node_of`]), and only the node(s) holding
//! that partition dispatch it, fire it or pump it ([`Ownership`]). When a node's lease
//! expires (the process died, or lost Redis), a live node takes its partition over with a
//! takeover lease, which it renews with its own; the layer above then recovers that
//! partition's work exactly as a restart would. A node id stays unavailable to new engines
//! while its takeover lease lives, so its work never has two owners.
//!
//! A node that cannot renew within two thirds of the lease ([`must_stop`]) must stop: past
//! the lease another node may own its work and its node id. Scripts: `lua/lease_*.lua`.
//! Depends on `domain` only; what a takeover or a lost lease means is the caller's.

use super::CoordError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Node ids there are (0..=MAX_NODE_ID).
const NODES: u8 = crate::domain::ids::MAX_NODE_ID + 1;

/// The partitions (node ids) whose work this engine does.
#[derive(Debug)]
pub struct Ownership {
    /// Bit `n` set: partition `n` is ours. All bits: a single engine, which owns every id
    /// whatever node bits it carries (ids written under another `ids.node_id` included).
    mask: AtomicU8,
}

impl Ownership {
    /// Everything (one engine, no leases).
    pub fn all() -> Self {
        Self { mask: AtomicU8::new(u8::MAX) }
    }

    /// Only the work of node `node` (until more is taken over).
    pub fn of(node: u8) -> Self {
        Self { mask: AtomicU8::new(1 << node) }
    }

    /// Whether the work of id `id` is ours.
    pub fn owns(&self, id: i64) -> bool {
        self.mask.load(Ordering::Acquire) & (1 << crate::domain::ids::node_of(id)) != 0
    }

    /// Whether this engine leads: it owns partition 0. The cluster-wide singletons (the
    /// expiry sweeper, the parked-report matcher) run only on the leader, so N engines do not
    /// scan the same shared rows N times. Leadership is ownership, so it follows a takeover:
    /// when node 0's lease expires, the node that takes partition 0 over leads from then on,
    /// and no two live engines own partition 0 at once. A single engine owns all and leads.
    pub fn leads(&self) -> bool {
        self.mask.load(Ordering::Acquire) & 1 != 0
    }

    /// Whether this engine owns everything (no partitioning).
    pub fn is_all(&self) -> bool {
        self.mask.load(Ordering::Acquire) == u8::MAX
    }

    /// Only partition `node` from now on (the engine got node id `node` from its lease).
    pub fn restrict_to(&self, node: u8) {
        self.mask.store(1 << node, Ordering::Release);
    }

    /// Adds partition `node` (a takeover).
    pub fn add(&self, node: u8) {
        self.mask.fetch_or(1 << node, Ordering::AcqRel);
    }

    /// The partitions owned, in order.
    pub fn nodes(&self) -> Vec<u8> {
        let m = self.mask.load(Ordering::Acquire);
        (0..NODES).filter(|n| m & (1 << n) != 0).collect()
    }
}

/// Whether a node whose last successful renewal was `since_renewed` ago must stop: past two
/// thirds of the lease it can no longer be sure nobody else holds its node id by the time it acts.
pub fn must_stop(since_renewed: Duration, ttl: Duration) -> bool {
    since_renewed >= ttl * 2 / 3
}

/// This engine's node id lease and the takeovers it holds.
pub struct NodeLease {
    conn: ConnectionManager,
    prefix: String,
    token: String,
    ttl: Duration,
    timeout: Duration,
    node: u8,
    /// Partitions taken over (besides `node`), renewed with it.
    taken: parking_lot::Mutex<Vec<u8>>,
    renew: Script,
    takeover: Script,
    last_renewed: parking_lot::Mutex<Instant>,
}

/// What one renewal round found.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// Every lease renewed; these partitions were newly taken over (recover their work).
    Held { taken: Vec<u8> },
    /// A lease was not ours any more, or renewal failed for too long: stop.
    Lost(String),
    /// Redis did not answer this time; still within the lease.
    Unsure(String),
}

impl NodeLease {
    /// Takes the lowest free node id, waiting (up to `wait`) for one to free when all are held.
    pub async fn acquire(url: &str, prefix: &str, ttl: Duration, wait: Duration) -> Result<Self, CoordError> {
        let timeout = (ttl / 5).clamp(Duration::from_millis(100), Duration::from_secs(2));
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout)).set_number_of_retries(1);
        let mut conn = tokio::time::timeout(timeout * 4, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| CoordError::Timeout(timeout * 4))??;
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| CoordError::Protocol(format!("no random source: {e}")))?;
        let token = raw.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let acquire = Script::new(include_str!("lua/lease_acquire.lua"));
        let deadline = Instant::now() + wait;
        let node = loop {
            let mut inv = acquire.prepare_invoke();
            for n in 0..NODES {
                inv.key(format!("{prefix}node:{n}"));
            }
            for n in 0..NODES {
                inv.key(format!("{prefix}takeover:{n}"));
            }
            let got: i64 = tokio::time::timeout(timeout, inv.arg(&token).arg(ttl.as_millis() as u64).invoke_async(&mut conn))
                .await
                .map_err(|_| CoordError::Timeout(timeout))??;
            if got >= 0 {
                break got as u8;
            }
            if Instant::now() >= deadline {
                return Err(CoordError::Protocol(format!("all {NODES} node ids are leased (or taken over) in Redis")));
            }
            tokio::time::sleep(ttl / 4).await;
        };
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            token,
            ttl,
            timeout,
            node,
            taken: parking_lot::Mutex::new(Vec::new()),
            renew: Script::new(include_str!("lua/lease_renew.lua")),
            takeover: Script::new(include_str!("lua/lease_takeover.lua")),
            last_renewed: parking_lot::Mutex::new(Instant::now()),
        })
    }

    /// This engine's node id.
    pub fn node(&self) -> u8 {
        self.node
    }

    /// Partitions taken over so far.
    pub fn taken(&self) -> Vec<u8> {
        self.taken.lock().clone()
    }

    async fn bounded<T>(&self, fut: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, CoordError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(CoordError::from),
            Err(_) => Err(CoordError::Timeout(self.timeout)),
        }
    }

    /// One round: renews our leases, then takes over every node id whose lease expired.
    pub async fn round(&self) -> Round {
        let mut conn = self.conn.clone();
        let taken = self.taken();
        let mut inv = self.renew.prepare_invoke();
        inv.key(format!("{}node:{}", self.prefix, self.node));
        for n in &taken {
            inv.key(format!("{}takeover:{n}", self.prefix));
        }
        let ms = self.ttl.as_millis() as u64;
        match self.bounded(inv.arg(&self.token).arg(ms).invoke_async::<i64>(&mut conn)).await {
            Ok(held) if held == 1 + taken.len() as i64 => *self.last_renewed.lock() = Instant::now(),
            Ok(held) => return Round::Lost(format!("only {held} of our {} leases are still ours", 1 + taken.len())),
            Err(e) => {
                let since = self.last_renewed.lock().elapsed();
                return if must_stop(since, self.ttl) {
                    Round::Lost(format!("no renewal for {since:?} (lease {:?}): {e}", self.ttl))
                } else {
                    Round::Unsure(e.to_string())
                };
            }
        }
        let mut newly = Vec::new();
        for n in (0..NODES).filter(|n| *n != self.node && !taken.contains(n)) {
            let keys = (format!("{}node:{n}", self.prefix), format!("{}takeover:{n}", self.prefix));
            match self.bounded(self.takeover.key(keys.0).key(keys.1).arg(&self.token).arg(ms).invoke_async::<i64>(&mut conn)).await {
                Ok(1) => newly.push(n),
                Ok(_) => {}
                Err(e) => return Round::Unsure(e.to_string()),
            }
        }
        self.taken.lock().extend(&newly);
        Round::Held { taken: newly }
    }

    /// Gives the leases up (a clean stop): the node id is free at once, and the partitions
    /// taken over are free for another node to take (their work is recovered there).
    pub async fn release(&self) {
        let mut conn = self.conn.clone();
        let mut keys = vec![format!("{}node:{}", self.prefix, self.node)];
        keys.extend(self.taken().iter().map(|n| format!("{}takeover:{n}", self.prefix)));
        let script = Script::new("local n = 0 for i = 1, #KEYS do if redis.call('GET', KEYS[i]) == ARGV[1] then n = n + redis.call('DEL', KEYS[i]) end end return n");
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        if let Err(e) = self.bounded(inv.arg(&self.token).invoke_async::<i64>(&mut conn)).await {
            tracing::warn!(error = %e, "releasing the node lease failed; it expires by itself");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_follows_the_node_bits() {
        let id_of = |node: u8| crate::domain::IdGenerator::new(node).next_id();
        let o = Ownership::of(2);
        assert!(o.owns(id_of(2)) && !o.owns(id_of(3)) && !o.is_all() && !o.leads());
        o.add(3);
        assert!(o.owns(id_of(3)) && !o.owns(id_of(0)));
        assert_eq!(o.nodes(), vec![2, 3]);
        o.add(0);
        assert!(o.leads(), "taking partition 0 over makes a node the leader");
        assert!(Ownership::of(0).leads());
        let all = Ownership::all();
        assert!((0..NODES).all(|n| all.owns(id_of(n))) && all.is_all() && all.leads());
    }

    #[test]
    fn a_node_stops_before_its_lease_can_have_passed_on() {
        let ttl = Duration::from_secs(9);
        assert!(!must_stop(Duration::from_secs(2), ttl));
        assert!(!must_stop(Duration::from_millis(5_999), ttl));
        assert!(must_stop(Duration::from_secs(6), ttl));
        assert!(must_stop(Duration::from_secs(60), ttl));
    }
}
