//! Infobip delivery reports: a JSON POST `{"results":[…]}` to the per-message
//! `webhooks.delivery.url` (v3) / `notifyUrl` (v2), possibly several reports per POST.
//!
//! Infobip signs nothing on per-message report webhooks (its notes: no signature by default;
//! HMAC only on account-wide subscriptions, scheme unconfirmed). A report is therefore taken on
//! the per-credential URL alone, checked only so far as the credential of the URL must be the
//! Infobip credential of the message's association that sent it. Restrict the callback route
//! to Infobip's addresses at the proxy where that matters.

use super::{Callback, InboundError, Receipt, Receivers, MAX_REPORTS};
use crate::domain::ProviderKind;
use crate::status::{ReportStatus, StatusEvent, StatusService};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reports {
    #[serde(default)]
    results: Vec<Report>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    done_at: Option<String>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    error: Option<ErrorObj>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    group_id: Option<i64>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorObj {
    #[serde(default)]
    group_id: Option<i64>,
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Infobip's status (group id, or group name, and status name), normalised.
fn map_status(s: &Status) -> ReportStatus {
    let group = s.group_id.or_else(|| {
        Some(match s.group_name.as_deref()? {
            "PENDING" | "ACCEPTED" => 1,
            "UNDELIVERABLE" => 2,
            "DELIVERED" => 3,
            "EXPIRED" => 4,
            "REJECTED" => 5,
            _ => return None,
        })
    });
    match group {
        // DELIVERED_TO_OPERATOR is in the DELIVERED group but says nothing of the handset.
        Some(3) if s.name.as_deref() == Some("DELIVERED_TO_OPERATOR") => ReportStatus::Sent,
        Some(3) => ReportStatus::Delivered,
        Some(2) => ReportStatus::Undelivered,
        Some(4) => ReportStatus::Expired,
        Some(5) => ReportStatus::Failed,
        _ => ReportStatus::Pending,
    }
}

/// `2025-11-20T07:00:04.000+0000` (Infobip's offset has no colon) as Unix ms.
fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok().map(|d| d.timestamp_millis())
}

/// The normalised events of a report body.
fn events(body: &[u8], credential_id: i64) -> Result<Vec<StatusEvent>, InboundError> {
    let reports: Reports = serde_json::from_slice(body).map_err(|e| InboundError::Malformed(format!("not an Infobip report body: {e}")))?;
    if reports.results.len() > MAX_REPORTS {
        return Err(InboundError::Malformed(format!("more than {MAX_REPORTS} reports")));
    }
    let now = crate::domain::now_ms();
    reports
        .results
        .into_iter()
        .map(|r| {
            let id = r.message_id.filter(|m| !m.is_empty()).ok_or_else(|| InboundError::Malformed("messageId missing".into()))?;
            let status = r.status.ok_or_else(|| InboundError::Malformed("status missing".into()))?;
            let error = r.error.filter(|e| e.group_id.unwrap_or(0) != 0 || e.id.unwrap_or(0) != 0);
            Ok(StatusEvent {
                provider: ProviderKind::Infobip,
                credential_id: Some(credential_id),
                provider_message_id: id,
                status: map_status(&status),
                raw_status: status.name.or(status.group_name).unwrap_or_default(),
                error_code: error.as_ref().and_then(|e| e.name.clone().or_else(|| e.id.map(|i| i.to_string()))),
                error_text: error.and_then(|e| e.description),
                at: r.done_at.as_deref().and_then(parse_time).unwrap_or(now),
            })
        })
        .collect()
}

pub(super) async fn receive(r: &Receivers, cb: &Callback<'_>) -> Result<Receipt, InboundError> {
    let evs = events(cb.body, cb.credential_id)?;
    // Every report is located and checked before any is applied: one that is not the
    // credential's refuses the whole callback, unchanged.
    let found = r.locate_all(ProviderKind::Infobip, cb.credential_id, &evs).await?;
    let mut located = Vec::with_capacity(evs.len());
    let mut early = Vec::new();
    for (ev, l) in evs.into_iter().zip(found) {
        match l {
            Some(l) => located.push((l, ev)),
            None => early.push(ev),
        }
    }
    // Not known yet: kept until they are, if the URL names an Infobip credential.
    let (unknown, parked) = if early.is_empty() {
        (0, 0)
    } else if r.url_credential(ProviderKind::Infobip, cb.credential_id).await?.is_some() {
        let n = early.len();
        let parked = r.early.park(r, ProviderKind::Infobip, early).await?;
        (n - parked, parked)
    } else {
        early.iter().for_each(|_| StatusService::count_unknown(ProviderKind::Infobip));
        (early.len(), 0)
    };
    let mut receipt = r.apply_all(located, unknown).await?;
    receipt.parked = parked;
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_report_is_normalised() {
        let body = br#"{"results":[{"bulkId":"B","messageId":"2250be2d","to":"966500000000","doneAt":"2025-11-20T07:00:04.000+0000",
            "status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"},
            "error":{"groupId":0,"groupName":"OK","id":0,"name":"NO_ERROR","description":"No Error","permanent":false}},
            {"messageId":"x2","status":{"groupName":"UNDELIVERABLE","name":"UNDELIVERABLE_NOT_DELIVERED"},
            "error":{"groupId":1,"id":27,"name":"EC_ABSENT_SUBSCRIBER","description":"Absent subscriber"}}]}"#;
        let evs = events(body, 3).unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].status, ReportStatus::Delivered);
        assert_eq!(evs[0].raw_status, "DELIVERED_TO_HANDSET");
        assert_eq!(evs[0].error_code, None);
        assert_eq!(evs[0].at, 1_763_622_004_000);
        assert_eq!(evs[1].status, ReportStatus::Undelivered);
        assert_eq!(evs[1].error_code.as_deref(), Some("EC_ABSENT_SUBSCRIBER"));
        assert_eq!(evs[1].error_text.as_deref(), Some("Absent subscriber"));
        assert!(events(b"[1,2]", 3).is_err());
        assert!(events(br#"{"results":[{"status":{"groupId":3}}]}"#, 3).is_err());
    }
}
