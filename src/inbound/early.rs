//! Reports that come before their message is known. A provider may report within
//! milliseconds of answering a send, before the engine's own `sent` write (which records the
//! provider's message id) is durable; and under load that write can lag by seconds. Such a
//! report is checked as far as it can be without its message (the callback URL's credential
//! exists and is this provider's; Twilio's signature verifies with it), then parked durably
//! (`store::delivery`, `parked_reports`) and answered 200. [`EarlyReports::run`] matches the
//! parked reports against the provider index every `delivery.early_report_scan_ms` and
//! applies each through the one status path once its message is known — with the same
//! ownership check as a report that found its message at once. A report still unmatched
//! after `delivery.early_report_ttl_ms` is dropped and counted as unknown.
//!
//! Bounded: at most `delivery.early_report_max` parked; past it a report counts as unknown
//! at once (answered 200, as before parking existed).

use super::{InboundError, Receivers};
use crate::config::DeliveryConfig;
use crate::domain::{now_ms, ProviderKind};
use crate::status::{ReportStatus, StatusEvent, StatusService};
use crate::store::{CredentialRecord, ParkedReport};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Parked reports read per scan.
const SCAN_BATCH: usize = 2_000;

/// The parked-report bookkeeping shared by the receivers and the matcher.
pub struct EarlyReports {
    /// How many are parked (approximately: exact at start, then kept by this process).
    parked: AtomicUsize,
    /// Orders several parked reports of one provider id.
    seq: AtomicU32,
    config: DeliveryConfig,
}

impl EarlyReports {
    pub fn new(config: DeliveryConfig) -> Self {
        Self { parked: AtomicUsize::new(0), seq: AtomicU32::new(0), config }
    }

    /// Parks reports whose message is not known yet; the ones over the bound count as
    /// unknown. Returns how many were parked. Durable on return.
    pub(crate) async fn park(&self, r: &Receivers, kind: ProviderKind, evs: Vec<StatusEvent>) -> Result<usize, InboundError> {
        let room = self.config.early_report_max.saturating_sub(self.parked.load(Ordering::Relaxed));
        let now = now_ms();
        let mut rows = Vec::with_capacity(evs.len().min(room));
        for ev in evs {
            if rows.len() >= room || ev.provider_message_id.is_empty() || ev.status == ReportStatus::Pending {
                StatusService::count_unknown(kind);
                continue;
            }
            rows.push(ParkedReport {
                provider: kind.code().to_owned(),
                provider_message_id: ev.provider_message_id,
                credential_id: ev.credential_id,
                status: ev.status.as_str().to_owned(),
                raw_status: ev.raw_status,
                error_code: ev.error_code,
                error_text: ev.error_text,
                at: ev.at,
                parked_at: now,
                seq: self.seq.fetch_add(1, Ordering::Relaxed),
            });
        }
        if rows.is_empty() {
            return Ok(0);
        }
        r.store.park_reports(&rows).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        self.parked.fetch_add(rows.len(), Ordering::Relaxed);
        metrics::counter!(crate::telemetry::DELIVERY_REPORTS_PARKED_TOTAL, "provider" => kind.code()).increment(rows.len() as u64);
        Ok(rows.len())
    }

    /// Matches parked reports until `stop`; one pass every `early_report_scan_ms`, while this
    /// engine leads ([`crate::coord::lease::Ownership::leads`]): the parked rows are shared by every engine on one
    /// store, so one matches them. The leader passes whatever its own count says: other
    /// engines park reports it never counted, and ownership cannot tell it is alone (a node
    /// that took every partition over owns all, like a single engine). A pass over no rows
    /// is one read of a handful of partitions.
    pub async fn run(self: Arc<Self>, receivers: Arc<Receivers>, owned: Arc<crate::coord::lease::Ownership>, stop: tokio_util::sync::CancellationToken) {
        if let Ok(rows) = receivers.store.list_parked_reports(self.config.early_report_max).await {
            self.parked.store(rows.len(), Ordering::Relaxed);
        }
        let every = Duration::from_millis(self.config.early_report_scan_ms);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            if !owned.leads() {
                continue;
            }
            metrics::counter!(crate::telemetry::SINGLETON_PASSES_TOTAL, "task" => "parked_reports").increment(1);
            if let Err(e) = self.pass(&receivers).await {
                tracing::warn!(error = %e, "parked delivery reports: pass failed; retrying");
            }
        }
    }

    /// One pass over the parked reports: apply the matched, drop the expired.
    pub async fn pass(&self, r: &Receivers) -> Result<usize, InboundError> {
        let rows = r.store.list_parked_reports(SCAN_BATCH).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        if rows.is_empty() {
            self.parked.store(0, Ordering::Relaxed);
            return Ok(0);
        }
        let now = now_ms();
        let ttl = i64::try_from(self.config.early_report_ttl_ms).unwrap_or(i64::MAX);
        let mut done = Vec::new();
        let mut applied = 0;
        for row in rows {
            let Some(kind) = ProviderKind::from_code(&row.provider) else {
                done.push(row);
                continue;
            };
            let found = r.store.find_by_provider_id(&row.provider, &row.provider_message_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
            let message = match found {
                Some(id) => r.store.get_message(id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?,
                None => None,
            };
            match message {
                Some(m) => {
                    match r.check(kind, row.credential_id.unwrap_or_default(), Some(m)).await {
                        Ok(Some(l)) => {
                            r.status.apply_located(vec![(l.message.id, event_of(kind, &row))]).await?;
                            applied += 1;
                        }
                        Ok(None) => {}
                        Err(InboundError::Forbidden(why)) => {
                            tracing::warn!(provider = kind.code(), id = %row.provider_message_id, why, "parked report dropped: its credential does not own the message");
                            metrics::counter!(crate::telemetry::DELIVERY_REPORTS_REJECTED_TOTAL, "provider" => kind.code(), "reason" => "forbidden").increment(1);
                        }
                        Err(e) => return Err(e),
                    }
                    done.push(row);
                }
                None if now.saturating_sub(row.parked_at) >= ttl => {
                    StatusService::count_unknown(kind);
                    done.push(row);
                }
                None => {}
            }
        }
        if !done.is_empty() {
            r.store.remove_parked_reports(&done).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
            let n = done.len();
            let _ = self.parked.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| Some(p.saturating_sub(n)));
        }
        Ok(applied)
    }

    /// Parked right now (as far as this process knows).
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }
}

fn event_of(kind: ProviderKind, row: &ParkedReport) -> StatusEvent {
    StatusEvent {
        provider: kind,
        credential_id: row.credential_id,
        provider_message_id: row.provider_message_id.clone(),
        status: ReportStatus::parse(&row.status).unwrap_or(ReportStatus::Pending),
        raw_status: row.raw_status.clone(),
        error_code: row.error_code.clone(),
        error_text: row.error_text.clone(),
        at: row.at,
    }
}

impl Receivers {
    /// The credential a callback URL names, if it exists and is one of `kind`'s.
    pub(crate) async fn url_credential(&self, kind: ProviderKind, credential_id: i64) -> Result<Option<CredentialRecord>, InboundError> {
        let unavailable = |e: crate::store::StoreError| InboundError::Unavailable(e.to_string());
        let Some(association_id) = self.store.credential_owner(credential_id).await.map_err(unavailable)? else { return Ok(None) };
        let cred = self.store.get_credential(association_id, credential_id).await.map_err(unavailable)?;
        Ok(cred.filter(|c| c.provider_id == kind.id()))
    }
}
