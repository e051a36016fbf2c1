//! Graceful shutdown of the real binary under load: SIGTERM mid-load stops accepting, lets
//! in-flight requests finish, stops dispatch, flushes the store and exits 0; after a restart
//! on the same data directory every acknowledged message reaches `sent`, none lost. A
//! graceful stop also waits for the provider calls in flight (slow provider), so the restart
//! repeats none of them.

mod common;

use common::*;
use jood::sim::{SimConfig, Simulator};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SENDERS: usize = 8;
/// Acknowledged sends before the signal.
const BEFORE_SIGNAL: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_loses_nothing_acknowledged() {
    // Provider latency keeps dispatch busy when the signal comes.
    let sim = Simulator::start("127.0.0.1:0", SimConfig { latency_ms: 20, record_requests: 0, ..SimConfig::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("JOOD__DISPATCH__RATE_PER_SECOND__TWILIO", "100000"),
        ("JOOD__DISPATCH__CREDENTIAL_IN_FLIGHT", "8"),
        // All sends come from one address, past the documented 100 per minute.
        ("JOOD__RATE_LIMIT__ENABLED", "false"),
    ];
    let mut engine = EngineProcess::spawn_with_env(&data, &[], &env);
    let client = reqwest::Client::new();
    let admin = |m: reqwest::Method, url: String| client.request(m, url).header("x-api-key", ADMIN_KEY).header("x-api-secret", ADMIN_KEY);
    let (status, body) = send(admin(reqwest::Method::POST, format!("{}/api/v1/associations", engine.base)).json(&json!({"id": 1, "name": "Shutdown"}))).await;
    assert_eq!(status, 201, "{body}");
    let secret = Arc::new(body["data"]["association"]["secretKey"].as_str().unwrap().to_string());
    let cred = json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "ACshutdown", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true});
    let (status, body) = send(admin(reqwest::Method::POST, format!("{}/api/v1/associations/1/credentials", engine.base)).json(&cred)).await;
    assert_eq!(status, 201, "{body}");

    // Senders keep going until the engine stops answering; every 200 is recorded. Any other
    // answer must still be a proper envelope (e.g. 503 while stopping).
    let acked = Arc::new(AtomicUsize::new(0));
    let base = Arc::new(engine.base.clone());
    let senders: Vec<_> = (0..SENDERS)
        .map(|w| {
            let (client, base, secret, acked) = (client.clone(), base.clone(), secret.clone(), acked.clone());
            tokio::spawn(async move {
                let (mut ids, mut refused) = (Vec::new(), 0usize);
                for i in 0.. {
                    let body = json!({"associationId": 1, "recipient": format!("+9665{w}{i:06}1"), "message": format!("shutdown {w}/{i}")}).to_string();
                    let ts = now_ms().to_string();
                    let resp = client
                        .post(format!("{base}/api/v1/webhook/notification"))
                        .header("content-type", "application/json")
                        .header("x-webhook-timestamp", &ts)
                        .header("x-webhook-signature", sign(&secret, &ts, &body))
                        .body(body)
                        .send()
                        .await;
                    let Ok(resp) = resp else { break }; // the listener is gone
                    let status = resp.status().as_u16();
                    let Ok(v) = resp.json::<serde_json::Value>().await else { break }; // cut mid-answer
                    if status == 200 {
                        ids.push(v["data"]["queueId"].as_i64().expect("a 200 carries the queue id"));
                        acked.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert_eq!(v["success"], false, "{status}: {v}");
                        refused += 1;
                        if refused > 100 {
                            break;
                        }
                    }
                }
                ids
            })
        })
        .collect();

    let started = Instant::now();
    while acked.load(Ordering::Relaxed) < BEFORE_SIGNAL {
        assert!(started.elapsed() < Duration::from_secs(60), "only {} sends acknowledged", acked.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exit = engine.terminate(Duration::from_secs(60));
    let log = std::fs::read_to_string(&engine.log).unwrap();
    assert!(exit.success(), "exit {exit:?}:\n{log}");
    assert!(log.contains("shutting down") && log.contains("store flushed"), "{log}");

    let mut ids = Vec::new();
    for s in senders {
        ids.extend(s.await.unwrap());
    }
    let sent_before = sim.stats()["total"]["accepted"].as_u64().unwrap();
    assert!(ids.len() >= BEFORE_SIGNAL);
    eprintln!("SIGTERM after {} acknowledged sends; {sent_before} sent before the stop", ids.len());

    let engine = EngineProcess::spawn_with_env(&data, &[], &env);
    let started = Instant::now();
    let mut pending = ids.clone();
    while !pending.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "{} acknowledged messages not sent after the restart", pending.len());
        let mut still = Vec::new();
        for chunk in pending.chunks(100) {
            let futs = chunk.iter().map(|id| admin(reqwest::Method::GET, format!("{}/api/v1/notifications/{id}", engine.base)).send());
            for (id, r) in chunk.iter().zip(futures::future::join_all(futs).await) {
                let v: serde_json::Value = r.unwrap().json().await.unwrap();
                match v["data"]["status"].as_str() {
                    Some("sent") => {}
                    Some("queued" | "dispatching") => still.push(*id),
                    other => panic!("acknowledged message {id} is {other:?}: {v}"),
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let total = sim.stats()["total"]["accepted"].as_u64().unwrap();
    assert!(total >= ids.len() as u64, "the simulator accepted {total} < {}", ids.len());
    eprintln!("after restart: all {} acknowledged messages sent; provider calls {total}", ids.len());
    engine.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_waits_for_provider_calls_and_repeats_nothing() {
    // Every call takes 1.5 s, so when the signal comes all of them are in flight.
    let sim = Simulator::start("127.0.0.1:0", SimConfig { latency_ms: 1_500, record_requests: 1_000, invalid_number_suffix: String::new(), ..SimConfig::default() })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("JOOD__DISPATCH__CREDENTIAL_IN_FLIGHT", "64"), ("JOOD__DISPATCH__RATE_PER_SECOND__TWILIO", "100000")];
    let mut engine = EngineProcess::spawn_with_env(&data, &[], &env);
    let client = reqwest::Client::new();
    let admin = |m: reqwest::Method, url: String| client.request(m, url).header("x-api-key", ADMIN_KEY).header("x-api-secret", ADMIN_KEY);
    let (status, body) = send(admin(reqwest::Method::POST, format!("{}/api/v1/associations", engine.base)).json(&json!({"id": 1, "name": "Drain"}))).await;
    assert_eq!(status, 201, "{body}");
    let secret = body["data"]["association"]["secretKey"].as_str().unwrap().to_string();
    let cred = json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "ACdrain", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true});
    let (status, body) = send(admin(reqwest::Method::POST, format!("{}/api/v1/associations/1/credentials", engine.base)).json(&cred)).await;
    assert_eq!(status, 201, "{body}");

    const N: usize = 30;
    let mut ids = Vec::new();
    for i in 0..N {
        let body = json!({"associationId": 1, "recipient": format!("+96650{:07}", 3_000_000 + i), "message": format!("drain {i}")}).to_string();
        let ts = now_ms().to_string();
        let (status, v) = send(
            client
                .post(format!("{}/api/v1/webhook/notification", engine.base))
                .header("content-type", "application/json")
                .header("x-webhook-timestamp", &ts)
                .header("x-webhook-signature", sign(&secret, &ts, &body))
                .body(body),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        ids.push(v["data"]["queueId"].as_i64().unwrap());
    }
    // Wait until every call has reached the provider (each takes 1.5 s to answer), then stop.
    let started = Instant::now();
    while sim.requests(jood::domain::ProviderKind::Twilio).len() < N {
        assert!(started.elapsed() < Duration::from_secs(20), "calls did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exit = engine.terminate(Duration::from_secs(30));
    let log = std::fs::read_to_string(&engine.log).unwrap();
    assert!(exit.success(), "exit {exit:?}:\n{log}");

    // After the restart every message is `sent` and the provider got each exactly once.
    let engine = EngineProcess::spawn_with_env(&data, &[], &env);
    for id in &ids {
        let (status, v) = send(admin(reqwest::Method::GET, format!("{}/api/v1/notifications/{id}", engine.base))).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["data"]["status"], "sent", "message {id} was not recorded sent before the stop: {v}");
    }
    // Anything re-sent by the restart would be in flight now: give it the provider's latency.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let mut per_recipient = std::collections::HashMap::<String, usize>::new();
    for r in sim.requests(jood::domain::ProviderKind::Twilio) {
        *per_recipient.entry(r.body["To"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    assert_eq!(per_recipient.len(), N, "{per_recipient:?}");
    assert!(per_recipient.values().all(|n| *n == 1), "repeated provider calls: {per_recipient:?}");
    assert!(log.contains("provider calls in flight finished and recorded"), "the stop did not wait for the calls:\n{log}");
    engine.kill9();
}
