//! Translation between the protobuf messages and the engine's records: enums, timestamps,
//! and the views of a notification and a campaign. No logic beyond the mapping.

use super::pb;
use crate::api::http::{ApiError, TimelineEntry};
use crate::store::stats::DeliveryCounts;
use crate::store::{AttemptRecord, CampaignRecord, CampaignStatus, MessageRecord, MessageStatus};

/// The engine's channel name of a proto channel (unspecified means SMS).
pub fn channel(value: i32) -> Result<&'static str, ApiError> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::Unspecified | pb::Channel::Sms) => Ok("sms"),
        Ok(pb::Channel::Whatsapp) => Ok("whatsapp"),
        Err(_) => Err(ApiError::invalid(format!("channel: {value} is not one of CHANNEL_SMS, CHANNEL_WHATSAPP"))),
    }
}

fn channel_of(name: &str) -> pb::Channel {
    if name == "whatsapp" {
        pb::Channel::Whatsapp
    } else {
        pb::Channel::Sms
    }
}

pub fn message_status(s: MessageStatus) -> pb::NotificationStatus {
    use pb::NotificationStatus as P;
    match s {
        MessageStatus::Queued => P::Queued,
        MessageStatus::Scheduled => P::Scheduled,
        MessageStatus::Dispatching => P::Dispatching,
        MessageStatus::Sent => P::Sent,
        MessageStatus::Delivered => P::Delivered,
        MessageStatus::Failed => P::Failed,
        MessageStatus::Cancelled => P::Cancelled,
        MessageStatus::Expired => P::Expired,
        MessageStatus::Undelivered => P::Undelivered,
        MessageStatus::Read => P::Read,
    }
}

pub fn campaign_status(s: CampaignStatus) -> pb::CampaignStatus {
    match s {
        CampaignStatus::Scheduled => pb::CampaignStatus::Scheduled,
        CampaignStatus::Processing => pb::CampaignStatus::Processing,
        CampaignStatus::Completed => pb::CampaignStatus::Completed,
        CampaignStatus::Cancelled => pb::CampaignStatus::Cancelled,
        // Never answered by SendBulk (it answers once the campaign is stored); a watcher that
        // guessed an id in the making sees "unspecified" until then.
        CampaignStatus::Ingesting => pb::CampaignStatus::Unspecified,
    }
}

/// Unix milliseconds of a protobuf timestamp.
pub fn ms_of(t: prost_types::Timestamp) -> i64 {
    t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000)
}

pub fn timestamp(ms: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 })
}

pub fn timeline_event(e: TimelineEntry) -> pb::TimelineEvent {
    pb::TimelineEvent {
        event: e.event.to_string(),
        status: e.status.map_or(pb::NotificationStatus::Unspecified, message_status) as i32,
        source: e.source.unwrap_or_default(),
        attempt: e.attempt.unwrap_or_default(),
        result: e.result.unwrap_or_default(),
        provider_status: e.provider_status.unwrap_or_default(),
        error_code: e.error_code.unwrap_or_default(),
        error: e.error.unwrap_or_default(),
        at: timestamp(e.at.0),
    }
}

pub fn notification(m: MessageRecord, attempts: Vec<AttemptRecord>, timeline: Vec<TimelineEntry>) -> pb::Notification {
    pb::Notification {
        timeline: timeline.into_iter().map(timeline_event).collect(),
        id: m.id,
        association_id: m.association_id,
        campaign_id: m.campaign_id.unwrap_or_default(),
        recipient: m.recipient,
        country: m.country.unwrap_or_default(),
        message: m.body,
        channel: channel_of(&m.channel) as i32,
        priority: m.priority,
        status: message_status(m.status) as i32,
        provider: m.provider.unwrap_or_default(),
        credential_id: m.credential_id.unwrap_or_default(),
        provider_message_id: m.provider_message_id.unwrap_or_default(),
        error: m.error.unwrap_or_default(),
        attempts: attempts
            .into_iter()
            .map(|a| pb::Attempt {
                attempt: a.attempt,
                provider: a.provider,
                credential_id: a.credential_id,
                result: a.result,
                provider_message_id: a.provider_message_id.unwrap_or_default(),
                error: a.error.unwrap_or_default(),
                latency_ms: a.latency_ms,
                at: timestamp(a.at),
            })
            .collect(),
        created_at: timestamp(m.created_at),
        updated_at: timestamp(m.updated_at),
        encoding: sms_encoding(m.encoding) as i32,
        segments: m.segments,
    }
}

/// The proto's encoding of an SMS (unspecified: not an SMS, or stored before encodings).
pub fn sms_encoding(e: Option<crate::domain::sms::Encoding>) -> pb::SmsEncoding {
    match e {
        Some(crate::domain::sms::Encoding::Gsm7) => pb::SmsEncoding::Gsm7,
        Some(crate::domain::sms::Encoding::Ucs2) => pb::SmsEncoding::Ucs2,
        None => pb::SmsEncoding::Unspecified,
    }
}

pub fn progress(c: &CampaignRecord, d: DeliveryCounts) -> pb::CampaignProgress {
    pb::CampaignProgress {
        delivered: d.delivered,
        undelivered: d.undelivered,
        read: d.read,
        campaign_id: c.id,
        status: campaign_status(c.status) as i32,
        total_recipients: c.total_recipients,
        sent: c.sent,
        failed: c.failed,
        cancelled: c.cancelled,
        invalid_recipients: c.invalid_recipients,
        duplicates_removed: c.duplicates_removed,
        updated_at: timestamp(c.updated_at),
        segments: c.segments,
    }
}

/// A bounded metric label for a gRPC status code.
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_1970() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(ms_of(timestamp(ms).unwrap()), ms, "{ms}");
        }
    }

    #[test]
    fn channels_map_both_ways() {
        assert_eq!(channel(0).unwrap(), "sms");
        assert_eq!(channel(pb::Channel::Whatsapp as i32).unwrap(), "whatsapp");
        assert!(channel(42).unwrap_err().message().contains("channel: 42"));
        assert_eq!(channel_of("whatsapp"), pb::Channel::Whatsapp);
    }
}
