//! Reconciliation of lost Sidobe webhooks: a small poller that takes the sends dispatch
//! followed ([`crate::providers::awaiting`]) still unconfirmed `gateways.sidobe_reconcile_after_ms`
//! after they were accepted, asks Sidobe for each (`GET /whatsapp-messages/:id`), and hands
//! a final answer to the same status path as the webhook would have. A message still
//! `PENDING` there, or a look-up that failed, is asked again later (at most
//! [`MAX_LOOKUPS`] times); an id Sidobe does not know is dropped with a warning.

use super::{sidobe, Receivers};
use crate::config::GatewaysConfig;
use crate::domain::now_ms;
use crate::providers::awaiting::{AwaitedSend, Awaiting};
use crate::providers::sidobe::{detail_request, parse_detail, SidobeStatus};
use crate::providers::{ProviderAdapter, ProviderCredential, Sidobe};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Look-ups of one message before it is given up (it stays `sent`).
pub const MAX_LOOKUPS: u32 = 12;
/// Look-ups per tick.
const BATCH: usize = 500;

/// Runs until `stop`.
pub fn spawn(receivers: Arc<Receivers>, awaiting: Arc<Awaiting>, http: reqwest::Client, config: GatewaysConfig, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_millis(config.sidobe_reconcile_interval_ms.max(10));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            for s in awaiting.take_due(now_ms(), BATCH) {
                if stop.is_cancelled() {
                    return;
                }
                if let Some(again) = receivers.reconcile_one(&http, s, &config).await {
                    awaiting.note(again);
                }
            }
        }
    })
}

impl Receivers {
    /// One look-up; returns the entry to follow again, if any.
    async fn reconcile_one(&self, http: &reqwest::Client, mut s: AwaitedSend, config: &GatewaysConfig) -> Option<AwaitedSend> {
        s.lookups += 1;
        let retry = |mut s: AwaitedSend, after_ms: u64| {
            (s.lookups < MAX_LOOKUPS).then(|| {
                s.due_at = now_ms() + after_ms as i64;
                s
            })
        };
        let cred = match sidobe::credential(self, s.credential_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(credential = s.credential_id, message = s.message_id, error = %e, "sidobe reconciliation: credential gone");
                return None;
            }
        };
        let Ok(fields) = self.directory.credentials_of(&cred) else { return None };
        let base = cred.api_url.clone().unwrap_or_else(|| Sidobe.default_base_url().to_owned());
        let pc = ProviderCredential::new(cred.id, fields, base.trim_end_matches('/').to_owned());
        let answer = match detail_request(http, &pc, &s.provider_message_id) {
            Ok(req) => match req.timeout(Duration::from_secs(15)).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.bytes().await {
                        Ok(body) => parse_detail(status, &body),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let outcome = match answer {
            Ok(Some(SidobeStatus::Pending)) => return retry(s, config.sidobe_reconcile_after_ms),
            Ok(Some(st)) => st,
            Ok(None) => {
                tracing::warn!(message = s.message_id, id = %s.provider_message_id, "sidobe reconciliation: Sidobe does not know the message");
                return None;
            }
            Err(e) => {
                tracing::info!(message = s.message_id, error = %e, "sidobe reconciliation: look-up failed, will retry");
                return retry(s, config.sidobe_reconcile_interval_ms);
            }
        };
        let ev = sidobe::event(s.credential_id, &s.provider_message_id, outcome, now_ms());
        match sidobe::apply(self, &cred, ev).await {
            Ok(_) => {
                tracing::info!(message = s.message_id, status = outcome.as_str(), "sidobe reconciliation: status taken from the detail endpoint");
                None
            }
            Err(e) => {
                tracing::warn!(message = s.message_id, error = %e, "sidobe reconciliation: status not recorded, will retry");
                retry(s, config.sidobe_reconcile_interval_ms)
            }
        }
    }
}
