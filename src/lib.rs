//! Jood: an actor-based, high-throughput notification dispatch engine.
//!
//! A message flows one way through these modules (see `DESIGN.md`):
//!
//! ```text
//! api::http ─┐
//! api::grpc ─┴► auth ─► ingress ─► dispatch ─► providers ─► provider HTTP APIs
//!                  │                    │
//!                  └──────► store ◄─────┘        telemetry beside everything
//!                             ▲
//! provider callbacks ─► inbound ─► status ─┘    (the return path)
//!                                            └─► callbacks (outbox, same commit) ─► customers' URLs
//! ```
//!
//! * [`api`]: HTTP routes and the gRPC service; translate requests, call the layers below,
//!   render the envelope (HTTP) or a status (gRPC).
//! * [`auth`]: API keys, the super-admin key, sealing of secrets at rest.
//! * [`coord`]: rate limits, idempotency keys, replay protection; in Redis when configured.
//! * [`directory`]: associations and provider credentials (management rules).
//! * [`store`]: the storage trait, its embedded backend, the group committer.
//! * [`domain`]: ids, timestamps, the provider catalogue; no I/O.
//! * [`providers`]: one adapter per SMS provider (build the request, classify the answer).
//! * [`inbound`]: receivers of provider callbacks (delivery reports): verify, parse, normalise.
//! * [`status`]: the one status-update path every receiver calls (precedence, metrics).
//! * [`callbacks`]: customer status callbacks: the outbox observer, the signed sender.
//! * [`net`]: the outbound HTTP client of the per-message calls (provider sends, callbacks).
//! * [`sim`]: the provider simulator (every provider's wire format on one loopback port).
//! * [`config`], [`telemetry`], [`app`] (the composition root).

pub mod api;
pub mod app;
pub mod auth;
pub mod callbacks;
pub mod campaigns;
pub mod cluster;
pub mod config;
pub mod coord;
pub mod demo;
pub mod directory;
pub mod dispatch;
pub mod domain;
pub mod inbound;
pub mod ingress;
pub mod links;
pub mod loadgen;
pub mod net;
pub mod providers;
pub mod sim;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod whatsapp;
