//! Telemetry: logging set-up and every metric name, declared once with its description.
//!
//! Names follow `jood_<subsystem>_<name>_<unit>[_total]`; labels take values from enums
//! (route templates, providers, statuses), never raw paths or error strings. Per-credential
//! series carry a `credential` label only with `metrics.per_credential_labels` (see
//! [`configure`]); otherwise they are summed by provider, so cardinality stays bounded.
//!
//! Gauges that describe state rather than events (dispatch queue depth, schedule backlog) are
//! sampled when `/metrics` is scraped (`api::http::ops`).

pub mod live;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

pub const HTTP_REQUESTS_TOTAL: &str = "jood_http_requests_total";
pub const HTTP_REQUEST_SECONDS: &str = "jood_http_request_duration_seconds";
pub const HTTP_CONNECTIONS_OPEN: &str = "jood_http_connections_open";
pub const HTTP_CONNECTIONS_REJECTED_TOTAL: &str = "jood_http_connections_rejected_total";
pub const HTTP_CONNECTIONS_CLOSED_TOTAL: &str = "jood_http_connections_closed_total";
pub const GRPC_REQUESTS_TOTAL: &str = "jood_grpc_requests_total";
pub const GRPC_REQUEST_SECONDS: &str = "jood_grpc_request_duration_seconds";
pub const STORE_COMMIT_SECONDS: &str = "jood_store_commit_duration_seconds";
pub const STORE_COMMIT_BATCH_SIZE: &str = "jood_store_commit_batch_size";
pub const STORE_COMMIT_QUEUE: &str = "jood_store_commit_queue_depth";
pub const INGRESS_ACCEPTED_TOTAL: &str = "jood_ingress_messages_accepted_total";
pub const INGRESS_REJECTED_TOTAL: &str = "jood_ingress_requests_rejected_total";
pub const OPT_OUTS_TOTAL: &str = "jood_opt_outs_changes_total";
pub const SMS_SEGMENTS_TOTAL: &str = "jood_sms_segments_sent_total";
pub const CAMPAIGN_QUIET_HOLDS_TOTAL: &str = "jood_campaigns_quiet_hours_holds_total";
pub const DISPATCH_MESSAGES_TOTAL: &str = "jood_dispatch_messages_total";
pub const DISPATCH_RETRIES_TOTAL: &str = "jood_dispatch_retries_total";
pub const DISPATCH_FAILOVERS_TOTAL: &str = "jood_dispatch_failovers_total";
pub const DISPATCH_FALLBACKS_TOTAL: &str = "jood_dispatch_channel_fallbacks_total";
pub const DISPATCH_ACTOR_RESTARTS_TOTAL: &str = "jood_dispatch_actor_restarts_total";
pub const DISPATCH_IN_MEMORY: &str = "jood_dispatch_messages_in_memory";
pub const SCHEDULE_BACKLOG: &str = "jood_schedule_backlog";
pub const CAMPAIGN_INGESTS_ABANDONED_TOTAL: &str = "jood_campaign_ingests_abandoned_total";
pub const STORE_DISK_FREE_BYTES: &str = "jood_store_disk_free_bytes";
pub const SCHEDULE_OVERDUE_SECONDS: &str = "jood_schedule_overdue_seconds";
pub const PROVIDER_CALL_SECONDS: &str = "jood_provider_call_duration_seconds";
pub const PROVIDER_BATCH_MESSAGES: &str = "jood_provider_batch_messages";
pub const CREDENTIAL_IN_FLIGHT: &str = "jood_credential_calls_in_flight";
pub const CREDENTIAL_SETTLING: &str = "jood_credential_calls_settling";
pub const CREDENTIAL_BREAKER_OPEN: &str = "jood_credential_circuit_open";
pub const DASHBOARD_LOGIN_FAILURES_TOTAL: &str = "jood_dashboard_login_failures_total";
pub const DIRECTORY_CAS_RETRIES_TOTAL: &str = "jood_directory_cas_retries_total";
pub const HTTP_RATE_LIMITED_TOTAL: &str = "jood_http_rate_limited_total";
pub const AUTH_IP_DENIED_TOTAL: &str = "jood_auth_ip_denied_total";
pub const IDEMPOTENT_REPLAYS_TOTAL: &str = "jood_idempotency_replays_total";
pub const REDIS_UP: &str = "jood_redis_up";
pub const REDIS_FALLBACKS_TOTAL: &str = "jood_redis_fallbacks_total";
pub const DELIVERY_REPORTS_TOTAL: &str = "jood_delivery_reports_total";
pub const DELIVERY_REPORTS_UNKNOWN_TOTAL: &str = "jood_delivery_reports_unknown_total";
pub const DELIVERY_REPORTS_REJECTED_TOTAL: &str = "jood_delivery_reports_rejected_total";
pub const DELIVERY_REPORTS_PARKED_TOTAL: &str = "jood_delivery_reports_parked_total";
pub const MESSAGES_EXPIRED_TOTAL: &str = "jood_messages_expired_total";
pub const SINGLETON_PASSES_TOTAL: &str = "jood_singleton_passes_total";
pub const DELIVERY_LATENCY_SECONDS: &str = "jood_delivery_sent_to_delivered_seconds";
pub const REDIRECTS_TOTAL: &str = "jood_redirects_total";
pub const WHATSAPP_INBOUND_TOTAL: &str = "jood_whatsapp_inbound_messages_total";
pub const LINK_CLICKS_FLUSHED_TOTAL: &str = "jood_link_clicks_flushed_total";
pub const CALLBACKS_TOTAL: &str = "jood_callbacks_total";
pub const CALLBACKS_SECONDS: &str = "jood_callbacks_duration_seconds";
pub const CALLBACKS_OUTBOX_DEPTH: &str = "jood_callbacks_outbox_depth";
pub const MESSAGES_FINISHED_TOTAL: &str = "jood_messages_finished_total";

/// Installs the Prometheus recorder once per process and returns its render handle.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .expect("static buckets are valid")
                // Reports come milliseconds (load tests) to days (a handset switched off) after `sent`.
                .set_buckets_for_metric(
                    Matcher::Full(DELIVERY_LATENCY_SECONDS.into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
                        86400.0, 172800.0,
                    ],
                )
                .expect("static buckets are valid")
                // Messages per batched provider request: 2 up to the largest configurable size.
                .set_buckets_for_metric(Matcher::Full(PROVIDER_BATCH_MESSAGES.into()), &[2.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Through the console's tap (`live`): Prometheus gets every series unchanged.
            let handle = match metrics::set_global_recorder(live::Tee { inner: recorder }) {
                Ok(()) => handle,
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            };
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(DIRECTORY_CAS_RETRIES_TOTAL, "Management writes re-read and retried because a concurrent write changed the row (compare-and-set lost)");
    describe_gauge!(HTTP_CONNECTIONS_OPEN, "HTTP connections open now");
    describe_counter!(HTTP_CONNECTIONS_REJECTED_TOTAL, "HTTP connections closed at accept because server.max_connections were open");
    describe_counter!(HTTP_CONNECTIONS_CLOSED_TOTAL, "HTTP connections closed by the server, by reason (header_timeout, idle, error)");
    describe_gauge!(STORE_DISK_FREE_BYTES, Unit::Bytes, "Free bytes of the data directory's filesystem, as last read by the store's space check");
    describe_counter!(CAMPAIGN_INGESTS_ABANDONED_TOTAL, "Bulk ingests that never answered (refused part-way, broken stream, crash); their stored recipients were cancelled");
    describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered, by route template, method and status");
    describe_histogram!(HTTP_REQUEST_SECONDS, Unit::Seconds, "HTTP request latency, by route template and method");
    describe_counter!(GRPC_REQUESTS_TOTAL, "gRPC calls answered, by method and status code");
    describe_histogram!(GRPC_REQUEST_SECONDS, Unit::Seconds, "gRPC call latency until the answer (or the start of a response stream), by method");
    describe_histogram!(STORE_COMMIT_SECONDS, Unit::Seconds, "Time to apply and fsync one group commit");
    describe_histogram!(STORE_COMMIT_BATCH_SIZE, Unit::Count, "Write requests sharing one group commit (one fsync)");
    describe_gauge!(STORE_COMMIT_QUEUE, Unit::Count, "Write requests waiting for the group committer");
    describe_counter!(INGRESS_ACCEPTED_TOTAL, "Messages accepted durably, by channel");
    describe_counter!(INGRESS_REJECTED_TOTAL, "Send requests refused, by reason");
    describe_counter!(OPT_OUTS_TOTAL, "Opt-out list changes made by inbound keywords, by channel and change (opt_out, opt_in)");
    describe_counter!(SMS_SEGMENTS_TOTAL, "SMS segments (billed parts) of messages providers accepted, by provider");
    describe_counter!(CAMPAIGN_QUIET_HOLDS_TOTAL, "Times a campaign paused for its association's quiet hours");
    describe_counter!(DISPATCH_MESSAGES_TOTAL, "Messages that reached a final dispatch status, by status, channel and provider (none when no provider was called)");
    describe_counter!(DISPATCH_RETRIES_TOTAL, "Provider calls scheduled for retry, by provider and channel");
    describe_counter!(DISPATCH_FALLBACKS_TOTAL, "Messages that failed for good on a channel and went on to their next fallback channel, by channel from and to");
    describe_counter!(DISPATCH_FAILOVERS_TOTAL, "Messages a credential gave up on and handed back to be routed to the next credential, by provider and channel");
    describe_counter!(DISPATCH_ACTOR_RESTARTS_TOTAL, "Failed actors restarted by their supervisor, by actor kind");
    describe_gauge!(DISPATCH_IN_MEMORY, Unit::Count, "Dispatch queue depth: messages held by dispatch (waiting or at a provider), sampled at scrape");
    describe_gauge!(SCHEDULE_BACKLOG, Unit::Count, "Scheduled single messages and campaigns not yet fired, sampled at scrape (counted up to 100000)");
    describe_gauge!(SCHEDULE_OVERDUE_SECONDS, Unit::Seconds, "How late the earliest due schedule entry is (0 when the scheduler is keeping up), sampled at scrape");
    describe_histogram!(PROVIDER_CALL_SECONDS, Unit::Seconds, "Provider HTTP call latency, by provider and outcome");
    describe_histogram!(PROVIDER_BATCH_MESSAGES, Unit::Count, "Campaign messages per batched provider request (two or more), by provider");
    describe_counter!(DASHBOARD_LOGIN_FAILURES_TOTAL, "Dashboard logins refused (wrong username or password)");
    describe_gauge!(CREDENTIAL_IN_FLIGHT, Unit::Count, "Provider calls in flight, by provider (and credential with metrics.per_credential_labels)");
    describe_gauge!(CREDENTIAL_SETTLING, Unit::Count, "Provider calls that returned whose outcome is not yet durable (they still hold a slot of dispatch.credential_in_flight), by provider (and credential with metrics.per_credential_labels)");
    describe_gauge!(CREDENTIAL_BREAKER_OPEN, Unit::Count, "Credentials whose circuit breaker is open or half-open, by provider (0/1 per credential with metrics.per_credential_labels)");
    describe_counter!(HTTP_RATE_LIMITED_TOTAL, "Requests refused by the per-IP rate limits, by route class and api (http, grpc)");
    describe_counter!(AUTH_IP_DENIED_TOTAL, "Requests refused by an association's IP allow-list, by scheme (webhook, api_key)");
    describe_counter!(IDEMPOTENT_REPLAYS_TOTAL, "Sends answered from an earlier request with the same idempotency key");
    describe_gauge!(REDIS_UP, "1 while Redis answers, 0 while the engine runs on in-process limits (absent without redis.url)");
    describe_counter!(REDIS_FALLBACKS_TOTAL, "Operations served in-process because Redis was unreachable, by operation");
    describe_counter!(DELIVERY_REPORTS_TOTAL, "Provider status reports for known messages, by provider and reported status (whether or not they changed the message)");
    describe_counter!(DELIVERY_REPORTS_UNKNOWN_TOTAL, "Provider status reports naming a message id the engine does not know (answered 200, not stored), by provider");
    describe_counter!(DELIVERY_REPORTS_PARKED_TOTAL, "Provider status reports that came before the engine had recorded their provider id, kept until it is (then applied, or dropped as unknown after delivery.early_report_ttl_ms), by provider");
    describe_counter!(SINGLETON_PASSES_TOTAL, "Passes of the cluster-wide singletons this engine ran, by task (expiry, parked_reports); only the leader (owner of partition 0) runs them");
    describe_counter!(MESSAGES_EXPIRED_TOTAL, "Messages whose validity period ended undelivered, by stage (queued: never sent; sent: no delivery report in time)");
    describe_counter!(DELIVERY_REPORTS_REJECTED_TOTAL, "Provider callbacks refused, by provider and reason (signature, credential, malformed)");
    describe_histogram!(DELIVERY_LATENCY_SECONDS, Unit::Seconds, "From the engine recording `sent` to the provider's `delivered` report, by provider");
    describe_counter!(WHATSAPP_INBOUND_TOTAL, "Messages customers sent to an association's WhatsApp number (Meta webhooks); each opens or refreshes a 24-hour window");
    describe_counter!(REDIRECTS_TOTAL, "GET /r/{code} answers, by result (found, not_found, error)");
    describe_counter!(LINK_CLICKS_FLUSHED_TOTAL, "Redirect-link clicks written to the store by the batched flusher");
    describe_counter!(CALLBACKS_TOTAL, "Customer status callback attempts, by result (delivered, pending: a retry is scheduled, failed: given up)");
    describe_histogram!(CALLBACKS_SECONDS, Unit::Seconds, "Customer status callback POST latency, until the answer or the failure");
    describe_gauge!(CALLBACKS_OUTBOX_DEPTH, Unit::Count, "Customer status callbacks waiting in the outbox (due or scheduled for retry), refreshed every 5 s from the rows added and settled, counted exactly every 60 s");
    describe_counter!(MESSAGES_FINISHED_TOTAL, "Messages a provider's report moved to an outcome (delivered, undelivered, failed, expired, read), by status, channel and provider; dispatch's own ends are jood_dispatch_messages_total");
}

/// Initialises tracing: `format` is `text` or `json`; `RUST_LOG` overrides `level`.
pub fn init_logging(format: &str, level: &str) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// Whether per-credential series carry the credential id (`metrics.per_credential_labels`).
/// Process-wide, like the recorder it shapes.
static PER_CREDENTIAL: AtomicBool = AtomicBool::new(false);

/// Applies the `[metrics]` settings (called once by `App::build`).
pub fn configure(c: &crate::config::MetricsConfig) {
    PER_CREDENTIAL.store(c.per_credential_labels, Ordering::Relaxed);
}

/// The channel label: one of two values whatever the request said.
pub fn channel_label(channel: &str) -> &'static str {
    if channel == "whatsapp" {
        "whatsapp"
    } else if channel == "email" {
        "email"
    } else {
        "sms"
    }
}

/// The provider label from a stored provider code: a catalogue code, or `none`.
pub fn provider_label(code: Option<&str>) -> &'static str {
    code.and_then(crate::domain::ProviderKind::from_code).map(|p| p.code()).unwrap_or("none")
}

/// A message reached a final dispatch status.
pub fn message_finished(status: &'static str, channel: &str, provider: Option<&str>) {
    metrics::counter!(DISPATCH_MESSAGES_TOTAL, "status" => status, "channel" => channel_label(channel), "provider" => provider_label(provider))
        .increment(1);
}

/// A provider accepted an SMS of `segments` parts (what it bills).
pub fn segments_sent(segments: u32, provider: Option<&str>) {
    if segments > 0 {
        metrics::counter!(SMS_SEGMENTS_TOTAL, "provider" => provider_label(provider)).increment(segments as u64);
    }
}

/// A provider's report moved a message to the outcome `status` (a status name from the
/// message model: a bounded set).
pub fn message_reported(status: &'static str, channel: &str, provider: Option<&str>) {
    metrics::counter!(MESSAGES_FINISHED_TOTAL, "status" => status, "channel" => channel_label(channel), "provider" => provider_label(provider))
        .increment(1);
}

/// The in-flight gauge of one credential's provider calls (increment at the call, decrement
/// when it returns).
pub fn credential_in_flight(provider: &'static str, credential_id: i64) -> metrics::Gauge {
    if PER_CREDENTIAL.load(Ordering::Relaxed) {
        metrics::gauge!(CREDENTIAL_IN_FLIGHT, "provider" => provider, "credential" => credential_id.to_string())
    } else {
        metrics::gauge!(CREDENTIAL_IN_FLIGHT, "provider" => provider)
    }
}

/// The gauge of one credential's calls that returned and whose outcome is not yet durable
/// (increment when the call returns, decrement when its slot is freed).
pub fn credential_settling(provider: &'static str, credential_id: i64) -> metrics::Gauge {
    if PER_CREDENTIAL.load(Ordering::Relaxed) {
        metrics::gauge!(CREDENTIAL_SETTLING, "provider" => provider, "credential" => credential_id.to_string())
    } else {
        metrics::gauge!(CREDENTIAL_SETTLING, "provider" => provider)
    }
}

/// Credentials whose circuit is not closed, with their provider. Kept by credential id so a
/// credential actor that starts (closed) after its predecessor failed clears what that one left.
static OPEN_CIRCUITS: std::sync::LazyLock<parking_lot::Mutex<HashMap<i64, &'static str>>> = std::sync::LazyLock::new(Default::default);

/// Records a credential's circuit state; only changes touch the gauge.
pub fn circuit_state(provider: &'static str, credential_id: i64, open: bool) {
    let mut map = OPEN_CIRCUITS.lock();
    let changed = if open { map.insert(credential_id, provider).is_none() } else { map.remove(&credential_id).is_some() };
    if changed {
        set_circuit_gauge(&map, provider, credential_id, open);
    }
}

/// Whether a credential's circuit breaker is open or half-open now (the console's health).
pub fn circuit_open(credential_id: i64) -> bool {
    OPEN_CIRCUITS.lock().contains_key(&credential_id)
}

/// A credential actor starts with a closed circuit: clears what a failed predecessor left
/// and makes the series visible (at 0) before anything goes wrong.
pub fn circuit_started(provider: &'static str, credential_id: i64) {
    let mut map = OPEN_CIRCUITS.lock();
    map.remove(&credential_id);
    set_circuit_gauge(&map, provider, credential_id, false);
}

fn set_circuit_gauge(map: &HashMap<i64, &'static str>, provider: &'static str, credential_id: i64, open: bool) {
    if PER_CREDENTIAL.load(Ordering::Relaxed) {
        metrics::gauge!(CREDENTIAL_BREAKER_OPEN, "provider" => provider, "credential" => credential_id.to_string()).set(if open { 1.0 } else { 0.0 });
    } else {
        let n = map.values().filter(|p| **p == provider).count();
        metrics::gauge!(CREDENTIAL_BREAKER_OPEN, "provider" => provider).set(n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_gauge(body: &str, provider: &str) -> Option<f64> {
        let prefix = format!("{CREDENTIAL_BREAKER_OPEN}{{provider=\"{provider}\"}} ");
        body.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.parse().unwrap())
    }

    #[test]
    fn the_circuit_gauge_counts_open_credentials_per_provider() {
        let handle = prometheus();
        // Ids no other test uses; the recorder is process-wide.
        let (a, b) = (-9_000_001, -9_000_002);
        circuit_started("qyadat", a);
        assert_eq!(open_gauge(&handle.render(), "qyadat"), Some(0.0));
        circuit_state("qyadat", a, true);
        circuit_state("qyadat", a, true);
        circuit_state("qyadat", b, true);
        assert_eq!(open_gauge(&handle.render(), "qyadat"), Some(2.0), "each credential counts once");
        // A restarted actor starts closed; a closed circuit leaves the count.
        circuit_started("qyadat", a);
        circuit_state("qyadat", b, false);
        assert_eq!(open_gauge(&handle.render(), "qyadat"), Some(0.0));
    }

    #[test]
    fn labels_stay_within_their_sets() {
        assert_eq!(channel_label("whatsapp"), "whatsapp");
        assert_eq!(channel_label("pigeon"), "sms");
        assert_eq!(provider_label(Some("twilio")), "twilio");
        assert_eq!(provider_label(Some("anything else")), "none");
        assert_eq!(provider_label(None), "none");
    }
}
