//! Reconciliation of lost Sidobe webhooks: a small poller that takes the sends dispatch
//! followed ([`crate::providers::awaiting`]) still unconfirmed `gateways.sidobe_reconcile_after_ms`
//! after they were accepted, asks Sidobe for each (`GET /whatsapp-messages/:id`), and hands
//! a final answer to the same status path as the webhook would have. A message still
//! `PENDING` there, or a look-up that failed, is asked again later (at most
//! [`MAX_LOOKUPS`] times); an id Sidobe does not know is dropped with a warning.
//!
//! What is awaited survives a restart (kill -9 included) because it is not state of its
//! own: it is derived from the message rows, the durable truth. On start, before its first
//! tick, the poller reads back every Sidobe credential's WhatsApp messages now `sent` (the
//! store's SENT class index of `GET /api/v1/whatsapp-messages`, newest first, paged; no scan)
//! accepted within the follow-up window (`sidobe_reconcile_after_ms` × ([`MAX_LOOKUPS`] + 1):
//! older ones would have been given up), and follows them again from their `sent` time. A
//! message whose SUCCESS webhook came before the restart is `sent` as well, so it may be
//! looked up once more; the answer changes nothing (the status path is idempotent).

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
        tokio::select! {
            n = receivers.recover_awaited(&awaiting, &config) => match n {
                Ok(n) if n > 0 => tracing::info!(messages = n, "sidobe reconciliation: sends awaiting a webhook followed again after the restart"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sidobe reconciliation: sends awaiting a webhook not read back"),
            },
            _ = stop.cancelled() => return,
        }
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

/// Messages read per page while recovering.
const RECOVER_PAGE: usize = 500;

impl Receivers {
    /// Follows again the Sidobe sends still `sent` within the follow-up window (see the
    /// module header); how many. Bounded by `sidobe_reconcile_max`.
    pub async fn recover_awaited(&self, awaiting: &Awaiting, config: &GatewaysConfig) -> Result<usize, crate::store::StoreError> {
        use crate::store::whatsapp_messages::{WaMessageQuery, WaStatus};
        let code = crate::domain::ProviderKind::Sidobe.code();
        let sidobe_id = crate::domain::ProviderKind::Sidobe.id();
        let after = config.sidobe_reconcile_after_ms as i64;
        let since = now_ms() - after.saturating_mul(MAX_LOOKUPS as i64 + 1);
        let mut noted = 0usize;
        let mut last = None;
        loop {
            let associations = self.store.list_associations(last, 500).await?;
            let Some(tail) = associations.last() else { break };
            last = Some(tail.id);
            for a in &associations {
                let creds = self.store.list_credentials(a.id).await?;
                if !creds.iter().any(|c| c.provider_id == sidobe_id) {
                    continue;
                }
                let mut offset = 0;
                'pages: loop {
                    let q = WaMessageQuery { association_id: a.id, status: Some(WaStatus::Sent), recipient_digits: None, recipient_anywhere: false, offset, limit: RECOVER_PAGE };
                    let page = self.store.list_wa_messages(&q).await?;
                    let n = page.items.len();
                    for m in page.items {
                        // Newest first by id, so by creation: once one was created and sent
                        // before the window, the walk stops (bounded). A message created
                        // earlier still but sent inside the window (scheduled long ahead) is
                        // then not followed; its webhook still applies when it comes.
                        if m.created_at < since && m.updated_at < since {
                            break 'pages;
                        }
                        if m.updated_at < since {
                            continue;
                        }
                        let (Some(cid), Some(pid)) = (m.credential_id, m.provider_message_id.clone().filter(|p| !p.is_empty())) else { continue };
                        if m.provider.as_deref() != Some(code) || m.status != crate::store::MessageStatus::Sent {
                            continue;
                        }
                        awaiting.note(AwaitedSend { message_id: m.id, credential_id: cid, provider_message_id: pid, due_at: m.updated_at + after, lookups: 0 });
                        noted += 1;
                        if noted >= config.sidobe_reconcile_max {
                            return Ok(noted);
                        }
                    }
                    if n < RECOVER_PAGE {
                        break;
                    }
                    offset += n;
                }
            }
        }
        Ok(noted)
    }

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
