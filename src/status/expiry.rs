//! The expiry sweeper: a message a provider accepted (`sent`) and that no report has decided
//! by the end of its validity period (plus `delivery.expiry_grace_ms`, for the provider's own
//! late report) ends `expired`. It reads the due rows of the `message_expiry` index (written
//! in the commit of each message's first `sent`; see `store::delivery`), never the messages,
//! and hands each as an engine status event to the store's one status decision, so a message
//! delivered meanwhile stays delivered and an expired one gets its history event, counters
//! and customer callback in one commit like any report. Messages not yet sent are expired by
//! dispatch itself when it picks them up (`dispatch::association`).

use crate::config::DeliveryConfig;
use crate::coord::lease::Ownership;
use std::sync::Arc;
use crate::domain::now_ms;
use crate::store::{MessageEvent, MessageStatus, SharedStore, StatusOutcome, StoreResult};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Due rows handled per pass.
const BATCH: usize = 1_000;

/// The error text of an expiry event.
pub const EXPIRED_REASON: &str = "no delivery report within the validity period";

/// Runs passes every `expiry_sweep_ms` until `stop`, while this engine leads (see
/// [`Ownership::leads`]): the index is shared by every engine on one store, so one sweeps it.
pub async fn run(store: SharedStore, config: DeliveryConfig, owned: Arc<Ownership>, stop: CancellationToken) {
    let every = Duration::from_millis(config.expiry_sweep_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        if !owned.leads() {
            continue;
        }
        metrics::counter!(crate::telemetry::SINGLETON_PASSES_TOTAL, "task" => "expiry").increment(1);
        loop {
            match pass(&store, &config, now_ms()).await {
                Ok(n) if n >= BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "expiry sweep failed; retrying");
                    break;
                }
            }
        }
    }
}

/// One pass at time `now`: returns how many due rows it handled.
pub async fn pass(store: &SharedStore, config: &DeliveryConfig, now: i64) -> StoreResult<usize> {
    let grace = i64::try_from(config.expiry_grace_ms).unwrap_or(i64::MAX);
    let due = store.due_expiries(now.saturating_sub(grace), BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let events: Vec<MessageEvent> = due
        .iter()
        .map(|e| MessageEvent {
            message_id: e.message_id,
            seq: 0,
            status: MessageStatus::Expired,
            at: now,
            source: "engine".into(), // as the engine's own status writes name themselves
            raw_status: None,
            error_code: None,
            error_text: Some(EXPIRED_REASON.into()),
        })
        .collect();
    for outcome in store.apply_status(&events).await? {
        if let StatusOutcome::Applied { after, .. } = outcome {
            metrics::counter!(crate::telemetry::MESSAGES_EXPIRED_TOTAL, "stage" => "sent").increment(1);
            crate::telemetry::message_reported(after.status.as_str(), &after.channel, after.provider.as_deref());
        }
    }
    store.remove_expiries(&due).await?;
    Ok(due.len())
}
