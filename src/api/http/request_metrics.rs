//! The per-request counter and latency histogram of the edge layer, looked up once per
//! (route template, method, status) and kept.
//!
//! `metrics::counter!` with owned labels builds three `String`s, a label vector and a key,
//! hashes it and searches the recorder's registry on every request; under a load run that
//! was a visible share of the accept path. The handles here are the registry's own (the same
//! series `/metrics` shows), found once and then reused.
//!
//! The set stays small because every part of the key is bounded: the route is a template of
//! the router (or "unmatched"), the status a `u16`, and the method one of the standard ones or
//! "OTHER". A client could otherwise mint a new series per request with invented methods.

use axum::http::Method;
use metrics::{Counter, Histogram};
use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// By route template (as the router matched it; "unmatched" for requests no route took),
/// then by method and status. Looked up by `&str`, so a request allocates nothing.
#[derive(Default)]
pub struct RequestMetrics {
    series: RwLock<FxHashMap<Arc<str>, FxHashMap<(&'static str, u16), Series>>>,
}

#[derive(Clone)]
pub struct Series {
    pub requests: Counter,
    pub seconds: Histogram,
}

/// The method as a label: the standard methods by name, anything else as "OTHER".
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

impl RequestMetrics {
    /// The series of one (route, method, status), registered on first use.
    pub fn series(&self, route: &str, method: &'static str, status: u16) -> Series {
        if let Some(s) = self.series.read().get(route).and_then(|r| r.get(&(method, status))) {
            return s.clone();
        }
        let mut all = self.series.write();
        if !all.contains_key(route) {
            all.insert(Arc::from(route), FxHashMap::default());
        }
        let of_route = all.get_mut(route).expect("inserted above");
        of_route
            .entry((method, status))
            .or_insert_with(|| Series {
                requests: metrics::counter!(
                    crate::telemetry::HTTP_REQUESTS_TOTAL,
                    "route" => route.to_string(), "method" => method, "status" => status.to_string()
                ),
                seconds: metrics::histogram!(
                    crate::telemetry::HTTP_REQUEST_SECONDS,
                    "route" => route.to_string(), "method" => method
                ),
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::from_bytes(b"FROB").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::from_bytes(b"GRAB").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::POST), "POST");
    }

    #[test]
    fn a_series_is_kept_per_route_method_and_status() {
        let m = RequestMetrics::default();
        let route = "/api/v1/webhook/notification";
        m.series(route, "POST", 200);
        m.series(route, "POST", 200);
        m.series(route, "POST", 401);
        m.series(route, "GET", 405);
        m.series("unmatched", "OTHER", 404);
        let all = m.series.read();
        assert_eq!(all.len(), 2);
        assert_eq!(all[route].len(), 3);
    }
}
