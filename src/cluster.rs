//! Several engines on one store and one Redis: keeps this engine's node id lease
//! ([`crate::coord::lease`]) renewed, takes over the partitions of nodes whose lease expired
//! and recovers their work exactly as their restart would (unfinished messages to dispatch,
//! running campaigns to their pumps, due schedule entries to the scheduler), and stops the
//! engine when its own lease can no longer be renewed (it must not dispatch, nor generate
//! ids, under a node id another engine may hold by then).
//!
//! Sits above `dispatch` and `campaigns`, beside `app`, which starts it.

use crate::campaigns::CampaignService;
use crate::coord::lease::{NodeLease, Round};
use crate::dispatch::Dispatcher;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Renews every `every` until `done`; cancels `stop_engine` when the lease is lost.
pub fn spawn(
    lease: Arc<NodeLease>,
    every: Duration,
    dispatcher: Dispatcher,
    campaigns: Arc<CampaignService>,
    stop_engine: CancellationToken,
    done: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match lease.round().await {
                Round::Held { taken } => {
                    for node in taken {
                        take_over(node, &dispatcher, &campaigns).await;
                    }
                }
                Round::Unsure(e) => tracing::warn!(node = lease.node(), error = %e, "node lease not renewed this time; still within the lease"),
                Round::Lost(why) => {
                    tracing::error!(node = lease.node(), "node lease lost ({why}): this engine stops dispatching and shuts down");
                    dispatcher.begin_drain();
                    stop_engine.cancel();
                    return;
                }
            }
        }
    })
}

/// Makes partition `node` this engine's and recovers its work.
async fn take_over(node: u8, dispatcher: &Dispatcher, campaigns: &Arc<CampaignService>) {
    tracing::info!(partition = node, "node {node}'s lease expired: taking over its unfinished messages, schedules and campaigns");
    dispatcher.ownership().add(node);
    let recovery = dispatcher.recover_partition(node);
    if let Err(e) = campaigns.resume_owned(Some(node)).await {
        tracing::error!(partition = node, error = %e, "resuming the campaigns taken over failed");
    }
    // Its due schedule entries are ours now.
    campaigns.schedule_changed();
    tokio::spawn(async move {
        match recovery.await {
            Ok(Ok(n)) => tracing::info!(partition = node, messages = n, "took over node {node}'s unfinished messages"),
            Ok(Err(e)) => tracing::error!(partition = node, error = %e, "recovering the messages taken over failed"),
            Err(e) => tracing::error!(partition = node, error = %e, "recovery task of the messages taken over failed"),
        }
    });
}
