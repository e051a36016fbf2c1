//! The store's [`StatusObserver`]: on every status change the store commits, it decides
//! whether the message has a callback URL (the send's `callbackUrl`, else its campaign's,
//! else its association's `statusCallbackUrl`) and, if so, answers the outbox row written in
//! the same commit.
//!
//! It runs on the store's committer thread, so it does little: the message row is at hand,
//! and the URLs of campaigns and associations come from caches. A miss reads one row (a point
//! read of the embedded store, synchronous under its async signature). Association entries
//! are dropped by writes through this node ([`UrlCache::invalidate_association`]) and live at
//! most [`ASSOCIATION_TTL`] otherwise (writes through another node sharing the store); a
//! campaign's URL never changes. Depends on `store` and `domain`.

use crate::domain::Timestamp;
use crate::store::{MessageEvent, MessageRecord, OutboxEntry, StatusObserver, Store};
use parking_lot::RwLock;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How long an association's URL is trusted without re-reading it.
pub const ASSOCIATION_TTL: Duration = Duration::from_secs(5);
/// Entries kept per cache; beyond it the cache starts over (rows are re-read on demand).
const MAX_ENTRIES: usize = 10_000;

type Url = Option<Arc<str>>;

#[derive(Default)]
pub struct UrlCache {
    associations: RwLock<HashMap<i64, (Instant, Url)>>,
    campaigns: RwLock<HashMap<i64, Url>>,
    /// Bumped by every invalidation: a row read before it is not cached after it.
    generation: std::sync::atomic::AtomicU64,
}

impl UrlCache {
    pub fn invalidate_association(&self, id: i64) {
        let mut map = self.associations.write();
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        map.remove(&id);
    }

    /// A campaign's URL as just created through this node (saves the first read).
    pub fn put_campaign(&self, id: i64, url: Option<String>) {
        let mut map = self.campaigns.write();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id, url.map(Arc::from));
    }

    fn association(&self, store: &dyn Store, id: i64) -> Url {
        if let Some((at, url)) = self.associations.read().get(&id) {
            if at.elapsed() < ASSOCIATION_TTL {
                return url.clone();
            }
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let url: Url = match ready(store.get_association(id)) {
            Ok(rec) => rec.and_then(|r| r.status_callback_url).map(Arc::from),
            Err(e) => {
                tracing::warn!(association = id, error = %e, "association unreadable for its callback URL");
                return None;
            }
        };
        let mut map = self.associations.write();
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(id, (Instant::now(), url.clone()));
        }
        url
    }

    fn campaign(&self, store: &dyn Store, id: i64) -> Url {
        if let Some(url) = self.campaigns.read().get(&id) {
            return url.clone();
        }
        match ready(store.get_campaign(id)) {
            Ok(Some(c)) => {
                self.put_campaign(id, c.callback_url.clone());
                c.callback_url.map(Arc::from)
            }
            // Not written yet (its messages are inserted first): ask again next time.
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(campaign = id, error = %e, "campaign unreadable for its callback URL");
                None
            }
        }
    }
}

/// The result of a store read that completes without waiting (the embedded store's point
/// reads do: they are synchronous under their async signature). One that would wait is not
/// waited for on the committer thread: it reads as unavailable.
fn ready<T>(fut: impl std::future::Future<Output = crate::store::StoreResult<T>>) -> crate::store::StoreResult<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        // A read that needs the network (the ScyllaDB backend calls the hook from its async
        // commit): wait for it on this worker thread, letting the runtime move its other
        // tasks away. Only the embedded committer thread, outside any runtime, cannot wait.
        std::task::Poll::Pending => match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| h.block_on(fut)),
            _ => Err(crate::store::StoreError::Unavailable("read would wait on the committer thread".into())),
        },
    }
}

pub struct Observer {
    store: Weak<dyn Store>,
    urls: Arc<UrlCache>,
    wake: Arc<super::Wake>,
}

impl Observer {
    pub fn new(store: Weak<dyn Store>, urls: Arc<UrlCache>, wake: Arc<super::Wake>) -> Self {
        Self { store, urls, wake }
    }

    fn url_of(&self, m: &MessageRecord) -> Url {
        if let Some(u) = &m.callback_url {
            return Some(Arc::from(u.as_str()));
        }
        let store = self.store.upgrade()?;
        if let Some(c) = m.campaign_id {
            if let Some(u) = self.urls.campaign(store.as_ref(), c) {
                return Some(u);
            }
        }
        self.urls.association(store.as_ref(), m.association_id)
    }
}

/// The stable id of the callback telling `event` of message `message_id`.
pub fn event_id(message_id: i64, seq: i64) -> String {
    format!("{message_id}-{seq}")
}

/// The documented callback body.
pub fn payload(id: &str, m: &MessageRecord, event: &MessageEvent) -> Vec<u8> {
    let error = match (&event.error_code, &event.error_text) {
        (None, None) => m.error.as_deref().map(Cow::Borrowed),
        (Some(c), Some(t)) => Some(Cow::Owned(format!("{c}: {t}"))),
        (Some(c), None) => Some(Cow::Borrowed(c.as_str())),
        (None, Some(t)) => Some(Cow::Borrowed(t.as_str())),
    };
    let body = Body {
        event: "message.status",
        id,
        data: Data {
            queue_id: m.id,
            campaign_id: m.campaign_id,
            recipient: &m.recipient,
            channel: &m.channel,
            status: event.status.as_str(),
            provider: m.provider.as_deref(),
            provider_message_id: m.provider_message_id.as_deref(),
            error,
            at: Timestamp(event.at),
        },
    };
    let mut out = Vec::with_capacity(320);
    // Serialising borrowed fields cannot fail.
    let _ = serde_json::to_writer(&mut out, &body);
    out
}

/// The callback body, written straight from the borrowed record: it is built on the committer
/// thread for every status change, where a `serde_json::Value` tree cost a map and an owned
/// string per field.
#[derive(serde::Serialize)]
struct Body<'a> {
    event: &'static str,
    id: &'a str,
    data: Data<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    queue_id: i64,
    campaign_id: Option<i64>,
    recipient: &'a str,
    channel: &'a str,
    status: &'static str,
    provider: Option<&'a str>,
    provider_message_id: Option<&'a str>,
    error: Option<Cow<'a, str>>,
    at: Timestamp,
}

impl StatusObserver for Observer {
    fn on_change(&self, _before: &MessageRecord, after: &MessageRecord, event: &MessageEvent) -> Option<OutboxEntry> {
        let url = self.url_of(after)?;
        let id = event_id(after.id, event.seq);
        let entry = OutboxEntry {
            payload: payload(&id, after, event),
            event_id: id,
            association_id: after.association_id,
            message_id: after.id,
            url: url.to_string(),
            attempt: 0,
            next_at: crate::domain::now_ms(),
            created_at: crate::domain::now_ms(),
        };
        self.wake.row_added(entry.association_id);
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageStatus;

    fn record() -> MessageRecord {
        serde_json::from_value(serde_json::json!({
            "id": 42, "association_id": 1, "campaign_id": 9, "recipient": "+966501234567",
            "body": "Hello \"there\"", "channel": "sms", "status": "delivered",
            "provider": "infobip", "provider_message_id": "ib-1", "error": "old error",
            "created_at": 1_700_000_000_000i64, "updated_at": 1_700_000_000_500i64,
        }))
        .unwrap()
    }

    fn event(code: Option<&str>, text: Option<&str>) -> MessageEvent {
        MessageEvent {
            message_id: 42,
            seq: 3,
            status: MessageStatus::Delivered,
            at: 1_700_000_000_250,
            source: "infobip".into(),
            raw_status: None,
            error_code: code.map(Into::into),
            error_text: text.map(Into::into),
        }
    }

    #[test]
    fn the_body_is_the_documented_one_in_its_order() {
        let body = payload("42-3", &record(), &event(Some("EC_1"), Some("absent \"subscriber\"")));
        let expected = serde_json::json!({
            "event": "message.status",
            "id": "42-3",
            "data": {
                "queueId": 42, "campaignId": 9, "recipient": "+966501234567", "channel": "sms",
                "status": "delivered", "provider": "infobip", "providerMessageId": "ib-1",
                "error": "EC_1: absent \"subscriber\"", "at": Timestamp(1_700_000_000_250),
            }
        });
        // Byte for byte what the `Value` form (with its preserved key order) wrote.
        assert_eq!(String::from_utf8(body).unwrap(), serde_json::to_string(&expected).unwrap());
    }

    #[test]
    fn the_error_is_the_events_else_the_messages() {
        let m = record();
        let error = |ev: MessageEvent| serde_json::from_slice::<serde_json::Value>(&payload("42-3", &m, &ev)).unwrap()["data"]["error"].clone();
        assert_eq!(error(event(None, None)), "old error");
        assert_eq!(error(event(Some("EC_1"), None)), "EC_1");
        assert_eq!(error(event(None, Some("absent"))), "absent");
        let none = MessageRecord { error: None, campaign_id: None, provider_message_id: None, ..m.clone() };
        let v: serde_json::Value = serde_json::from_slice(&payload("42-3", &none, &event(None, None))).unwrap();
        assert!(v["data"]["error"].is_null() && v["data"]["campaignId"].is_null() && v["data"]["providerMessageId"].is_null());
    }
}
