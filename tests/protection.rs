//! Operations and protection, end to end against the real server: per-IP rate limits with
//! Retry-After, X-Forwarded-For behind trusted and untrusted peers, association IP
//! allow-lists (IPv4/IPv6, CIDR), `allowedIps` validation and who may set it, idempotency
//! keys; and, against a real `redis-server` each test starts on its own port, limits shared
//! by two engines, idempotent retries across engines, shared credential permits, and a Redis
//! outage and restart mid-run. The Redis tests skip (saying so) when `redis-server` is absent.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use common::*;
use redis_server::RedisServer;
use jood::coord::{Coordinator, Permits};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NOTIFY: &str = "/api/v1/webhook/notification";

/// Status, headers and body text.
async fn call(rb: reqwest::RequestBuilder) -> (u16, HeaderMap, String) {
    let resp = rb.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

/// An unsigned send: 401 when the rate limit lets it through, 429 when not. Enough to
/// count the limit without creating messages.
fn probe(s: &TestServer, xff: Option<&str>) -> reqwest::RequestBuilder {
    let r = s.client.post(s.url(NOTIFY)).header("content-type", "application/json").body("{}");
    match xff {
        Some(x) => r.header("x-forwarded-for", x),
        None => r,
    }
}

async fn probe_status(s: &TestServer, xff: Option<&str>) -> u16 {
    call(probe(s, xff)).await.0
}

fn sms(id: i64, text: &str) -> String {
    json!({"associationId": id, "recipient": "+966501234567", "message": text}).to_string()
}

fn assert_rate_limited(got: &(u16, HeaderMap, String)) {
    assert_eq!(got.0, 429, "{}", got.2);
    let retry: u64 = got.1.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = serde_json::from_str(&got.2).unwrap();
    assert_eq!(body["success"], false);
    assert!(body["error"].as_str().unwrap().contains("Rate limited"), "{body}");
}

#[tokio::test]
async fn per_ip_rate_limit_answers_429_with_retry_after() {
    let s = TestServer::start_with(|c| c.rate_limit.notification_per_minute = 3).await;
    let k = s.create_association(1, "A").await;
    for i in 0..3 {
        let (status, _, body) = call(s.signed(NOTIFY, &k.secret_key, &sms(1, &format!("m{i}")))).await;
        assert_eq!(status, 200, "{body}");
    }
    let got = call(s.signed(NOTIFY, &k.secret_key, &sms(1, "one too many"))).await;
    assert_rate_limited(&got);
    // Retry-After counts down from the minute the first request opened.
    let retry: u64 = got.1["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 30, "{retry}");
    // Other routes are not limited.
    for _ in 0..5 {
        assert_eq!(send(s.req(Method::GET, "/api/v1/associations/1", &k.api_key, &k.secret_key)).await.0, 200);
    }
    s.stop().await;

    // Disabled: no limit.
    let s = TestServer::start_with(|c| {
        c.rate_limit.notification_per_minute = 1;
        c.rate_limit.enabled = false;
    })
    .await;
    for _ in 0..5 {
        assert_eq!(probe_status(&s, None).await, 401);
    }
    s.stop().await;
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    // The test client (127.0.0.1) is the trusted proxy: each forwarded client has its own budget.
    let s = TestServer::start_with(|c| {
        c.rate_limit.notification_per_minute = 2;
        c.server.client_ip = "x-forwarded-for".into();
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    assert_eq!(probe_status(&s, Some("203.0.113.5")).await, 401);
    assert_eq!(probe_status(&s, Some("203.0.113.5")).await, 401);
    assert_rate_limited(&call(probe(&s, Some("203.0.113.5"))).await);
    // Another client, and the proxy itself (no header), are counted apart.
    assert_eq!(probe_status(&s, Some("203.0.113.6")).await, 401);
    assert_eq!(probe_status(&s, None).await, 401);
    // A forged left-most entry does not help: the right-most untrusted hop is the client.
    assert_eq!(probe_status(&s, Some("198.51.100.7, 203.0.113.5")).await, 429);
    // IPv6 clients are counted per /64.
    assert_eq!(probe_status(&s, Some("2001:db8:1:2::1")).await, 401);
    assert_eq!(probe_status(&s, Some("2001:db8:1:2::2")).await, 401);
    assert_eq!(probe_status(&s, Some("2001:db8:1:2:ffff::3")).await, 429);
    assert_eq!(probe_status(&s, Some("2001:db8:1:3::1")).await, 401);
    s.stop().await;

    // The peer is not a trusted proxy: the header is ignored, every request counts as 127.0.0.1.
    let s = TestServer::start_with(|c| {
        c.rate_limit.notification_per_minute = 2;
        c.server.client_ip = "x-forwarded-for".into();
        c.server.trusted_proxies = vec!["10.0.0.0/8".into()];
    })
    .await;
    assert_eq!(probe_status(&s, Some("203.0.113.5")).await, 401);
    assert_eq!(probe_status(&s, Some("203.0.113.6")).await, 401);
    assert_eq!(probe_status(&s, Some("203.0.113.7")).await, 429);
    assert_eq!(probe_status(&s, None).await, 429);
    s.stop().await;
}

async fn set_allowed_ips(s: &TestServer, id: i64, ips: Value) -> (u16, Value) {
    send(s.admin(Method::PUT, &format!("/api/v1/associations/{id}")).json(&json!({ "allowedIps": ips }))).await
}

#[tokio::test]
async fn ip_allow_lists_guard_webhook_and_api_key_routes() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let own_get = || s.req(Method::GET, "/api/v1/associations/1", &k.api_key, &k.secret_key);
    let (_, body) = send(own_get()).await;
    assert_eq!(body["data"]["allowedIps"], json!([]), "empty by default: any address");

    // The client connects from 127.0.0.1: a 10.0.0.0/8 list refuses it everywhere.
    let (status, body) = set_allowed_ips(&s, 1, json!(["10.0.0.0/8"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["allowedIps"], json!(["10.0.0.0/8"]));
    assert_error(&send(s.signed(NOTIFY, &k.secret_key, &sms(1, "hi"))).await, 403, "IP not allowed");
    assert_error(&send(own_get()).await, 403, "IP not allowed");
    assert_error(&send(s.client.get(s.url("/api/v1/providers")).header("x-api-key", &k.admin_api_key)).await, 403, "IP not allowed");
    // A bad signature still reads as a bad signature (nothing about the association leaks).
    let ts = now_ms().to_string();
    let bad = s.client.post(s.url(NOTIFY)).header("x-webhook-timestamp", &ts).header("x-webhook-signature", sign("wrong", &ts, &sms(1, "x"))).body(sms(1, "x"));
    assert_error(&send(bad).await, 401, "Invalid signature");
    // The super-admin is bound by no association's list.
    let (status, body) = send(s.admin(Method::GET, "/api/v1/associations/1")).await;
    assert_eq!((status, body["data"]["allowedIps"].clone()), (200, json!(["10.0.0.0/8"])));

    // 127.0.0.0/8 (with another entry beside it) lets it in.
    let (status, _) = set_allowed_ips(&s, 1, json!(["192.168.0.1", "127.0.0.0/8"])).await;
    assert_eq!(status, 200);
    let (status, body) = send(s.signed(NOTIFY, &k.secret_key, &sms(1, "hi"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(own_get()).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["allowedIps"], json!(["192.168.0.1", "127.0.0.0/8"]));
    // A single address works as well as a range; [] clears the list.
    assert_eq!(set_allowed_ips(&s, 1, json!(["127.0.0.1"])).await.0, 200);
    assert_eq!(send(own_get()).await.0, 200);
    assert_eq!(set_allowed_ips(&s, 1, json!(["::1"])).await.0, 200);
    assert_error(&send(own_get()).await, 403, "IP not allowed");
    assert_eq!(set_allowed_ips(&s, 1, json!([])).await.0, 200);
    assert_eq!(send(own_get()).await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn ipv6_and_cidr_allow_lists_behind_a_trusted_proxy() {
    let s = TestServer::start_with(|c| {
        c.server.client_ip = "x-forwarded-for".into();
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let k = s.create_association(1, "A").await;
    assert_eq!(set_allowed_ips(&s, 1, json!(["2001:db8::/32", "203.0.113.0/24"])).await.0, 200);
    let send_from = |xff: &'static str| {
        let rb = s.signed(NOTIFY, &k.secret_key, &sms(1, xff)).header("x-forwarded-for", xff);
        async move { send(rb).await }
    };
    assert_eq!(send_from("2001:db8:5::1").await.0, 200);
    assert_error(&send_from("2001:db9::1").await, 403, "IP not allowed");
    assert_eq!(send_from("203.0.113.77").await.0, 200);
    assert_eq!(send_from("::ffff:203.0.113.78").await.0, 200);
    assert_error(&send_from("198.51.100.1").await, 403, "IP not allowed");
    let get_from = |xff: &'static str| s.req(Method::GET, "/api/v1/associations/1", &k.api_key, &k.secret_key).header("x-forwarded-for", xff);
    assert_eq!(send(get_from("2001:db8:ffff::9")).await.0, 200);
    assert_error(&send(get_from("2001:db9::1")).await, 403, "IP not allowed");
    s.stop().await;
}

#[tokio::test]
async fn allowed_ips_are_validated_and_set_by_the_super_admin_only() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    for (ips, needle) in [
        (json!(["10.0.0.1", "10.0.0.300"]), "allowedIps[1] `10.0.0.300` is not an IP address or CIDR range"),
        (json!(["fe80::/129"]), "allowedIps[0] `fe80::/129`"),
        (json!(["10.0.0.0/8", "intranet"]), "allowedIps[1] `intranet`"),
        (json!([""]), "allowedIps[0]"),
        (json!(["10.0.0.1", 7]), "field `allowedIps[1]`"),
        (json!("10.0.0.1"), "field `allowedIps`"),
    ] {
        assert_error(&set_allowed_ips(&s, 1, ips).await, 400, needle);
    }
    // Host bits set name the same range: stored as the network.
    let (status, body) = set_allowed_ips(&s, 1, json!(["10.1.2.3/8", "2001:DB8::1"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["allowedIps"], json!(["10.0.0.0/8", "2001:db8::1"]));
    assert_eq!(set_allowed_ips(&s, 1, json!([])).await.0, 200);

    // An association may not set its own list, even to something harmless; other fields it may.
    let own_put = |body: Value| s.req(Method::PUT, "/api/v1/associations/1", &k.api_key, &k.secret_key).json(&body);
    assert_error(&send(own_put(json!({"allowedIps": ["127.0.0.1"]}))).await, 403, "Super admin");
    assert_error(&send(own_put(json!({"name": "B", "allowedIps": []}))).await, 403, "Super admin");
    let (status, body) = send(own_put(json!({"name": "Renamed"}))).await;
    assert_eq!((status, body["data"]["allowedIps"].clone(), body["data"]["name"].clone()), (200, json!([]), json!("Renamed")));
    s.stop().await;
}

#[tokio::test]
async fn idempotency_keys_in_process() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let body = sms(1, "Your code is 1234");
    let first = call(s.signed(NOTIFY, &k.secret_key, &body).header("idempotency-key", "order-1")).await;
    assert_eq!(first.0, 200, "{}", first.2);
    assert!(first.1.get("idempotent-replayed").is_none());
    // Re-signed retry (another timestamp), and the very same signed bytes: the first answer.
    let again = call(s.signed(NOTIFY, &k.secret_key, &body).header("idempotency-key", "order-1")).await;
    assert_eq!((again.0, &again.2), (200, &first.2));
    assert_eq!(again.1["idempotent-replayed"], "true");
    let ts = now_ms().to_string();
    let same = || {
        s.client
            .post(s.url(NOTIFY))
            .header("x-webhook-timestamp", &ts)
            .header("x-webhook-signature", sign(&k.secret_key, &ts, &body))
            .header("idempotency-key", "order-1")
            .body(body.clone())
    };
    assert_eq!(call(same()).await.2, first.2);
    assert_eq!(call(same()).await.2, first.2);
    // The key in the body works the same; the key reused for another request is refused.
    let in_body = json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "idempotencyKey": "order-2"}).to_string();
    let a = call(s.signed(NOTIFY, &k.secret_key, &in_body)).await;
    assert_eq!(a.0, 200);
    assert_eq!(call(s.signed(NOTIFY, &k.secret_key, &in_body)).await.2, a.2);
    assert_ne!(a.2, first.2);
    assert_error(&send(s.signed(NOTIFY, &k.secret_key, &sms(1, "other")).header("idempotency-key", "order-1")).await, 422, "different request");
    // A validation error is an answer too: the same again.
    let bad = json!({"associationId": 1, "recipient": "12ab", "message": "x"}).to_string();
    let b1 = call(s.signed(NOTIFY, &k.secret_key, &bad).header("idempotency-key", "bad-1")).await;
    let b2 = call(s.signed(NOTIFY, &k.secret_key, &bad).header("idempotency-key", "bad-1")).await;
    assert_eq!((b1.0, b2.0, &b1.2), (400, 400, &b2.2));
    // Without a key nothing changes: a replayed signature is refused.
    assert_eq!(send(s.signed(NOTIFY, &k.secret_key, &sms(1, "plain"))).await.0, 200);
    let plain = || s.client.post(s.url(NOTIFY)).header("x-webhook-timestamp", &ts).header("x-webhook-signature", sign(&k.secret_key, &ts, &sms(1, "p2"))).body(sms(1, "p2"));
    assert_eq!(send(plain()).await.0, 200);
    assert_error(&send(plain()).await, 401, "replay");
    // Keys are per association.
    let k2 = s.create_association(2, "B").await;
    let other = call(s.signed(NOTIFY, &k2.secret_key, &sms(2, "Your code is 1234")).header("idempotency-key", "order-1")).await;
    assert_eq!(other.0, 200);
    assert_ne!(other.2, first.2);
    s.stop().await;
}

// ---------------------------------------------------------------------------------------
// Against a real redis-server.

async fn engine_with(redis: &RedisServer, per_minute: u32) -> TestServer {
    let url = redis.url();
    TestServer::start_with(move |c| {
        c.redis.url = url;
        c.redis.timeout_ms = 200;
        c.redis.probe_interval_ms = 50;
        c.rate_limit.notification_per_minute = per_minute;
    })
    .await
}

async fn redis_status(s: &TestServer) -> String {
    let (_, body) = send(s.client.get(s.url("/healthz"))).await;
    body["data"]["redis"].as_str().unwrap().to_string()
}

async fn wait_redis_status(s: &TestServer, want: &str) {
    let started = Instant::now();
    while redis_status(s).await != want {
        assert!(started.elapsed() < Duration::from_secs(15), "redis never became {want}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sends `n` probes alternating between the engines; returns how many got through.
async fn alternate(a: &TestServer, b: &TestServer, n: usize) -> usize {
    let mut passed = 0;
    for i in 0..n {
        let status = probe_status(if i % 2 == 0 { a } else { b }, None).await;
        assert!(status == 401 || status == 429, "{status}");
        passed += usize::from(status == 401);
    }
    passed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_share_one_limit_through_redis() {
    let Some(redis) = RedisServer::start("two_engines_share_one_limit_through_redis") else { return };
    let a = engine_with(&redis, 5).await;
    let b = engine_with(&redis, 5).await;
    assert_eq!(redis_status(&a).await, "up");
    assert_eq!(alternate(&a, &b, 12).await, 5, "together exactly the limit");
    assert_rate_limited(&call(probe(&a, None)).await);
    assert_rate_limited(&call(probe(&b, None)).await);
    // Scripts are run by SHA and loaded again after a flush.
    redis.query(&["SCRIPT", "FLUSH"]).unwrap();
    redis.query(&["FLUSHALL"]).unwrap();
    assert_eq!(alternate(&a, &b, 8).await, 5);
    assert_eq!(redis_status(&a).await, "up", "NOSCRIPT is not an outage");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_through_redis_send_once() {
    let Some(redis) = RedisServer::start("idempotent_retries_through_redis_send_once") else { return };
    let sim = jood::sim::Simulator::start("127.0.0.1:0", jood::sim::SimConfig::default()).await.unwrap();
    let a = engine_with(&redis, 100).await;
    let b = engine_with(&redis, 100).await;
    let ka = a.create_association(1, "A").await;
    let kb = b.create_association(1, "A").await;
    let twilio = |sid: &str| json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": sid, "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true});
    a.add_credential(1, &ka, twilio("AC_a")).await;
    b.add_credential(1, &kb, twilio("AC_b")).await;
    let received = |sid: &str| sim.stats()["providers"]["twilio"]["credentials"][sid]["received"].as_u64().unwrap_or(0);

    let body = sms(1, "Your code is 777");
    let first = call(a.signed(NOTIFY, &ka.secret_key, &body).header("idempotency-key", "pay-1")).await;
    assert_eq!(first.0, 200, "{}", first.2);
    // Retried on the same engine, then on the other one (signed with its own secret): the
    // first answer each time.
    for _ in 0..2 {
        let again = call(a.signed(NOTIFY, &ka.secret_key, &body).header("idempotency-key", "pay-1")).await;
        assert_eq!((again.0, &again.2), (200, &first.2));
    }
    let elsewhere = call(b.signed(NOTIFY, &kb.secret_key, &body).header("idempotency-key", "pay-1")).await;
    assert_eq!((elsewhere.0, &elsewhere.2), (200, &first.2));
    assert_eq!(elsewhere.1["idempotent-replayed"], "true");

    // The message was stored once and sent once: its id is the one answered, and after a
    // later message has been sent too, the provider has seen exactly those two.
    let id = serde_json::from_str::<Value>(&first.2).unwrap()["data"]["queueId"].as_i64().unwrap();
    assert_eq!(a.wait_terminal(&ka, id, 10).await["status"], "sent");
    let later = a.send_sms(1, &ka.secret_key, "+966501234568", "later").await;
    assert_eq!(a.wait_terminal(&ka, later, 10).await["status"], "sent");
    assert_eq!(received("AC_a"), 2);
    assert_eq!(received("AC_b"), 0, "the retry on the other engine sent nothing");
    let texts: Vec<String> = sim.requests(jood::domain::ProviderKind::Twilio).iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    assert_eq!(texts.iter().filter(|t| t.contains("Your code is 777")).count(), 1);

    // A duplicate while the first is still running gets 409: plant a pending claim as a
    // running request on a third engine would.
    let key = format!("jood:idem:1:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"pay-2")));
    redis.query(&["SET", &key, "p:elsewhere", "PX", "60000"]).unwrap();
    let busy = send(a.signed(NOTIFY, &ka.secret_key, &sms(1, "second")).header("idempotency-key", "pay-2")).await;
    assert_error(&busy, 409, "still being processed");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_local_limits_and_recovers() {
    let Some(mut redis) = RedisServer::start("redis_outage_falls_back_to_local_limits_and_recovers") else { return };
    let a = engine_with(&redis, 3).await;
    let b = engine_with(&redis, 3).await;
    assert_eq!(alternate(&a, &b, 6).await, 3, "shared limit");
    // A third engine sends through a provider credential before, during and after the outage.
    let sim = jood::sim::Simulator::start("127.0.0.1:0", jood::sim::SimConfig::default()).await.unwrap();
    let c = engine_with(&redis, 100).await;
    let kc = c.create_association(1, "C").await;
    let cred = json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC_c", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true});
    c.add_credential(1, &kc, cred).await;
    let delivered = |text: &'static str| {
        let (c, kc) = (&c, &kc);
        async move {
            let id = c.send_sms(1, &kc.secret_key, "+966501234567", text).await;
            assert_eq!(c.wait_terminal(kc, id, 10).await["status"], "sent", "{text}");
        }
    };
    delivered("before the outage").await;

    redis.kill();
    // Requests keep being answered: each engine now applies the limit by itself.
    let mut passed = 0;
    for _ in 0..5 {
        passed += usize::from(probe_status(&a, None).await == 401);
    }
    assert_eq!(passed, 3, "engine A's own limit while Redis is down");
    assert_eq!(redis_status(&a).await, "down");
    assert_eq!(probe_status(&b, None).await, 401, "engine B has its own budget while Redis is down");
    // Signed sends still work (replay protection and idempotency run in-process).
    let s2 = TestServer::start_with(|c| {
        c.redis.url = redis.url();
        c.redis.timeout_ms = 200;
        c.redis.probe_interval_ms = 50;
    })
    .await;
    assert_eq!(redis_status(&s2).await, "down", "an engine starts while Redis is down");
    let k2 = s2.create_association(1, "A").await;
    let body = sms(1, "during the outage");
    let r1 = call(s2.signed(NOTIFY, &k2.secret_key, &body).header("idempotency-key", "o-1")).await;
    assert_eq!(r1.0, 200, "{}", r1.2);
    assert_eq!(call(s2.signed(NOTIFY, &k2.secret_key, &body).header("idempotency-key", "o-1")).await.2, r1.2);
    // Provider calls go on with the credential's in-process bucket.
    delivered("during the outage").await;
    assert_eq!(redis_status(&c).await, "down");

    redis.spawn();
    wait_redis_status(&a, "up").await;
    wait_redis_status(&b, "up").await;
    wait_redis_status(&s2, "up").await;
    // The shared limit applies again (the restarted Redis starts with an empty window).
    assert_eq!(alternate(&a, &b, 8).await, 3, "shared limit after the restart");
    wait_redis_status(&c, "up").await;
    delivered("after the outage").await;
    a.stop().await;
    b.stop().await;
    c.stop().await;
    s2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_permits_are_shared_through_redis() {
    let Some(redis) = RedisServer::start("credential_permits_are_shared_through_redis") else { return };
    let cfg = jood::config::RedisConfig { url: redis.url(), ..Default::default() };
    let idem = jood::config::IdempotencyConfig::default();
    let stop = tokio_util::sync::CancellationToken::new();
    let one = Coordinator::start(&cfg, &idem, 300_000, stop.clone()).await.unwrap();
    let two = Coordinator::start(&cfg, &idem, 300_000, stop.clone()).await.unwrap();
    assert!(one.shares_credential_limits());
    // 5/s with one second of burst: five permits between both, then a wait of about 1/5 s.
    assert_eq!(one.acquire_credential(42, 5.0, 3).await, Permits::Granted(3));
    assert_eq!(two.acquire_credential(42, 5.0, 10).await, Permits::Granted(2));
    match one.acquire_credential(42, 5.0, 1).await {
        Permits::Wait(d) => assert!(d > Duration::ZERO && d <= Duration::from_millis(200), "{d:?}"),
        other => panic!("expected a wait, got {other:?}"),
    }
    assert_eq!(two.acquire_credential(43, 5.0, 1).await, Permits::Granted(1), "credentials are limited apart");

    // The credential actor asks Redis. At 1 call per 100 s (a burst of one), a credential
    // whose one permit another engine just took gets no call; one whose permit is free is
    // called at once.
    let sim = jood::sim::Simulator::start("127.0.0.1:0", jood::sim::SimConfig::default()).await.unwrap();
    let url = redis.url();
    let s = TestServer::start_with(move |c| {
        c.redis.url = url;
        c.dispatch.rate_per_second.twilio = 0.01;
    })
    .await;
    let cred = |sid: &str| json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": sid, "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true});
    let busy = s.create_association(1, "Busy").await;
    let busy_cred = s.add_credential(1, &busy, cred("AC_busy")).await;
    let free = s.create_association(2, "Free").await;
    s.add_credential(2, &free, cred("AC_free")).await;
    assert_eq!(two.acquire_credential(busy_cred, 0.01, 1).await, Permits::Granted(1));

    let waiting = s.send_sms(1, &busy.secret_key, "+966501234567", "must wait").await;
    let sent = s.send_sms(2, &free.secret_key, "+966501234567", "goes now").await;
    assert_eq!(s.wait_terminal(&free, sent, 10).await["status"], "sent");
    let received = |sid: &str| sim.stats()["providers"]["twilio"]["credentials"][sid]["received"].as_u64().unwrap_or(0);
    assert_eq!(received("AC_free"), 1);
    // The other permit comes back in 100 s: well past this check.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received("AC_busy"), 0, "no call without a shared permit");
    let (_, n) = send(s.req(Method::GET, &format!("/api/v1/notifications/{waiting}"), &busy.api_key, &busy.secret_key)).await;
    assert_ne!(n["data"]["status"], "sent", "{n}");
    s.stop().await;
    stop.cancel();
}
