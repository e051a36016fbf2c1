//! Validity periods: how long a message may take to be delivered. A send's own
//! `validityPeriod` (seconds) wins, then its association's default, then the engine's
//! (`delivery.default_validity_secs`, 48 h). The deadline is counted from the time the
//! message is due (its `scheduledAt`, else its acceptance) and stored on the message
//! (`MessageRecord::expires_at`): dispatch does not send a message past it, providers that
//! take a validity are given what is left (Twilio, Infobip), and the expiry sweeper
//! (`status::expiry`) ends a sent message that no report decided by then `expired`.

use crate::config::DeliveryConfig;
use crate::store::AssociationRecord;

/// The engine's bounds, from `[delivery]`.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub default_secs: u64,
    pub max_secs: u64,
}

impl From<&DeliveryConfig> for Validity {
    fn from(c: &DeliveryConfig) -> Self {
        Self { default_secs: c.default_validity_secs, max_secs: c.max_validity_secs }
    }
}

impl Default for Validity {
    fn default() -> Self {
        (&DeliveryConfig::default()).into()
    }
}

/// A `validityPeriod` (seconds) within 1..=`max`, or what is wrong with it.
pub fn check(secs: u32, max: u64) -> Result<(), String> {
    if secs == 0 || u64::from(secs) > max {
        Err(format!("validityPeriod must be between 1 and {max} seconds (got {secs})"))
    } else {
        Ok(())
    }
}

impl Validity {
    /// The deadline (Unix ms) of a message due at `due_ms` whose send asked for `requested`
    /// seconds, or a message naming the field when the request is out of range.
    pub fn deadline(&self, requested: Option<u32>, association: &AssociationRecord, due_ms: i64) -> Result<i64, String> {
        if let Some(secs) = requested {
            check(secs, self.max_secs)?;
        }
        let secs = requested
            .map(u64::from)
            .or(association.validity_period_secs.map(u64::from))
            .unwrap_or(self.default_secs)
            .min(self.max_secs);
        Ok(due_ms.saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)))
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn assoc(v: Option<u32>) -> AssociationRecord {
        AssociationRecord {
            id: 1,
            name: "a".into(),
            allowed_domains: vec![],
            is_active: true,
            api_key_hash: vec![],
            admin_key_hash: vec![],
            secret_key_sealed: vec![],
            ip_allowlist: vec![],
            created_at: 0,
            updated_at: 0,
            version: 1,
            status_callback_url: None,
            validity_period_secs: v,
            sms: Default::default(),
        }
    }

    #[test]
    fn the_send_wins_then_the_association_then_the_engine() {
        let v = Validity { default_secs: 172_800, max_secs: 604_800 };
        assert_eq!(v.deadline(Some(60), &assoc(Some(3600)), 1_000).unwrap(), 61_000);
        assert_eq!(v.deadline(None, &assoc(Some(3600)), 1_000).unwrap(), 3_601_000);
        assert_eq!(v.deadline(None, &assoc(None), 0).unwrap(), 172_800_000);
    }

    #[test]
    fn out_of_range_requests_are_refused_by_name() {
        let v = Validity { default_secs: 100, max_secs: 1_000 };
        assert!(v.deadline(Some(0), &assoc(None), 0).unwrap_err().contains("validityPeriod"));
        assert!(v.deadline(Some(1_001), &assoc(None), 0).unwrap_err().contains("between 1 and 1000"));
        // An association default above a lowered engine maximum is capped, not refused.
        assert_eq!(v.deadline(None, &assoc(Some(5_000)), 0).unwrap(), 1_000_000);
    }
}
