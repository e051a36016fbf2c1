//! Dispatch end to end: signed sends through the real server, the actor tree and the
//! provider simulator over real HTTP: routing, retries, failover, the circuit breaker,
//! actor panics.

mod common;

use common::*;
use jood::sim::{FaultMode, FaultSpec, SimConfig, SimHandle, Simulator};
use jood::store::{AllocationRecord, RoutingType};
use serde_json::json;

async fn sim() -> SimHandle {
    Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap()
}

/// An engine tuned for tests: short backoff and breaker windows, fresh routes at once.
async fn engine() -> TestServer {
    TestServer::start_with(|c| {
        c.dispatch.backoff_base_ms = 10;
        c.dispatch.backoff_max_ms = 50;
        c.dispatch.breaker_failures = 3;
        c.dispatch.breaker_open_ms = 60_000;
        c.dispatch.route_refresh_ms = 1;
        c.dispatch.provider_timeout_ms = 2_000;
    })
    .await
}

fn twilio(sim: &SimHandle, sid: &str, default: bool) -> serde_json::Value {
    json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": sid, "authToken": "tok"}, "apiUrl": sim.base_url(), "isDefault": default})
}

fn infobip(sim: &SimHandle, key: &str, default: bool) -> serde_json::Value {
    json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": key}, "apiUrl": sim.base_url(), "isDefault": default})
}

fn received(sim: &SimHandle, provider: &str, identity: &str) -> u64 {
    sim.stats()["providers"][provider]["credentials"][identity]["received"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_send_is_delivered_and_its_attempts_are_shown() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    let cred = s.add_credential(1, &k, twilio(&sim, "AC_one", true)).await;
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "Your code is 482901").await;
    let n = s.wait_terminal(&k, id, 10).await;
    assert_eq!(n["status"], "sent", "{n}");
    assert_eq!(n["recipient"], "+966501234567");
    assert_eq!(n["country"], "SA");
    assert_eq!(n["provider"], "twilio");
    assert_eq!(n["credentialId"], cred);
    assert!(n["providerMessageId"].as_str().unwrap().starts_with("SM"), "{n}");
    let attempts = n["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["result"], "sent");
    assert_eq!(attempts[0]["provider"], "twilio");
    assert_eq!(received(&sim, "twilio", "AC_one"), 1);
    // The simulator got Twilio's real request: the body and sender we sent.
    let reqs = sim.requests(jood::domain::ProviderKind::Twilio);
    let last = serde_json::to_string(reqs.last().unwrap()).unwrap();
    assert!(last.contains("482901") && last.contains("JOOD"), "{last}");

    // Another association's keys do not see it.
    let other = s.create_association(2, "B").await;
    let (status, _) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &other.api_key, &other.secret_key)).await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_follows_include_exclude_default_with_priorities() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    let default = s.add_credential(1, &k, twilio(&sim, "AC_default", true)).await;
    let sa_low = s.add_credential(1, &k, twilio(&sim, "AC_sa_low", false)).await;
    let sa_high = s.add_credential(1, &k, infobip(&sim, "IB_sa_high", false)).await;
    let not_gulf = s.add_credential(1, &k, infobip(&sim, "IB_not_gulf", false)).await;
    let alloc = |id: i64, cred: i64, t: RoutingType, cc: Option<&str>, ex: &[&str], prio: i32| AllocationRecord {
        association_id: 1,
        id,
        credential_id: cred,
        routing_type: t,
        country_code: cc.map(String::from),
        country_name: None,
        excluded_countries: ex.iter().map(|x| x.to_string()).collect(),
        priority: prio,
        created_at: 0,
        updated_at: 0,
        version: 0,
    };
    use jood::store::Expect;
    s.store.put_allocation(&alloc(1, sa_low, RoutingType::Include, Some("SA"), &[], 1), Expect::Absent).await.unwrap();
    s.store.put_allocation(&alloc(2, sa_high, RoutingType::Include, Some("SA"), &[], 10), Expect::Absent).await.unwrap();
    s.store.put_allocation(&alloc(3, not_gulf, RoutingType::Exclude, None, &["SA", "AE"], 5), Expect::Absent).await.unwrap();

    let cases = [("+966501234567", sa_high), ("+971501234567", default), ("+201097899908", not_gulf), ("+14155550123", not_gulf)];
    for (recipient, expected) in cases {
        let id = s.send_sms(1, &k.secret_key, recipient, "route me").await;
        let n = s.wait_terminal(&k, id, 10).await;
        assert_eq!(n["status"], "sent", "{recipient}: {n}");
        assert_eq!(n["credentialId"], expected, "{recipient}: {n}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_5xx_and_429_then_sends() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim, "AC_retry", true)).await;

    sim.add_fault(FaultSpec { provider: None, credential: Some("AC_retry".into()), mode: FaultMode::Error500, count: Some(2) }).unwrap();
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "retry on 5xx").await;
    let n = s.wait_terminal(&k, id, 10).await;
    assert_eq!(n["status"], "sent", "{n}");
    let results: Vec<&str> = n["attempts"].as_array().unwrap().iter().map(|a| a["result"].as_str().unwrap()).collect();
    assert_eq!(results, vec!["transient", "transient", "sent"]);

    // 429 with Retry-After (1 s by default): honoured, then sent.
    sim.add_fault(FaultSpec { provider: None, credential: Some("AC_retry".into()), mode: FaultMode::Throttle, count: Some(1) }).unwrap();
    let started = std::time::Instant::now();
    let id = s.send_sms(1, &k.secret_key, "+966501234568", "retry on 429").await;
    let n = s.wait_terminal(&k, id, 10).await;
    assert_eq!(n["status"], "sent", "{n}");
    let results: Vec<&str> = n["attempts"].as_array().unwrap().iter().map(|a| a["result"].as_str().unwrap()).collect();
    assert_eq!(results, vec!["throttled", "sent"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "Retry-After: 1 was not honoured");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_breaker_and_permanent_errors() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    let bad = s.add_credential(1, &k, twilio(&sim, "AC_down", true)).await;
    let good = s.add_credential(1, &k, infobip(&sim, "IB_up", false)).await;
    sim.add_fault(FaultSpec { provider: None, credential: Some("AC_down".into()), mode: FaultMode::Error500, count: None }).unwrap();

    // Retries exhausted on the default credential: fails over to the next one.
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "failover").await;
    let n = s.wait_terminal(&k, id, 10).await;
    assert_eq!((n["status"].as_str(), n["credentialId"].as_i64()), (Some("sent"), Some(good)), "{n}");
    let at: Vec<i64> = n["attempts"].as_array().unwrap().iter().map(|a| a["credentialId"].as_i64().unwrap()).collect();
    assert_eq!(at, vec![bad, bad, bad, good]);
    assert_eq!(received(&sim, "twilio", "AC_down"), 3);

    // Three consecutive failures opened the breaker: the next messages skip the broken
    // credential without calling it.
    for i in 0..5 {
        let id = s.send_sms(1, &k.secret_key, &format!("+96650123450{i}"), "breaker").await;
        let n = s.wait_terminal(&k, id, 10).await;
        assert_eq!(n["credentialId"], good, "{n}");
        assert_eq!(n["attempts"].as_array().unwrap().len(), 1, "{n}");
    }
    assert_eq!(received(&sim, "twilio", "AC_down"), 3, "open circuit: no more calls");

    // An invalid number (the simulator's rule: ends in 0000) fails at once, no failover.
    let id = s.send_sms(1, &k.secret_key, "+966500000000", "invalid").await;
    let n = s.wait_terminal(&k, id, 10).await;
    assert_eq!(n["status"], "failed", "{n}");
    assert_eq!(n["attempts"].as_array().unwrap().len(), 1, "{n}");
    assert_eq!(n["attempts"][0]["result"], "invalid_recipient");

    // An authentication error marks the credential broken and fails over.
    sim.clear_faults();
    sim.add_fault(FaultSpec { provider: None, credential: Some("IB_up".into()), mode: FaultMode::AuthError, count: None }).unwrap();
    let third = s.add_credential(1, &k, twilio(&sim, "AC_spare", false)).await;
    let id = s.send_sms(1, &k.secret_key, "+966501234599", "auth").await;
    let n = s.wait_terminal(&k, id, 10).await;
    // The breaker of AC_down is still open, IB_up answers 401: AC_spare delivers.
    assert_eq!((n["status"].as_str(), n["credentialId"].as_i64()), (Some("sent"), Some(third)), "{n}");
    assert!(n["attempts"].as_array().unwrap().iter().any(|a| a["result"] == "credential_error"), "{n}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_fails_the_message_with_a_reason() {
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "nowhere to go").await;
    let n = s.wait_terminal(&k, id, 10).await;
    assert_eq!(n["status"], "failed");
    assert!(n["error"].as_str().unwrap().contains("no sms provider credential"), "{n}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_actor_is_restarted_and_its_messages_delivered() {
    let sim = sim().await;
    sim.set_config(SimConfig { latency_ms: 100, ..SimConfig::default() }).unwrap();
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim, "AC_panic", true)).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(s.send_sms(1, &k.secret_key, &format!("+9665012345{i:02}"), "survive").await);
    }
    // Messages are in flight (100 ms provider latency) when the actor panics.
    s.dispatcher.inject_panic(1);
    for i in 20..30 {
        ids.push(s.send_sms(1, &k.secret_key, &format!("+9665012345{i:02}"), "survive").await);
    }
    for id in ids {
        let n = s.wait_terminal(&k, id, 20).await;
        assert_eq!(n["status"], "sent", "{n}");
    }
    assert!(s.dispatcher.restarts().await >= 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_is_answered_503_with_retry_after() {
    let sim = sim().await;
    // A provider that hangs: nothing leaves memory while we send.
    sim.set_config(SimConfig { latency_ms: 3_000, ..SimConfig::default() }).unwrap();
    let s = TestServer::start_with(|c| c.dispatch.max_in_memory = 5).await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim, "AC_slow", true)).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let body = json!({"associationId": 1, "recipient": format!("+9665012345{i:02}"), "message": "x"}).to_string();
        let resp = s.signed("/api/v1/webhook/notification", &k.secret_key, &body).send().await.unwrap();
        let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        if status == 503 {
            assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
            assert!(body["error"].as_str().unwrap().contains("saturated"), "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 503, 503, 503]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_association_actors_stop_and_come_back() {
    let sim = sim().await;
    let s = TestServer::start_with(|c| c.dispatch.association_idle_ms = 300).await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim, "AC_idle", true)).await;
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "first").await;
    assert_eq!(s.wait_terminal(&k, id, 10).await["status"], "sent");
    assert_eq!(s.dispatcher.active_associations().await, 1);
    let started = std::time::Instant::now();
    while s.dispatcher.active_associations().await != 0 {
        assert!(started.elapsed().as_secs() < 10, "idle actor never stopped");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A later message spawns a new actor and is delivered.
    let id = s.send_sms(1, &k.secret_key, "+966501234568", "second").await;
    assert_eq!(s.wait_terminal(&k, id, 10).await["status"], "sent");
    s.stop().await;
}
