//! Redirect links: short codes that redirect (`GET /r/{code}`) to a target URL and count
//! their clicks, managed per association (`/api/v1/redirect-links`).
//!
//! The redirect is served from memory ([`cache`]): code → (link id, `Location`) with atomic
//! click counters, flushed to the store in batches every second ([`flusher`]); a cache miss
//! reads the store once. Management calls go to the store and invalidate this node's cache
//! entry; other nodes see a change within the cache TTL. Reported click counts are the
//! stored ones plus this node's unflushed ones. Depends on `store` and `domain`; no HTTP
//! framework types except the `Location` header value the cache keeps ready.

pub mod cache;
pub mod codes;
mod flusher;
pub mod shorten;

use crate::domain::{now_ms, IdGenerator};
use crate::store::{CampaignClicks, LinkClicks, LinkRecord, SharedStore, StoreError};
use axum::http::HeaderValue;
use cache::{LinkCache, Unflushed};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest `targetUrl` accepted (as sent, and once normalised).
pub const MAX_TARGET_URL_LEN: usize = 2048;
/// Longest `name`, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// New codes tried before a create gives up (each collision has odds of about 2^-59).
const CODE_ATTEMPTS: usize = 8;
/// Click deltas per store commit.
const FLUSH_CHUNK: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A field is missing or wrong; the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error("Redirect link not found")]
    NotFound,
    #[error("Association not found")]
    AssociationNotFound,
    /// No fresh code could be drawn or stored (CSPRNG failure, or collisions every time).
    #[error("could not allocate a link code: {0}")]
    Code(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct LinkOptions {
    pub flush_interval: Duration,
    pub cache_bytes: usize,
    pub cache_ttl: Duration,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self { flush_interval: Duration::from_secs(1), cache_bytes: 64 << 20, cache_ttl: Duration::from_secs(60) }
    }
}

/// What a create takes.
pub struct NewLink {
    pub target_url: String,
    pub name: Option<String>,
}

/// What an update may change (`name: Some("")` clears the name).
pub struct LinkPatch {
    pub target_url: Option<String>,
    pub name: Option<String>,
}

pub struct LinkService {
    store: SharedStore,
    ids: Arc<IdGenerator>,
    opts: LinkOptions,
    cache: LinkCache,
    /// Counts drained from the cache and not yet stored. Held across a flush's store write
    /// and across a read's store read, so a reported count is never short nor counted twice.
    pending: tokio::sync::Mutex<HashMap<i64, Unflushed>>,
    found: metrics::Counter,
    not_found: metrics::Counter,
    flushed: metrics::Counter,
}

impl LinkService {
    /// The service, with its flusher running until `stop` is cancelled.
    pub fn start(store: SharedStore, ids: Arc<IdGenerator>, opts: LinkOptions, stop: CancellationToken) -> Arc<Self> {
        let svc = Arc::new(Self {
            store,
            ids,
            cache: LinkCache::new(opts.cache_bytes, opts.cache_ttl),
            opts,
            pending: tokio::sync::Mutex::new(HashMap::new()),
            found: metrics::counter!(crate::telemetry::REDIRECTS_TOTAL, "result" => "found"),
            not_found: metrics::counter!(crate::telemetry::REDIRECTS_TOTAL, "result" => "not_found"),
            flushed: metrics::counter!(crate::telemetry::LINK_CLICKS_FLUSHED_TOTAL),
        });
        tokio::spawn(flusher::run(svc.clone(), stop));
        svc
    }

    /// `GET /r/{code}`: where the code goes, with the click counted; `None` for unknown codes.
    pub async fn resolve(&self, code: &str) -> Result<Option<HeaderValue>, LinkError> {
        if !codes::is_well_formed(code) {
            self.not_found.increment(1);
            return Ok(None);
        }
        let now = now_ms();
        if let Some(location) = self.cache.hit(code, now) {
            self.found.increment(1);
            return Ok(Some(location));
        }
        let generation = self.cache.generation(code);
        let Some(rec) = self.store.get_link_by_code(code).await.inspect_err(|_| {
            metrics::counter!(crate::telemetry::REDIRECTS_TOTAL, "result" => "error").increment(1);
        })?
        else {
            self.not_found.increment(1);
            return Ok(None);
        };
        let Ok(location) = HeaderValue::from_str(&rec.target_url) else {
            // Targets are checked on write; a row that fails here was not written by us.
            tracing::error!(link_id = rec.id, "stored redirect target is not a valid header value");
            self.not_found.increment(1);
            return Ok(None);
        };
        self.cache.insert_counted(code, rec.id, location.clone(), generation, now);
        self.found.increment(1);
        Ok(Some(location))
    }

    /// Writes the counted clicks to the store; how many links had clicks. On failure the
    /// counts stay pending for the next flush.
    pub async fn flush(&self) -> Result<usize, LinkError> {
        let mut pending = self.pending.lock().await;
        self.cache.drain_into(&mut pending);
        let batch: Vec<LinkClicks> = pending
            .iter()
            .map(|(id, u)| LinkClicks { link_id: *id, clicks: u.clicks as i64, last_clicked_at: u.last_clicked_at })
            .collect();
        for chunk in batch.chunks(FLUSH_CHUNK) {
            self.store.add_link_clicks(chunk).await?;
            for c in chunk {
                pending.remove(&c.link_id);
            }
            self.flushed.increment(chunk.iter().map(|c| c.clicks as u64).sum());
        }
        Ok(batch.len())
    }

    pub async fn create(&self, association_id: i64, input: NewLink) -> Result<LinkRecord, LinkError> {
        let target_url = normalise_target(&input.target_url)?;
        let name = normalise_name(input.name)?;
        if self.store.get_association(association_id).await?.is_none() {
            return Err(LinkError::AssociationNotFound);
        }
        let now = now_ms();
        let mut rec = LinkRecord {
            id: self.ids.next_id(),
            association_id,
            code: String::new(),
            target_url,
            name,
            created_at: now,
            updated_at: now,
            message_id: None,
            campaign_id: None,
            click_count: 0,
            last_clicked_at: None,
        };
        for _ in 0..CODE_ATTEMPTS {
            rec.code = codes::generate().map_err(|e| LinkError::Code(e.to_string()))?;
            match self.store.create_link(&rec).await {
                Ok(()) => return Ok(rec),
                Err(StoreError::Conflict(what)) => tracing::warn!(%what, "link code collision; drawing another"),
                Err(e) => return Err(e.into()),
            }
        }
        Err(LinkError::Code(format!("{CODE_ATTEMPTS} codes in a row were taken")))
    }

    /// A link of `association_id` with its clicks (another association's link is not found).
    pub async fn get(&self, association_id: i64, id: i64) -> Result<LinkRecord, LinkError> {
        let pending = self.pending.lock().await;
        let rec = self.owned(association_id, id).await?;
        Ok(self.with_unflushed(rec, &pending))
    }

    /// A page (from 1) of an association's links, newest first, and their total.
    pub async fn list(&self, association_id: i64, page: usize, limit: usize) -> Result<(Vec<LinkRecord>, u64), LinkError> {
        let pending = self.pending.lock().await;
        let offset = page.saturating_sub(1).saturating_mul(limit);
        let p = self.store.list_links(association_id, offset, limit).await?;
        Ok((p.links.into_iter().map(|l| self.with_unflushed(l, &pending)).collect(), p.total))
    }

    pub async fn update(&self, association_id: i64, id: i64, patch: LinkPatch) -> Result<LinkRecord, LinkError> {
        if patch.target_url.is_none() && patch.name.is_none() {
            return Err(LinkError::Invalid("nothing to update: send targetUrl and/or name".into()));
        }
        let target_url = patch.target_url.as_deref().map(normalise_target).transpose()?;
        let name = patch.name.map(|n| normalise_name(Some(n))).transpose()?;
        let mut rec = self.owned(association_id, id).await?;
        if let Some(t) = target_url {
            rec.target_url = t;
        }
        if let Some(n) = name {
            rec.name = n;
        }
        rec.updated_at = now_ms();
        self.store.update_link(&rec).await?;
        self.cache.invalidate(&rec.code);
        let pending = self.pending.lock().await;
        Ok(self.with_unflushed(rec, &pending))
    }

    pub async fn delete(&self, association_id: i64, id: i64) -> Result<(), LinkError> {
        let rec = self.owned(association_id, id).await?;
        if !self.store.delete_link(rec.id).await? {
            return Err(LinkError::NotFound);
        }
        self.cache.invalidate(&rec.code);
        Ok(())
    }

    /// The tracked links of a message (`shortenLinks`), with their clicks.
    pub async fn message_links(&self, message_id: i64) -> Result<Vec<LinkRecord>, LinkError> {
        let pending = self.pending.lock().await;
        let links = self.store.list_message_links(message_id).await?;
        Ok(links.into_iter().map(|l| self.with_unflushed(l, &pending)).collect())
    }

    /// The clicks on a campaign's tracked links, as flushed (at most a flush interval behind).
    pub async fn campaign_clicks(&self, campaign_id: i64) -> Result<CampaignClicks, LinkError> {
        Ok(self.store.campaign_clicks(campaign_id).await?)
    }

    async fn owned(&self, association_id: i64, id: i64) -> Result<LinkRecord, LinkError> {
        match self.store.get_link(id).await? {
            Some(rec) if rec.association_id == association_id => Ok(rec),
            _ => Err(LinkError::NotFound),
        }
    }

    fn with_unflushed(&self, mut rec: LinkRecord, pending: &HashMap<i64, Unflushed>) -> LinkRecord {
        let mut u = self.cache.unflushed(&rec.code, rec.id);
        if let Some(p) = pending.get(&rec.id) {
            u.merge(*p);
        }
        rec.click_count += u.clicks as i64;
        if u.clicks > 0 {
            rec.last_clicked_at = Some(rec.last_clicked_at.unwrap_or(0).max(u.last_clicked_at));
        }
        rec
    }
}

/// The rows of the tracked links a send's text got (see [`shorten`]), for the message
/// `message_id` (of `campaign_id`), with ids from `ids`.
pub fn tracked_records(ids: &IdGenerator, association_id: i64, message_id: i64, campaign_id: Option<i64>, links: Vec<shorten::TrackedLink>, now: i64) -> Vec<LinkRecord> {
    links
        .into_iter()
        .map(|l| LinkRecord {
            id: ids.next_id(),
            association_id,
            code: l.code,
            target_url: l.target_url,
            name: None,
            created_at: now,
            updated_at: now,
            message_id: Some(message_id),
            campaign_id,
            click_count: 0,
            last_clicked_at: None,
        })
        .collect()
}

/// An http(s) URL with a host, no credentials, at most [`MAX_TARGET_URL_LEN`] characters,
/// in its normalised form (what `Location` will carry).
pub fn normalise_target(raw: &str) -> Result<String, LinkError> {
    let invalid = |why: &str| Err(LinkError::Invalid(format!("targetUrl {why}")));
    let raw = raw.trim();
    if raw.is_empty() {
        return invalid("is required");
    }
    if raw.len() > MAX_TARGET_URL_LEN {
        return invalid(&format!("is too long: at most {MAX_TARGET_URL_LEN} characters"));
    }
    let url = match reqwest::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => return invalid(&format!("is not a valid URL ({e})")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return invalid("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return invalid("must have a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return invalid("must not contain a username or password");
    }
    let s = String::from(url);
    if s.len() > MAX_TARGET_URL_LEN || HeaderValue::from_str(&s).is_err() {
        return invalid(&format!("is too long once encoded: at most {MAX_TARGET_URL_LEN} characters"));
    }
    Ok(s)
}

fn normalise_name(name: Option<String>) -> Result<Option<String>, LinkError> {
    let Some(name) = name else { return Ok(None) };
    let name = name.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(LinkError::Invalid(format!("name is too long: at most {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(LinkError::Invalid("name must not contain control characters".into()));
    }
    Ok((!name.is_empty()).then(|| name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_http_urls_with_a_host() {
        assert_eq!(normalise_target(" https://jood.sa/receipt/123 ").unwrap(), "https://jood.sa/receipt/123");
        assert_eq!(normalise_target("http://EXAMPLE.com").unwrap(), "http://example.com/");
        assert_eq!(normalise_target("https://x.example/a b?q=ü").unwrap(), "https://x.example/a%20b?q=%C3%BC");
        for (bad, why) in [
            ("", "required"),
            ("jood.sa/x", "not a valid URL"),
            ("javascript:alert(1)", "http or https"),
            ("ftp://x.example/", "http or https"),
            ("https://user:pw@x.example/", "username or password"),
            ("http://", "not a valid URL"),
        ] {
            let e = normalise_target(bad).unwrap_err().to_string();
            assert!(e.starts_with("targetUrl ") && e.contains(why), "{bad}: {e}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_TARGET_URL_LEN));
        assert!(normalise_target(&long).unwrap_err().to_string().contains("too long"));
    }

    #[test]
    fn names_are_trimmed_bounded_and_empty_clears() {
        assert_eq!(normalise_name(Some(" Receipt ".into())).unwrap().as_deref(), Some("Receipt"));
        assert_eq!(normalise_name(Some("  ".into())).unwrap(), None);
        assert!(normalise_name(Some("x".repeat(MAX_NAME_CHARS + 1))).is_err());
        assert!(normalise_name(Some("a\u{0}b".into())).is_err());
    }
}
