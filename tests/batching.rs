//! Provider batching for campaigns, end to end: the real server, the actor tree and the
//! provider simulator over HTTP. Campaign messages for providers whose API takes lists
//! travel many per request (the simulator counts requests and the messages they carry);
//! partial failures in a batch answer reach the right messages; a single send during a
//! campaign goes in its own request.

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{FaultMode, FaultSpec, SimConfig, SimHandle, Simulator};
use jood::store::MessageStatus;
use serde_json::{json, Value};

const BATCH: u64 = 100;

/// The batch-capable providers and a credentials object the simulator accepts for each.
fn providers() -> Vec<(ProviderKind, Value)> {
    vec![
        (ProviderKind::Infobip, json!({"apiKey": "ib-key"})),
        (ProviderKind::FourJawaly, json!({"appKey": "fj-key", "appSecret": "fj-secret"})),
        (ProviderKind::Unifonic, json!({"appSid": "uf-sid"})),
        (ProviderKind::Yamamah, json!({"username": "966500000001", "password": "p"})),
        (ProviderKind::Shastra, json!({"username": "20099446", "password": "p"})),
    ]
}

/// A recipient that never matches the simulator's invalid-number rule (ending `0000`).
fn recipient(i: usize) -> String {
    format!("+96656{i:06}1")
}

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        // The rate limit is not what these tests look at: let campaigns run at full speed.
        for p in [&mut c.dispatch.rate_per_second.infobip, &mut c.dispatch.rate_per_second.fourjawaly, &mut c.dispatch.rate_per_second.unifonic,
            &mut c.dispatch.rate_per_second.yamamah, &mut c.dispatch.rate_per_second.shastra]
        {
            *p = 100_000.0;
        }
    })
    .await
}

/// The credential lingers up to a second for a batch to fill: a campaign's feed on a loaded
/// test machine can pause longer than the default 20 ms, and the request count must not
/// depend on the machine's speed.
async fn association(s: &TestServer, sim: &SimHandle, id: i64, kind: ProviderKind, mut creds: Value) -> Keys {
    creds["batchLingerMs"] = json!(1000);
    let k = s.create_association(id, &format!("batch-{}", kind.code())).await;
    s.add_credential(id, &k, json!({"providerId": kind.id(), "senderName": "JOOD", "credentials": creds, "apiUrl": sim.base_url(), "isDefault": true}))
        .await;
    k
}

async fn bulk(s: &TestServer, k: &Keys, association: i64, recipients: &[String]) -> i64 {
    let body = json!({"associationId": association, "message": "Your campaign message", "recipients": recipients}).to_string();
    let (status, resp) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{resp}");
    resp["data"]["campaignId"].as_i64().unwrap()
}

async fn wait_completed(s: &TestServer, k: &Keys, id: i64, secs: u64) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (code, body) = send(s.req(reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), &k.api_key, &k.secret_key)).await;
        assert_eq!(code, 200, "{body}");
        if body["data"]["status"] == "completed" {
            return body["data"].clone();
        }
        assert!(started.elapsed().as_secs() < secs, "campaign {id} not completed after {secs}s: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn provider_stats(sim: &SimHandle, kind: ProviderKind) -> Value {
    sim.stats()["providers"][kind.code()].clone()
}

/// At most one request per `BATCH` messages, plus a little slack for batches the linger sent
/// before they filled.
fn max_requests(n: u64) -> u64 {
    n.div_ceil(BATCH) + 5
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_travel_in_batches_through_every_batch_provider() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig { record_requests: 0, ..SimConfig::default() }).await.unwrap();
    let s = server().await;
    let n = 2_000usize;
    let recipients: Vec<String> = (0..n).map(recipient).collect();
    let mut campaigns = Vec::new();
    for (i, (kind, creds)) in providers().into_iter().enumerate() {
        let id = i as i64 + 1;
        let k = association(&s, &sim, id, kind, creds).await;
        let campaign = bulk(&s, &k, id, &recipients).await;
        campaigns.push((kind, k, campaign));
    }
    for (kind, k, campaign) in &campaigns {
        let done = wait_completed(&s, k, *campaign, 120).await;
        assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(n as u64), Some(0)), "{}: {done}", kind.code());
        let st = provider_stats(&sim, *kind);
        let requests = st["received"].as_u64().unwrap();
        assert!(requests <= max_requests(n as u64), "{}: {requests} requests for {n} messages: {st}", kind.code());
        assert_eq!(st["items"].as_u64(), Some(n as u64), "{}: every message sent exactly once: {st}", kind.code());
        assert!(st["max_items"].as_u64().unwrap() <= BATCH, "{}: a batch above the configured size: {st}", kind.code());
        assert_eq!(st["rejected_total"], 0, "{}: {st}", kind.code());
    }
    // The stored provider ids come from each provider's own answer.
    let (_, k, campaign) = &campaigns[0];
    let ids = s.store.list_campaign_messages(*campaign, None, 10).await.unwrap();
    let m = s.store.get_message(ids[0]).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Sent);
    let attempts = s.store.list_attempts(m.id).await.unwrap();
    assert_eq!(attempts.last().unwrap().provider_message_id.as_deref(), Some(m.id.to_string().as_str()), "Infobip echoes our messageId");
    let _ = k;
    s.stop().await;
}

/// One batch answer fails every second message with the provider's per-message server error
/// (Infobip `REJECTED_SYSTEM_ERROR`, mShastra `013`), and numbers ending `0000` are invalid:
/// the failed ones are retried and sent, the invalid ones fail, the others are sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_failures_reach_the_right_messages() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig { record_requests: 0, ..SimConfig::default() }).await.unwrap();
    let s = server().await;
    for (i, kind) in [ProviderKind::Infobip, ProviderKind::Shastra].into_iter().enumerate() {
        let creds = providers().into_iter().find(|(k, _)| *k == kind).unwrap().1;
        let id = i as i64 + 1;
        let k = association(&s, &sim, id, kind, creds).await;
        sim.add_fault(FaultSpec { provider: Some(kind.code().into()), credential: None, mode: FaultMode::PartialServerError, count: Some(1) }).unwrap();
        let n = 600usize;
        // Every 50th number is invalid for the simulator.
        let recipients: Vec<String> = (0..n).map(|i| if i % 50 == 7 { format!("+96657{i:03}0000") } else { recipient(i) }).collect();
        let invalid: std::collections::HashSet<&String> = recipients.iter().filter(|r| r.ends_with("0000")).collect();
        let campaign = bulk(&s, &k, id, &recipients).await;
        let done = wait_completed(&s, &k, campaign, 60).await;
        assert_eq!(done["failed"].as_u64(), Some(invalid.len() as u64), "{}: {done}", kind.code());
        assert_eq!(done["sent"].as_u64(), Some((n - invalid.len()) as u64), "{}: {done}", kind.code());

        let mut retried = 0;
        for mid in s.store.list_campaign_messages(campaign, None, 10_000).await.unwrap() {
            let m = s.store.get_message(mid).await.unwrap().unwrap();
            let attempts = s.store.list_attempts(mid).await.unwrap();
            let results: Vec<&str> = attempts.iter().map(|a| a.result.as_str()).collect();
            if invalid.contains(&m.recipient) {
                assert_eq!(m.status, MessageStatus::Failed, "{}: {m:?}", kind.code());
                assert_eq!(results, ["invalid_recipient"], "{}: an invalid number is not retried", kind.code());
            } else if results.len() > 1 {
                retried += 1;
                assert_eq!(results, ["transient", "sent"], "{}: {}", kind.code(), m.recipient);
                assert_eq!(m.status, MessageStatus::Sent);
            } else {
                assert_eq!(results, ["sent"], "{}: {}", kind.code(), m.recipient);
                assert_eq!(m.status, MessageStatus::Sent);
            }
        }
        // Half of one batch (of 2..=100 messages) failed, and only those were sent twice.
        assert!((1..=50).contains(&retried), "{}: {retried} messages retried", kind.code());
        let st = provider_stats(&sim, kind);
        assert!(st["received"].as_u64().unwrap() <= max_requests(n as u64) + 1, "{}: {st}", kind.code());
        assert_eq!(st["items"].as_u64(), Some((n + retried) as u64), "{}: each retry resent one message: {st}", kind.code());
    }
    s.stop().await;
}

/// A single send (an OTP) while a campaign's messages queue on the same credential goes in a
/// request of its own, whatever the linger: singles are never gathered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_send_during_a_campaign_is_sent_alone() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig { record_requests: 2_000, ..SimConfig::default() }).await.unwrap();
    let s = TestServer::start().await;
    let k = s.create_association(1, "otp").await;
    // 1,000 messages a second and a long linger: the campaign takes seconds, its batches fill.
    s.add_credential(
        1,
        &k,
        json!({"providerId": ProviderKind::Infobip.id(), "senderName": "JOOD", "apiUrl": sim.base_url(), "isDefault": true,
               "credentials": {"apiKey": "ib-otp", "messagesPerSecond": 1000, "batchLingerMs": 2000}}),
    )
    .await;
    let n = 3_000usize;
    let recipients: Vec<String> = (0..n).map(recipient).collect();
    let campaign = bulk(&s, &k, 1, &recipients).await;
    // Wait until the campaign is under way, then send the OTP.
    let started = std::time::Instant::now();
    while provider_stats(&sim, ProviderKind::Infobip)["received"].as_u64().unwrap() == 0 {
        assert!(started.elapsed().as_secs() < 30, "the campaign never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let otp = s.send_sms(1, &k.secret_key, "+966512345671", "Your code is 482901").await;
    let (code, c) = send(s.req(reqwest::Method::GET, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(code, 200);
    let m = s.wait_terminal(&k, otp, 30).await;
    assert_eq!(m["status"], "sent", "{m}");
    let done = wait_completed(&s, &k, campaign, 60).await;
    assert_eq!(done["sent"].as_u64(), Some(n as u64), "{done}");
    assert!(c["data"]["sent"].as_u64().unwrap() < n as u64, "campaign done before the OTP; the test proves nothing: {c}");

    let requests = sim.requests(ProviderKind::Infobip);
    let destinations = |r: &jood::sim::RecordedRequest| -> Vec<String> {
        r.body["messages"].as_array().into_iter().flatten().flat_map(|m| m["destinations"].as_array().cloned().unwrap_or_default()).map(|d| d["messageId"].as_str().unwrap_or("").to_owned()).collect()
    };
    let with_otp: Vec<Vec<String>> = requests.iter().map(destinations).filter(|d| d.contains(&otp.to_string())).collect();
    assert_eq!(with_otp, vec![vec![otp.to_string()]], "the OTP went alone, exactly once");
    assert!(requests.iter().map(destinations).any(|d| d.len() > 1), "the campaign itself was batched");
    let st = provider_stats(&sim, ProviderKind::Infobip);
    assert!(st["received"].as_u64().unwrap() <= max_requests(n as u64) + 1, "{st}");
    s.stop().await;
}
