//! `GET /dashboard/overview/stream`: the overview as server-sent events, so an open console
//! stops polling. One `overview` event at once, then one after every sample of the engine's
//! counters (`api::console::live`, every 5 s), each the same JSON as `GET /overview`; a
//! heartbeat comment every 15 s keeps proxies from closing an idle stream. Bounded: a
//! session holds at most three streams (409 beyond: the console polls then), and a stream
//! ends with an `end` event when its session logs out, expires or is revoked (checked
//! before every event), and when the engine stops.

use super::overview::{self, OverviewQuery, OverviewView};
use super::Dash;
use crate::api::console::streams::Slot;
use crate::api::http::extract::QueryParams;
use crate::api::http::{ApiError, AppState};
use crate::auth::sessions::Operator;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub const HEARTBEAT_MS: u64 = 15_000;

struct Stream {
    s: AppState,
    operator: Operator,
    token: String,
    requested: Option<i64>,
    ticks: watch::Receiver<i64>,
    ended: broadcast::Receiver<Vec<u8>>,
    slot: Slot,
    first: Option<OverviewView>,
    done: bool,
}

pub async fn stream(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<OverviewQuery>) -> Result<Response, ApiError> {
    // The scope is checked (and the first view built) before the stream starts, so a
    // refused one is an error answer, not an empty stream.
    let first = overview::view(&s, &dash.operator, q.association_id).await?;
    let slot = s.console.streams.open(&dash.token).map_err(|e| ApiError::Conflict(e.to_string()))?;
    let mut ticks = s.console.ticks();
    ticks.mark_unchanged();
    let st = Stream {
        ended: s.console.streams.ended(),
        s: s.clone(),
        operator: dash.operator,
        token: dash.token,
        requested: q.association_id,
        ticks,
        slot,
        first: Some(first),
        done: false,
    };
    // A task makes the events; it ends (freeing the slot) as soon as the client goes.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(2);
    tokio::spawn(async move {
        let mut st = st;
        loop {
            let ev = tokio::select! {
                _ = tx.closed() => return,
                ev = next(&mut st) => ev,
            };
            match ev {
                Some(ev) => {
                    if tx.send(Ok(ev)).await.is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    });
    let events = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut resp = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_millis(HEARTBEAT_MS)).text("heartbeat")).into_response();
    // Not buffered by a proxy (nginx honours this header).
    resp.headers_mut().insert("x-accel-buffering", axum::http::HeaderValue::from_static("no"));
    Ok(resp)
}

fn overview_event(v: &OverviewView) -> Event {
    Event::default().event("overview").data(serde_json::to_string(v).unwrap_or_else(|_| "{}".into()))
}

fn end_event(reason: &str) -> Event {
    Event::default().event("end").data(serde_json::json!({ "reason": reason }).to_string())
}

/// The stream's next event; `None` once it has ended.
async fn next(st: &mut Stream) -> Option<Event> {
    if st.done {
        return None;
    }
    if let Some(v) = st.first.take() {
        return Some(overview_event(&v));
    }
    let stop = st.s.console.stop.clone();
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                st.done = true;
                return Some(end_event("The engine is stopping"));
            }
            changed = st.ticks.changed() => {
                if changed.is_err() {
                    return None;
                }
                if let Err(e) = st.s.sessions.resolve(Some(&st.token)).await {
                    st.done = true;
                    return Some(end_event(&ApiError::from(e).message()));
                }
                let ev = match overview::view(&st.s, &st.operator, st.requested).await {
                    Ok(v) => overview_event(&v),
                    // A failed read (the store busy) is told and the stream goes on.
                    Err(e) => Event::default().event("problem").data(serde_json::json!({ "error": e.message() }).to_string()),
                };
                return Some(ev);
            }
            ended = st.ended.recv() => match ended {
                Ok(session) if session == st.slot.session => {
                    st.done = true;
                    return Some(end_event("Logged out"));
                }
                // Another session's log-out, or notices missed (the next tick checks the session).
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            },
        }
    }
}
