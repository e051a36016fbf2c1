//! What the credential actor does for the WhatsApp gateways beyond sending:
//! * the WA-Web gateway's client status (`GET /api/clients`), polled every
//!   `gateways.waweb_client_poll_ms` into the actor as [`CredMsg::ClientHealth`]: a client that
//!   is not `Authenticated` (QR code pending, logged out, missing) opens the credential's
//!   circuit with that reason, so its messages fail over to the association's next WhatsApp
//!   credential at once instead of each waiting out its retries;
//! * Sidobe's accepted sends, noted in [`crate::providers::awaiting`] for reconciliation.

use super::credential::CredMsg;
use super::DispatchContext;
use crate::domain::{now_ms, ProviderKind};
use crate::providers::awaiting::AwaitedSend;
use crate::providers::waweb::{self, ClientHealth};
use crate::providers::ProviderCredential;
use ractor::ActorRef;
use std::sync::Arc;
use std::time::Duration;

/// Starts the poll of a WA-Web credential's client (nothing for other providers). It ends
/// when the actor is gone.
pub(super) fn spawn_poll(ctx: &Arc<DispatchContext>, provider: ProviderKind, cred: ProviderCredential, me: ActorRef<CredMsg>) {
    if provider != ProviderKind::WaWebGateway {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let client_id = cred.field("clientId").to_owned();
        loop {
            let verdict = poll_once(ctx.http.reqwest(), &cred, &client_id).await;
            if let Some(down) = verdict {
                if me.cast(CredMsg::ClientHealth(down)).is_err() {
                    return;
                }
            } else if me.get_status() == ractor::ActorStatus::Stopped {
                return;
            }
            let every = ctx.gateways.read().waweb_client_poll_ms.max(100);
            tokio::time::sleep(Duration::from_millis(every)).await;
            if matches!(me.get_status(), ractor::ActorStatus::Stopped | ractor::ActorStatus::Stopping) {
                return;
            }
        }
    });
}

/// `Some(None)`: authenticated; `Some(Some(reason))`: cannot send; `None`: no verdict (the
/// gateway did not answer readably: the last verdict stands, the send path's own errors decide).
async fn poll_once(http: &reqwest::Client, cred: &ProviderCredential, client_id: &str) -> Option<Option<String>> {
    let req = match waweb::clients_request(http, cred) {
        Ok(r) => r.timeout(Duration::from_secs(10)),
        Err(e) => return Some(Some(e.to_string())),
    };
    let resp = req.send().await.ok()?;
    let status = resp.status();
    let body = resp.bytes().await.ok()?;
    match waweb::parse_clients(status, &body, client_id) {
        Ok(ClientHealth::Authenticated) => Some(None),
        Ok(ClientHealth::NotAuthenticated(state)) => Some(Some(format!("gateway client `{client_id}` is not authenticated ({state})"))),
        Ok(ClientHealth::Missing) => Some(Some(format!("gateway client `{client_id}` is not on the gateway's client list"))),
        Err(e) => {
            tracing::debug!(client = client_id, error = %e, "gateway client list unreadable");
            None
        }
    }
}

/// Keeps the last verdict where the API and console can show it.
pub(super) fn record(ctx: &DispatchContext, credential_id: i64, down: Option<String>) {
    let mut map = ctx.client_health.lock();
    match down {
        Some(reason) => {
            map.insert(credential_id, reason);
        }
        None => {
            map.remove(&credential_id);
        }
    }
}

/// Follows an accepted Sidobe send until its webhook confirms it (or reconciliation does).
pub(super) fn follow(ctx: &DispatchContext, provider: ProviderKind, credential_id: i64, message_id: i64, provider_message_id: &str) {
    if provider != ProviderKind::Sidobe || provider_message_id.is_empty() {
        return;
    }
    let after = ctx.gateways.read().sidobe_reconcile_after_ms as i64;
    ctx.awaiting.note(AwaitedSend { message_id, credential_id, provider_message_id: provider_message_id.to_owned(), due_at: now_ms() + after, lookups: 0 });
}
