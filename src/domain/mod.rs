//! Domain types: ids, timestamps, associations, credentials, providers, messages.
//!
//! Pure data and rules, no I/O. Every other layer depends on this one; it depends on nothing
//! of the crate.

pub mod content;
pub mod email;
pub mod fallback;
pub mod ids;
pub mod input;
pub mod phone;
pub mod template;
pub mod provider;
pub mod slack;
pub mod sms;
pub mod sms_policy;
pub mod time;

pub use email::EmailContent;
pub use fallback::FallbackStep;
pub use content::{MediaItem, MediaKind, WhatsAppContent, WhatsAppTemplate};
pub use ids::IdGenerator;
pub use provider::{Channel, ProviderKind};
pub use time::{now_ms, Timestamp};
