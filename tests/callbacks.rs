//! Customer status callbacks over real HTTP: the engine (in-process, or the `jood` binary for
//! `kill -9`), the provider simulator, and a real HTTP server in the test standing in for the
//! customer's endpoint, which verifies every callback with the documented algorithm (hex
//! HMAC-SHA256 of `timestamp + "." + body` with the association's secretKey). Polling is
//! bounded; nothing asserts on timing.

mod common;

use axum::http::{HeaderMap, StatusCode};
use common::*;
use hmac::{Hmac, Mac};
use jood::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The customer's endpoint: answers `status`, records every verified callback body.
#[derive(Clone)]
struct Endpoint {
    url: String,
    status: Arc<AtomicU16>,
    received: Arc<parking_lot::Mutex<Vec<Value>>>,
    /// Callbacks whose signature did not verify.
    forged: Arc<AtomicU16>,
}

impl Endpoint {
    async fn start(secret: &str, status: u16) -> Self {
        let ep = Endpoint {
            url: String::new(),
            status: Arc::new(AtomicU16::new(status)),
            received: Default::default(),
            forged: Default::default(),
        };
        let (state, secret) = (ep.clone(), secret.to_string());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (state, secret) = (state.clone(), secret.clone());
                async move {
                    let ts = headers.get("x-webhook-timestamp").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    let sig = headers.get("x-webhook-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    // The documented verification, written out.
                    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                    mac.update(ts.as_bytes());
                    mac.update(b".");
                    mac.update(&body);
                    let expected = hex::encode(mac.finalize().into_bytes());
                    if expected != sig {
                        state.forged.fetch_add(1, Ordering::SeqCst);
                        return StatusCode::UNAUTHORIZED;
                    }
                    let code = StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap();
                    if code.is_success() {
                        state.received.lock().push(serde_json::from_slice(&body).unwrap());
                    }
                    code
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Endpoint { url, ..ep }
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn got(&self) -> Vec<Value> {
        self.received.lock().clone()
    }

    /// Waits until `pred` holds over what arrived (or 20 s pass).
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let got = self.got();
            if pred(&got) {
                return got;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{what}: got {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn twilio(sim: &SimHandle) -> Value {
    json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC_cb", "authToken": "tw-token"}, "apiUrl": sim.base_url(), "isDefault": true})
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn fast_retries(c: &mut jood::config::Config) {
    c.dispatch.route_refresh_ms = 1;
    c.callbacks.allow_private_targets = true;
    c.callbacks.backoff_base_ms = 20;
    c.callbacks.backoff_max_ms = 200;
}

async fn put_callback_url(s: &TestServer, k: &Keys, url: Value) -> (u16, Value) {
    send(s.req(reqwest::Method::PUT, "/api/v1/associations/1", &k.api_key, &k.secret_key).json(&json!({"statusCallbackUrl": url}))).await
}

async fn attempts(s: &TestServer, k: &Keys, query: &str) -> Vec<Value> {
    let (status, body) = send(s.req(reqwest::Method::GET, &format!("/api/v1/associations/1/callbacks{query}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Waits until the attempts listing for `query` satisfies `pred` (or 20 s pass).
async fn wait_attempts(s: &TestServer, k: &Keys, query: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got = attempts(s, k, query).await;
        if pred(&got) {
            return got;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "attempts{query}: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn of(got: &[Value], queue_id: i64) -> Vec<Value> {
    got.iter().filter(|c| c["data"]["queueId"] == queue_id).cloned().collect()
}

#[tokio::test]
async fn sent_and_delivered_arrive_signed_with_stable_ids() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig { dlr_delay_ms: 10, dlr_jitter_ms: 10, ..SimConfig::default() }).await.unwrap();
    let port = free_port();
    let s = TestServer::start_with(move |c| {
        fast_retries(c);
        c.server.http_addr = format!("127.0.0.1:{port}");
        c.server.public_url = format!("http://127.0.0.1:{port}");
    })
    .await;
    let k = s.create_association(1, "A").await;
    let ep = Endpoint::start(&k.secret_key, 200).await;
    let (status, body) = put_callback_url(&s, &k, json!(ep.url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["statusCallbackUrl"], ep.url.as_str());
    let (_, got) = send(s.req(reqwest::Method::GET, "/api/v1/associations/1", &k.api_key, &k.secret_key)).await;
    assert_eq!(got["data"]["statusCallbackUrl"], ep.url.as_str(), "{got}");
    s.add_credential(1, &k, twilio(&sim)).await;

    let id = s.send_sms(1, &k.secret_key, "+966501234567", "hello").await;
    let got = ep.wait_for("sent and delivered callbacks", |g| {
        let mine = of(g, id);
        ["sent", "delivered"].iter().all(|st| mine.iter().any(|c| c["data"]["status"] == *st))
    })
    .await;
    let mine = of(&got, id);
    for c in &mine {
        assert_eq!(c["event"], "message.status");
        let d = &c["data"];
        assert_eq!(d["recipient"], "+966501234567");
        assert_eq!(d["channel"], "sms");
        assert_eq!(d["provider"], "twilio", "{c}");
        assert!(d["providerMessageId"].is_string(), "{c}");
        assert!(d["at"].is_string() && d.get("campaignId").is_some() && d.get("error").is_some(), "{c}");
        assert!(c["id"].as_str().unwrap().starts_with(&format!("{id}-")), "{c}");
    }
    let ids: std::collections::HashSet<&str> = mine.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let statuses: std::collections::HashSet<&str> = mine.iter().map(|c| c["data"]["status"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), statuses.len(), "one event id per status change: {mine:?}");
    assert_eq!(ep.forged.load(Ordering::SeqCst), 0);

    // The attempts listing: delivered ones, newest first, with code and latency.
    let delivered = wait_attempts(&s, &k, "?status=delivered", |a| a.len() >= 2).await;
    assert!(delivered.iter().all(|a| a["status"] == "delivered" && a["statusCode"] == 200 && a["latencyMs"].is_u64()), "{delivered:?}");
    assert!(delivered.iter().all(|a| ids.contains(a["eventId"].as_str().unwrap())), "{delivered:?}");
    let bad = send(s.req(reqwest::Method::GET, "/api/v1/associations/1/callbacks?status=lost", &k.api_key, &k.secret_key)).await;
    assert_error(&bad, 400, "status");
    // Another association's keys see nothing of it.
    let other = s.create_association(2, "B").await;
    let (status, _) = send(s.req(reqwest::Method::GET, "/api/v1/associations/1/callbacks", &other.api_key, &other.secret_key)).await;
    assert_eq!(status, 403);
    // null clears it.
    let (status, body) = put_callback_url(&s, &k, Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["statusCallbackUrl"].is_null(), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn callbacks_wait_while_the_endpoint_is_down_and_keep_their_ids() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start_with(fast_retries).await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim)).await;
    let ep = Endpoint::start(&k.secret_key, 503).await;
    // The send's own callbackUrl (the association has none).
    let mut queued = Vec::new();
    for i in 0..3 {
        let body = json!({"associationId": 1, "recipient": "+966501234567", "message": format!("m{i}"), "callbackUrl": ep.url}).to_string();
        let (status, resp) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
        assert_eq!(status, 200, "{resp}");
        queued.push(resp["data"]["queueId"].as_i64().unwrap());
    }
    // Each has been tried and refused at least twice (503), and waits for its next retry.
    let pending = wait_attempts(&s, &k, "?status=pending&limit=500", |a| {
        queued.iter().all(|q| a.iter().filter(|x| x["queueId"] == *q).count() >= 2)
    })
    .await;
    assert!(pending.iter().all(|a| a["statusCode"] == 503 && a["nextRetryAt"].is_string()), "{pending:?}");
    let waiting: std::collections::HashSet<String> = pending.iter().map(|a| a["eventId"].as_str().unwrap().to_string()).collect();
    assert_eq!(waiting.len(), 3, "one event per message (`sent`), the same id on every attempt: {pending:?}");
    assert!(ep.got().is_empty());

    ep.set(200);
    let got = ep.wait_for("every waiting callback", |g| waiting.iter().all(|id| g.iter().any(|c| c["id"] == id.as_str()))).await;
    for q in &queued {
        assert!(of(&got, *q).iter().any(|c| c["data"]["status"] == "sent"), "{got:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn gone_stops_the_retries() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start_with(fast_retries).await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim)).await;
    let ep = Endpoint::start(&k.secret_key, 410).await;
    assert_eq!(put_callback_url(&s, &k, json!(ep.url)).await.0, 200);
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "x").await;
    let failed = wait_attempts(&s, &k, "?status=failed", |a| a.iter().any(|x| x["queueId"] == id)).await;
    assert!(failed.iter().all(|a| a["statusCode"] == 410 && a["nextRetryAt"].is_null()), "{failed:?}");
    // Nothing left to retry: the outbox is empty, no attempt is pending.
    let started = Instant::now();
    while s.store.outbox_len().await.unwrap() > 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "outbox not empty after 410");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(attempts(&s, &k, "?status=pending").await.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn private_and_malformed_targets_are_refused_without_the_setting() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    for (url, needle) in [
        ("http://127.0.0.1:9/hook", "statusCallbackUrl"),
        ("http://localhost/hook", "not allowed"),
        ("http://10.0.0.7/hook", "not allowed"),
        ("http://169.254.169.254/latest/meta-data", "not allowed"),
        ("http://[::1]/hook", "not allowed"),
        ("ftp://example.com/hook", "http"),
    ] {
        let got = put_callback_url(&s, &k, json!(url)).await;
        assert_error(&got, 400, needle);
    }
    let long = format!("https://example.com/{}", "a".repeat(2100));
    assert_error(&put_callback_url(&s, &k, json!(long)).await, 400, "2048");
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "m", "callbackUrl": "http://192.168.1.1/x"}).to_string();
    let got = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_error(&got, 400, "callbackUrl");
    let body = json!({"associationId": 1, "recipients": ["+966501234567"], "message": "m", "callbackUrl": "http://127.0.0.1/x"}).to_string();
    let got = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body)).await;
    assert_error(&got, 400, "callbackUrl");
    s.stop().await;
}

#[tokio::test]
async fn kill_9_with_callbacks_pending_loses_none() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("JOOD__CALLBACKS__ALLOW_PRIVATE_TARGETS", "true"),
        ("JOOD__CALLBACKS__BACKOFF_BASE_MS", "20"),
        ("JOOD__CALLBACKS__BACKOFF_MAX_MS", "200"),
        ("JOOD__DISPATCH__ROUTE_REFRESH_MS", "1"),
    ];
    let engine = EngineProcess::spawn_with_env(&data, &[], &env);
    let client = reqwest::Client::new();
    let (status, body) = send(
        client.post(format!("{}/api/v1/associations", engine.base)).header("x-api-key", ADMIN_KEY).header("x-api-secret", ADMIN_KEY).json(&json!({"id": 1, "name": "K"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let api_key = body["data"]["association"]["apiKey"].as_str().unwrap().to_string();
    let secret = body["data"]["association"]["secretKey"].as_str().unwrap().to_string();
    let auth = |rb: reqwest::RequestBuilder| rb.header("x-api-key", &api_key).header("x-api-secret", &secret);
    let (status, body) = send(auth(client.post(format!("{}/api/v1/associations/1/credentials", engine.base))).json(&twilio(&sim))).await;
    assert_eq!(status, 201, "{body}");
    let ep = Endpoint::start(&secret, 503).await;
    let (status, body) = send(auth(client.put(format!("{}/api/v1/associations/1", engine.base))).json(&json!({"statusCallbackUrl": ep.url}))).await;
    assert_eq!(status, 200, "{body}");
    let mut queued = Vec::new();
    for i in 0..5 {
        let body = json!({"associationId": 1, "recipient": "+966501234567", "message": format!("k{i}")}).to_string();
        let ts = now_ms().to_string();
        let (status, resp) = send(
            client
                .post(format!("{}/api/v1/webhook/notification", engine.base))
                .header("content-type", "application/json")
                .header("x-webhook-timestamp", &ts)
                .header("x-webhook-signature", sign(&secret, &ts, &body))
                .body(body),
        )
        .await;
        assert_eq!(status, 200, "{resp}");
        queued.push(resp["data"]["queueId"].as_i64().unwrap());
    }
    // Every message's `sent` callback has been tried (and refused) at least once.
    let listing = format!("{}/api/v1/associations/1/callbacks?status=pending&limit=500", engine.base);
    let started = Instant::now();
    let waiting: std::collections::HashSet<String> = loop {
        let (_, body) = send(auth(client.get(&listing))).await;
        let rows = body["data"].as_array().cloned().unwrap_or_default();
        if queued.iter().all(|q| rows.iter().any(|a| a["queueId"] == *q)) {
            break rows.iter().map(|a| a["eventId"].as_str().unwrap().to_string()).collect();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not every callback tried: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    engine.kill9();
    ep.set(200);
    let engine = EngineProcess::spawn_with_env(&data, &[], &env);
    let got = ep.wait_for("every callback pending at the kill", |g| waiting.iter().all(|id| g.iter().any(|c| c["id"] == id.as_str()))).await;
    for q in &queued {
        assert!(of(&got, *q).iter().any(|c| c["data"]["status"] == "sent"), "{q}: {got:?}");
    }
    assert_eq!(ep.forged.load(Ordering::SeqCst), 0);
    engine.kill9();
}

/// An endpoint that holds every callback until released, counting how many it holds at once.
#[derive(Clone)]
struct Gate {
    held: Arc<std::sync::atomic::AtomicUsize>,
    most: Arc<std::sync::atomic::AtomicUsize>,
    arrived: Arc<std::sync::atomic::AtomicUsize>,
    open: Arc<tokio::sync::Semaphore>,
}

impl Gate {
    fn new() -> Self {
        Gate { held: Default::default(), most: Default::default(), arrived: Default::default(), open: Arc::new(tokio::sync::Semaphore::new(0)) }
    }

    async fn start(&self) -> String {
        let gate = self.clone();
        let app = axum::Router::new().route(
            "/slow",
            axum::routing::post(move || {
                let g = gate.clone();
                async move {
                    g.arrived.fetch_add(1, Ordering::SeqCst);
                    let now = g.held.fetch_add(1, Ordering::SeqCst) + 1;
                    g.most.fetch_max(now, Ordering::SeqCst);
                    // Released all at once: the semaphore gets plenty of permits.
                    let _ = g.open.acquire().await;
                    g.held.fetch_sub(1, Ordering::SeqCst);
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }
}

/// One association's endpoint that does not answer holds at most
/// `callbacks.per_association_concurrency` of its own callbacks, and every callback of
/// another association arrives meanwhile; once it answers, its own all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_holds_up_only_its_own_associations_callbacks() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start_with(|c| {
        fast_retries(c);
        c.callbacks.per_association_concurrency = 3;
        c.callbacks.timeout_ms = 30_000;
    })
    .await;
    let slow_keys = s.create_association(1, "Slow").await;
    let fast_keys = s.create_association(2, "Fast").await;
    s.add_credential(1, &slow_keys, twilio(&sim)).await;
    s.add_credential(2, &fast_keys, twilio(&sim)).await;
    let gate = Gate::new();
    let slow_url = gate.start().await;
    let fast = Endpoint::start(&fast_keys.secret_key, 200).await;
    const N: usize = 12;
    let mut fast_ids = Vec::new();
    for i in 0..N {
        let slow = json!({"associationId": 1, "recipient": "+966501234567", "message": format!("s{i}"), "callbackUrl": slow_url}).to_string();
        let (status, resp) = send(s.signed("/api/v1/webhook/notification", &slow_keys.secret_key, &slow)).await;
        assert_eq!(status, 200, "{resp}");
        let quick = json!({"associationId": 2, "recipient": "+966501234567", "message": format!("f{i}"), "callbackUrl": fast.url}).to_string();
        let (status, resp) = send(s.signed("/api/v1/webhook/notification", &fast_keys.secret_key, &quick)).await;
        assert_eq!(status, 200, "{resp}");
        fast_ids.push(resp["data"]["queueId"].as_i64().unwrap());
    }
    fast.wait_for("every `sent` callback of the fast endpoint", |g| fast_ids.iter().all(|q| of(g, *q).iter().any(|c| c["data"]["status"] == "sent"))).await;
    let (most, arrived) = (gate.most.load(Ordering::SeqCst), gate.arrived.load(Ordering::SeqCst));
    assert!(most <= 3, "the slow endpoint held {most} callbacks at once, more than the bound of 3");
    assert!(arrived <= 3, "{arrived} callbacks reached the slow endpoint while it held 3 unanswered");
    gate.open.add_permits(1_000);
    let started = Instant::now();
    while gate.arrived.load(Ordering::SeqCst) < N {
        assert!(started.elapsed() < Duration::from_secs(20), "only {} of {N} slow callbacks arrived once it answered", gate.arrived.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gate.most.load(Ordering::SeqCst) <= 3);
    s.stop().await;
}
