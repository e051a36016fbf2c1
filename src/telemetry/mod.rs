//! Telemetry: logging set-up and every metric name, declared once with its description.
//!
//! Names follow `jood_<subsystem>_<name>_<unit>[_total]`; labels take values from enums
//! (route templates, providers, statuses), never raw paths or error strings.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS_TOTAL: &str = "jood_http_requests_total";
pub const HTTP_REQUEST_SECONDS: &str = "jood_http_request_duration_seconds";
pub const STORE_COMMIT_SECONDS: &str = "jood_store_commit_duration_seconds";
pub const STORE_COMMIT_BATCH_SIZE: &str = "jood_store_commit_batch_size";
pub const STORE_COMMIT_QUEUE: &str = "jood_store_commit_queue_depth";
pub const INGRESS_ACCEPTED_TOTAL: &str = "jood_ingress_messages_accepted_total";
pub const INGRESS_REJECTED_TOTAL: &str = "jood_ingress_requests_rejected_total";
pub const DISPATCH_MESSAGES_TOTAL: &str = "jood_dispatch_messages_total";
pub const DISPATCH_RETRIES_TOTAL: &str = "jood_dispatch_retries_total";
pub const DISPATCH_FAILOVERS_TOTAL: &str = "jood_dispatch_failovers_total";
pub const DISPATCH_ACTOR_RESTARTS_TOTAL: &str = "jood_dispatch_actor_restarts_total";
pub const DISPATCH_IN_MEMORY: &str = "jood_dispatch_messages_in_memory";
pub const PROVIDER_CALL_SECONDS: &str = "jood_provider_call_duration_seconds";
pub const CREDENTIAL_BREAKER_OPEN: &str = "jood_credential_circuit_open";
pub const DASHBOARD_LOGIN_FAILURES_TOTAL: &str = "jood_dashboard_login_failures_total";
pub const HTTP_RATE_LIMITED_TOTAL: &str = "jood_http_rate_limited_total";
pub const AUTH_IP_DENIED_TOTAL: &str = "jood_auth_ip_denied_total";
pub const IDEMPOTENT_REPLAYS_TOTAL: &str = "jood_idempotency_replays_total";
pub const REDIS_UP: &str = "jood_redis_up";
pub const REDIS_FALLBACKS_TOTAL: &str = "jood_redis_fallbacks_total";

/// Installs the Prometheus recorder once per process and returns its render handle.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .expect("static buckets are valid")
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered, by route template, method and status");
    describe_histogram!(HTTP_REQUEST_SECONDS, Unit::Seconds, "HTTP request latency, by route template and method");
    describe_histogram!(STORE_COMMIT_SECONDS, Unit::Seconds, "Time to apply and fsync one group commit");
    describe_histogram!(STORE_COMMIT_BATCH_SIZE, Unit::Count, "Write requests sharing one group commit (one fsync)");
    describe_gauge!(STORE_COMMIT_QUEUE, Unit::Count, "Write requests waiting for the group committer");
    describe_counter!(INGRESS_ACCEPTED_TOTAL, "Messages accepted durably, by channel");
    describe_counter!(INGRESS_REJECTED_TOTAL, "Send requests refused, by reason");
    describe_counter!(DISPATCH_MESSAGES_TOTAL, "Messages that reached a final dispatch status, by status");
    describe_counter!(DISPATCH_RETRIES_TOTAL, "Provider calls scheduled for retry, by provider");
    describe_counter!(DISPATCH_FAILOVERS_TOTAL, "Messages moved to the next credential of their route");
    describe_counter!(DISPATCH_ACTOR_RESTARTS_TOTAL, "Failed actors restarted by their supervisor, by actor kind");
    describe_gauge!(DISPATCH_IN_MEMORY, Unit::Count, "Messages held by dispatch actors");
    describe_histogram!(PROVIDER_CALL_SECONDS, Unit::Seconds, "Provider HTTP call latency, by provider and outcome");
    describe_counter!(DASHBOARD_LOGIN_FAILURES_TOTAL, "Dashboard logins refused (wrong username or password)");
    describe_gauge!(CREDENTIAL_BREAKER_OPEN, "1 while the last credential of that provider to report has an open circuit");
    describe_counter!(HTTP_RATE_LIMITED_TOTAL, "Requests refused by the per-IP rate limits, by route class");
    describe_counter!(AUTH_IP_DENIED_TOTAL, "Requests refused by an association's IP allow-list, by scheme (webhook, api_key)");
    describe_counter!(IDEMPOTENT_REPLAYS_TOTAL, "Sends answered from an earlier request with the same idempotency key");
    describe_gauge!(REDIS_UP, "1 while Redis answers, 0 while the engine runs on in-process limits (absent without redis.url)");
    describe_counter!(REDIS_FALLBACKS_TOTAL, "Operations served in-process because Redis was unreachable, by operation");
}

/// Initialises tracing: `format` is `text` or `json`; `RUST_LOG` overrides `level`.
pub fn init_logging(format: &str, level: &str) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
