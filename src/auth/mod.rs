//! Authentication and authorisation, free of HTTP types.
//!
//! `secrets` loads the super-admin and master keys and seals data at rest; `keys` makes and
//! hashes association keys; `caller` decides who a request is from and what it may touch;
//! `ip` resolves client addresses and checks association IP allow-lists.
//! The HTTP extractor in `api::http::extract` and (later) the gRPC interceptor both produce a
//! [`Caller`] through [`Authenticator`].

pub mod caller;
pub mod ip;
pub mod keys;
pub mod replay;
pub mod secrets;
pub mod sessions;
pub mod twilio;
pub mod webhook;

pub use caller::{Authenticator, Caller};
pub use secrets::{AdminKey, MasterKey};

/// Why a caller was turned away. Messages are the documented API strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No or unknown key, or a key/secret pair that does not match.
    #[error("Invalid API key")]
    InvalidApiKey,
    /// The caller's association is deactivated.
    #[error("Inactive association")]
    InactiveAssociation,
    /// A valid caller reaching something it may not (another association, super-admin routes).
    #[error("{0}")]
    Forbidden(String),
    /// The caller's association only accepts requests from its `allowedIps`.
    #[error("IP not allowed")]
    IpNotAllowed,
    /// The store could not be read.
    #[error("authentication unavailable: {0}")]
    Unavailable(String),
    /// Dashboard: wrong username or password.
    #[error("Invalid username or password")]
    InvalidCredentials,
    /// Dashboard: no, expired or revoked session.
    #[error("{0}")]
    SessionRequired(String),
    /// A bad value in an authentication request (e.g. a too-short password).
    #[error("{0}")]
    Invalid(String),
    /// Operator management: no such operator.
    #[error("{0}")]
    NotFound(String),
    /// Operator management: the row kept changing under a write.
    #[error("{0}")]
    Conflict(String),
}
