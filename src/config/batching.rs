//! `[dispatch.batch]`: campaign messages gathered into one provider request, for the
//! providers whose API takes several messages at once (`providers::batch`). Single sends are
//! never gathered: they go at once, one request each.

use crate::domain::ProviderKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Longest wait for a batch to fill before a smaller one goes (milliseconds). 0: send
    /// whatever is queued at once. A credential's `batchLingerMs` field overrides it.
    pub linger_ms: u64,
    /// Most campaign messages per request, by provider; 1 turns batching off. Capped by what
    /// the provider takes (4jawaly: 100 numbers); a credential's `batchSize` overrides it.
    pub max_messages: BatchSizes,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BatchSizes {
    pub infobip: usize,
    #[serde(rename = "4jawaly")]
    pub fourjawaly: usize,
    pub unifonic: usize,
    pub yamamah: usize,
    pub shastra: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { linger_ms: 20, max_messages: BatchSizes::default() }
    }
}

impl Default for BatchSizes {
    fn default() -> Self {
        Self { infobip: 100, fourjawaly: 100, unifonic: 100, yamamah: 100, shastra: 100 }
    }
}

impl BatchSizes {
    /// The configured size for a provider; 1 (no batching) for providers without a list API.
    pub fn of(&self, p: ProviderKind) -> usize {
        match p {
            ProviderKind::Infobip => self.infobip,
            ProviderKind::FourJawaly => self.fourjawaly,
            ProviderKind::Unifonic => self.unifonic,
            ProviderKind::Yamamah => self.yamamah,
            ProviderKind::Shastra => self.shastra,
            _ => 1,
        }
    }

    pub(crate) fn problems(&self, out: &mut Vec<String>) {
        for (name, v) in [("infobip", self.infobip), ("4jawaly", self.fourjawaly), ("unifonic", self.unifonic), ("yamamah", self.yamamah), ("shastra", self.shastra)] {
            if v == 0 {
                out.push(format!("dispatch.batch.max_messages.{name}: must be at least 1 (1 turns batching off)"));
            }
        }
    }
}
