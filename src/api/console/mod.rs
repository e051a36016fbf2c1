//! The operator console: a single-page web UI on the session-authenticated dashboard API,
//! served by the engine itself at `/console` (and `/` redirects there).
//!
//! The assets (plain ES modules, one stylesheet, no build step) are compiled into the binary
//! with `include_bytes!`, file by file: cargo tracks each one, so an edited asset rebuilds,
//! and a fresh clone needs nothing but cargo. [`live`] keeps the short history the overview
//! screen charts. This module depends on nothing above `api::http`'s state; the console's
//! data comes from `/api/v1/dashboard/*` like any other client's.

pub mod live;
pub mod streams;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

pub use live::Live;

/// One embedded file: its path under `/console/`, its bytes, its content type.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
    mime: &'static str,
}

macro_rules! assets {
    ($($path:literal => $mime:expr),* $(,)?) => {
        &[$(Asset { path: $path, bytes: include_bytes!(concat!("assets/", $path)), mime: $mime }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "app.css" => "text/css; charset=utf-8",
    "js/app.js" => JS,
    "js/api.js" => JS,
    "js/ui.js" => JS,
    "js/chart.js" => JS,
    "js/screens/overview.js" => JS,
    "js/screens/send.js" => JS,
    "js/screens/queue.js" => JS,
    "js/screens/campaigns.js" => JS,
    "js/screens/logs.js" => JS,
    "js/screens/stats.js" => JS,
    "js/screens/routing.js" => JS,
    "js/screens/setup.js" => JS,
    "js/screens/activity.js" => JS,
];

/// Same-origin everything: no inline script, no third party, not framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|h: HeaderMap| async move { serve("index.html", &h) }))
        .route("/console/{*path}", get(|Path(p): Path<String>, h: HeaderMap| async move { serve(&p, &h) }))
}

/// A weak validator from the bytes (computed on each request: the files are small and
/// hashing them costs less than the round trip a 304 saves).
fn etag(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&d[..8]))
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    // Screens are client-side routes (`/console/#/logs`); any other unknown path is a 404 in
    // the API's envelope, so a typo in an asset name is visible.
    let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
        return crate::api::http::ApiError::NotFound(format!("Console asset not found: {path}")).into_response();
    };
    let tag = etag(a.bytes);
    let mut resp = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.mime)], a.bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex etag"));
    // Revalidate every time: a new engine build serves new assets at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}

/// Total bytes of the embedded assets (the first load fetches all of them).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.bytes.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_listed_once_and_the_first_load_stays_small() {
        let mut paths: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        // 200 KB compressed is the budget; uncompressed under it leaves a wide margin.
        assert!(total_bytes() < 200 * 1024, "console assets are {} bytes", total_bytes());
    }

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        // An import of a file missing from ASSETS would 404 in the browser only.
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js") || a.path.ends_with(".html")) {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for part in text.split("from '").skip(1).chain(text.split("import('").skip(1)) {
                let target = part.split('\'').next().unwrap();
                let base = a.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let resolved = resolve(base, target);
                assert!(ASSETS.iter().any(|x| x.path == resolved), "{} imports {target} ({resolved}), which is not embedded", a.path);
            }
        }
    }

    fn resolve(base: &str, rel: &str) -> String {
        let mut parts: Vec<&str> = if base.is_empty() { vec![] } else { base.split('/').collect() };
        for seg in rel.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }
}
