//! `WatchCampaign`: a server stream of a campaign's progress. A task polls the campaign
//! service (live counters while it runs) at most every `min_interval_ms` and sends a snapshot
//! whenever status or counters changed. It ends after the final snapshot (completed, or
//! cancelled with its final counts written), when the client goes away, or when the engine
//! shuts down (with UNAVAILABLE: watch again after the restart). Snapshots carry the
//! campaign's delivery-report counters; with `reports_idle_ms` the stream outlives the
//! campaign's completion until every sent message has an outcome or reports stop coming.

use super::{convert, pb, GrpcApi};
use crate::api::http::{visible_campaign, ApiError};
use crate::store::stats::DeliveryCounts;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

pub type ProgressStream = ReceiverStream<Result<pb::CampaignProgress, Status>>;

const DEFAULT_INTERVAL_MS: u32 = 500;
const MIN_INTERVAL_MS: u32 = 100;
const MAX_REPORTS_IDLE_MS: u32 = 600_000;

pub async fn watch_campaign(api: &GrpcApi, req: Request<pb::WatchCampaignRequest>) -> Result<ProgressStream, ApiError> {
    let caller = api.caller(&req, api.client_ip(&req)).await?;
    let r = req.into_inner();
    let id = r.campaign_id;
    // Checked before the stream starts, so a wrong id is an error, not an empty stream.
    visible_campaign(&api.state, caller, id).await?;
    let interval = Duration::from_millis(u64::from(match r.min_interval_ms {
        0 => DEFAULT_INTERVAL_MS,
        ms => ms.max(MIN_INTERVAL_MS),
    }));
    let reports_idle = (r.reports_idle_ms > 0).then(|| Duration::from_millis(u64::from(r.reports_idle_ms.min(MAX_REPORTS_IDLE_MS))));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (campaigns, shutdown, store) = (api.state.campaigns.clone(), api.shutdown.clone(), api.state.store.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = None;
        let mut changed_at = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tx.closed() => return,
                _ = shutdown.cancelled() => {
                    let _ = tx.send(Err(Status::unavailable("engine shutting down; watch again once it is back"))).await;
                    return;
                }
            }
            let c = match campaigns.get(id).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(Status::from(ApiError::from(e)))).await;
                    return;
                }
            };
            let d = match DeliveryCounts::of_campaign(store.as_ref(), id).await {
                Ok(d) => d,
                Err(e) => {
                    let _ = tx.send(Err(Status::from(ApiError::from(e)))).await;
                    return;
                }
            };
            let key = (c.status, c.sent, c.failed, c.cancelled, d);
            if last != Some(key) {
                last = Some(key);
                changed_at = tokio::time::Instant::now();
                if tx.send(Ok(convert::progress(&c, d))).await.is_err() {
                    return;
                }
            }
            // Final once the row is final and nothing tracks it live any more (a cancelled
            // campaign's final counts are written after its status), and, when asked to
            // follow the reports, once they are all in or have stopped coming.
            if c.status.is_final() && campaigns.is_settled(id) {
                match reports_idle {
                    None => return,
                    Some(idle) if d.delivered + d.undelivered + d.expired >= c.sent || changed_at.elapsed() >= idle => return,
                    Some(_) => {}
                }
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}
