//! Nothing acknowledged is lost: 10,000 messages are accepted, the engine is killed with
//! SIGKILL mid-dispatch, restarted on the same data directory, and every message reaches a
//! terminal state. Messages sent twice (in flight at the kill) are counted and reported.

mod common;

use common::*;
use jood::sim::{SimConfig, Simulator};
use serde_json::json;
use std::sync::Arc;

const N: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_dispatch_loses_nothing() {
    // A provider with some latency, so dispatch is still running when the engine dies.
    let sim = Simulator::start("127.0.0.1:0", SimConfig { latency_ms: 15, record_requests: 0, ..SimConfig::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("JOOD__DISPATCH__RATE_PER_SECOND__TWILIO", "100000"),
        ("JOOD__DISPATCH__CREDENTIAL_IN_FLIGHT", "16"),
        ("JOOD__WEBHOOK__REJECT_REPLAYS", "true"),
        // 10,000 sends from one address: far past the documented per-IP limit.
        ("JOOD__RATE_LIMIT__ENABLED", "false"),
    ];
    let engine = EngineProcess::spawn_with_env(&data, &[], &env);
    let client = reqwest::Client::new();
    let (status, body) = send(
        client
            .post(format!("{}/api/v1/associations", engine.base))
            .header("x-api-key", ADMIN_KEY)
            .header("x-api-secret", ADMIN_KEY)
            .json(&json!({"id": 1, "name": "Recovery"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let api_key = body["data"]["association"]["apiKey"].as_str().unwrap().to_string();
    let secret = body["data"]["association"]["secretKey"].as_str().unwrap().to_string();
    let (status, body) = send(
        client
            .post(format!("{}/api/v1/associations/1/credentials", engine.base))
            .header("x-api-key", &api_key)
            .header("x-api-secret", &secret)
            .json(&json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "ACrecovery", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Send N uniquely signed messages from 32 concurrent senders; keep every acknowledged id.
    let base = Arc::new(engine.base.clone());
    let secret = Arc::new(secret);
    let senders: Vec<_> = (0..32)
        .map(|w| {
            let (client, base, secret) = (client.clone(), base.clone(), secret.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in (w..N).step_by(32) {
                    let body = json!({"associationId": 1, "recipient": format!("+96650{i:04}123"), "message": format!("recovery {i}")}).to_string();
                    let ts = now_ms().to_string();
                    let resp = client
                        .post(format!("{base}/api/v1/webhook/notification"))
                        .header("content-type", "application/json")
                        .header("x-webhook-timestamp", &ts)
                        .header("x-webhook-signature", sign(&secret, &ts, &body))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200);
                    let v: serde_json::Value = resp.json().await.unwrap();
                    ids.push(v["data"]["queueId"].as_i64().unwrap());
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(N);
    for s in senders {
        ids.extend(s.await.unwrap());
    }
    assert_eq!(ids.len(), N);

    let before_kill = sim.stats()["total"]["received"].as_u64().unwrap();
    assert!(before_kill < N as u64, "dispatch already finished ({before_kill}); the kill would prove nothing");
    engine.kill9();
    eprintln!("killed with {before_kill} of {N} provider calls made");

    let engine = EngineProcess::spawn_with_env(&data, &[], &env);
    let started = std::time::Instant::now();
    let mut pending: Vec<i64> = ids.clone();
    let mut statuses = std::collections::HashMap::new();
    while !pending.is_empty() {
        assert!(started.elapsed().as_secs() < 120, "{} messages still not terminal after restart", pending.len());
        let mut still = Vec::new();
        for chunk in pending.chunks(200) {
            let futs = chunk.iter().map(|id| {
                client
                    .get(format!("{}/api/v1/notifications/{id}", engine.base))
                    .header("x-api-key", &api_key)
                    .header("x-api-secret", secret.as_str())
                    .send()
            });
            for (id, r) in chunk.iter().zip(futures::future::join_all(futs).await) {
                let v: serde_json::Value = r.unwrap().json().await.unwrap();
                let st = v["data"]["status"].as_str().unwrap_or_else(|| panic!("message {id} lost: {v}")).to_string();
                if ["sent", "failed", "delivered"].contains(&st.as_str()) {
                    statuses.insert(*id, st);
                } else {
                    still.push(*id);
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    assert_eq!(statuses.len(), N);
    let failed: Vec<_> = statuses.iter().filter(|(_, s)| *s != "sent").collect();
    assert!(failed.is_empty(), "not sent: {failed:?}");
    let total = sim.stats()["total"]["accepted"].as_u64().unwrap();
    assert!(total >= N as u64, "the simulator accepted {total} < {N}");
    eprintln!("recovery: {N} messages acknowledged, all sent after kill -9; provider calls {total}, sent twice: {}", total - N as u64);
    engine.kill9();
}
