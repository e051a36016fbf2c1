//! The `[server]` section: listeners, body limits, timeouts and client addresses. Kept
//! apart from `config.rs` only for size.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP API listens on; port 0 picks a free port.
    pub http_addr: String,
    /// Address the gRPC API listens on; port 0 picks a free port; empty turns gRPC off.
    pub grpc_addr: String,
    /// Largest request body accepted on ordinary routes; larger bodies get 413.
    pub body_limit_bytes: usize,
    /// Largest request body accepted on bulk routes (campaign recipient lists).
    pub bulk_body_limit_bytes: usize,
    /// A request that takes longer than this is answered 503.
    pub request_timeout_ms: u64,
    /// Time given to in-flight requests on shutdown before they are cut.
    pub shutdown_grace_ms: u64,
    /// Which address a request comes from: `peer` (the TCP peer) or `x-forwarded-for` (the
    /// client named by X-Forwarded-For, believed only from `trusted_proxies`).
    pub client_ip: String,
    /// Proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<String>,
    /// The engine's public base URL (`https://jood.example.com`), from which providers and
    /// customers reach it: delivery-report URLs handed to providers are built on it. Empty:
    /// no report URL is given to any provider.
    pub public_url: String,
    /// A connection that has not sent a whole request head this long after it began is closed.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout_ms: u64,
    /// Most HTTP connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8080".into(),
            grpc_addr: "127.0.0.1:50051".into(),
            body_limit_bytes: 1024 * 1024,
            bulk_body_limit_bytes: 64 * 1024 * 1024,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            client_ip: "peer".into(),
            trusted_proxies: Vec::new(),
            public_url: String::new(),
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 10_000,
        }
    }
}
