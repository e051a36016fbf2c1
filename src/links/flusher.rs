//! The click flusher: every `flush_interval` it moves the counts of the cache into the
//! store in batched commits (`Store::add_link_clicks`), so a redirect never waits for a
//! durable write. Stopped by the app's shutdown token; the app flushes once more after the
//! HTTP listener has drained (`App::run_until_stopped`). A crash loses at most the counts of
//! the last interval.

use super::LinkService;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs until `stop` is cancelled, then flushes what is left.
pub(super) async fn run(links: Arc<LinkService>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(links.opts.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(e) = links.flush().await {
            // The counts stay pending and go with the next flush.
            tracing::warn!(error = %e, "flushing link clicks failed; retrying next interval");
        }
    }
    if let Err(e) = links.flush().await {
        tracing::warn!(error = %e, "final flush of link clicks failed");
    }
}
