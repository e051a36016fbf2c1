//! The routing decision, as documented under "Priority System": an `include` allocation
//! matching the recipient's country first, then `exclude` (all-except) allocations that do
//! not exclude it, then the association's default credential; within a level, higher
//! `priority` wins. The result is the ordered list of credentials to try: the first is the
//! route, the rest are the failover order (every other usable credential follows, defaults
//! first, so a message is not failed while a working credential exists).

use crate::domain::Channel;
use crate::domain::ProviderKind;
use crate::store::{AllocationRecord, CredentialRecord, RoutingType};

/// The route of a message sent through one named credential: that credential alone, if it
/// exists and delivers the message's channel (no failover: the sender chose it).
pub fn route_to(credential_id: i64, channel: Channel, credentials: &[CredentialRecord]) -> Vec<i64> {
    credentials
        .iter()
        .filter(|c| c.id == credential_id && ProviderKind::from_id(c.provider_id).is_some_and(|p| p.channels().contains(&channel)))
        .map(|c| c.id)
        .collect()
}

/// Credentials to try for one recipient, in order, without duplicates; only credentials of
/// providers that deliver `channel`, so failover stays within the channel.
pub fn route(country: Option<&str>, channel: Channel, credentials: &[CredentialRecord], allocations: &[AllocationRecord]) -> Vec<i64> {
    let usable = |id: i64| {
        credentials.iter().any(|c| {
            c.id == id && ProviderKind::from_id(c.provider_id).is_some_and(|p| p.channels().contains(&channel))
        })
    };
    let mut out: Vec<i64> = Vec::with_capacity(credentials.len());
    let push = |id: i64, out: &mut Vec<i64>| {
        if usable(id) && !out.contains(&id) {
            out.push(id);
        }
    };

    let by_priority = |level: RoutingType, matches: &dyn Fn(&AllocationRecord) -> bool| {
        let mut v: Vec<&AllocationRecord> = allocations.iter().filter(|a| a.routing_type == level && matches(a)).collect();
        // Higher priority first; among equals the older allocation (smaller id) first.
        v.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
        v.into_iter().map(|a| a.credential_id).collect::<Vec<_>>()
    };
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);

    if let Some(cc) = country {
        for id in by_priority(RoutingType::Include, &|a| a.country_code.as_deref().is_some_and(|c| eq(c, cc))) {
            push(id, &mut out);
        }
    }
    for id in by_priority(RoutingType::Exclude, &|a| match country {
        Some(cc) => !a.excluded_countries.iter().any(|x| eq(x, cc)),
        None => true,
    }) {
        push(id, &mut out);
    }
    let mut rest: Vec<&CredentialRecord> = credentials.iter().collect();
    // Defaults first, then the oldest credential.
    rest.sort_by(|a, b| b.is_default.cmp(&a.is_default).then(a.id.cmp(&b.id)));
    for c in rest {
        push(c.id, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(id: i64, provider_id: i64, default: bool) -> CredentialRecord {
        CredentialRecord {
            association_id: 1,
            id,
            provider_id,
            sender_name: "S".into(),
            credentials_sealed: vec![],
            api_url: None,
            is_default: default,
            created_at: 0,
            updated_at: 0,
            version: 0,
        }
    }

    fn include(id: i64, cred: i64, cc: &str, priority: i32) -> AllocationRecord {
        AllocationRecord {
            association_id: 1,
            id,
            credential_id: cred,
            routing_type: RoutingType::Include,
            country_code: Some(cc.into()),
            country_name: None,
            excluded_countries: vec![],
            priority,
            created_at: 0,
            updated_at: 0,
            version: 0,
        }
    }

    fn exclude(id: i64, cred: i64, except: &[&str], priority: i32) -> AllocationRecord {
        AllocationRecord {
            routing_type: RoutingType::Exclude,
            country_code: None,
            excluded_countries: except.iter().map(|s| s.to_string()).collect(),
            ..include(id, cred, "", priority)
        }
    }

    #[test]
    fn include_then_exclude_then_default_with_priorities() {
        let creds = [cred(10, 1, true), cred(11, 4, false), cred(12, 7, false), cred(13, 6, false)];
        let allocs = [
            include(1, 11, "SA", 5),
            include(2, 12, "SA", 10),
            exclude(3, 13, &["SA", "AE"], 5),
            exclude(4, 11, &["EG"], 1),
        ];
        // SA: both includes by priority, then the exclude rule that does not exclude SA.
        assert_eq!(route(Some("SA"), Channel::Sms, &creds, &allocs), vec![12, 11, 10, 13]);
        // AE: no include; exclude(3) excludes AE; exclude(4) applies; then default, then rest.
        assert_eq!(route(Some("AE"), Channel::Sms, &creds, &allocs), vec![11, 10, 12, 13]);
        // US: both exclude rules apply, higher priority first.
        assert_eq!(route(Some("US"), Channel::Sms, &creds, &allocs), vec![13, 11, 10, 12]);
        // No allocations: default first.
        assert_eq!(route(Some("US"), Channel::Sms, &creds, &[]), vec![10, 11, 12, 13]);
        // Case-insensitive country codes.
        assert_eq!(route(Some("sa"), Channel::Sms, &creds, &allocs)[0], 12);
    }

    #[test]
    fn channel_and_missing_credentials_filter_the_route() {
        let creds = [cred(10, 1, true), cred(12, 7, false), cred(14, 8, false)];
        // Twilio (7) and Meta (8) speak WhatsApp; Meta speaks nothing else.
        assert_eq!(route(Some("SA"), Channel::Whatsapp, &creds, &[]), vec![12, 14]);
        assert_eq!(route(Some("SA"), Channel::Sms, &creds, &[]), vec![10, 12]);
        // An SMS allocation to the Meta credential is skipped for SMS, and a WhatsApp
        // allocation leads for WhatsApp.
        assert_eq!(route(Some("SA"), Channel::Sms, &creds, &[include(1, 14, "SA", 9)]), vec![10, 12]);
        assert_eq!(route(Some("SA"), Channel::Whatsapp, &creds, &[include(1, 14, "SA", 9)]), vec![14, 12]);
        // A named credential is used only for a channel it delivers.
        assert_eq!(route_to(14, Channel::Whatsapp, &creds), vec![14]);
        assert!(route_to(14, Channel::Sms, &creds).is_empty());
        assert!(route_to(99, Channel::Sms, &creds).is_empty());
        // An allocation to a deleted credential is skipped.
        assert_eq!(route(Some("SA"), Channel::Sms, &creds, &[include(1, 99, "SA", 9)]), vec![10, 12]);
        assert!(route(Some("SA"), Channel::Sms, &[], &[]).is_empty());
    }
}
