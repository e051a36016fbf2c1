//! Validity periods over real HTTP through the simulator: `validityPeriod` on single and bulk
//! sends, the association's default, the engine's; what providers are given (Twilio
//! `ValidityPeriod`, Infobip `options.validityPeriod`); a sent message with no report by its
//! deadline ends `expired` (history, stats, campaign counts, metric); one that was not even
//! sent in time is never sent; a report that came in time is never overridden.

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn sim(config: SimConfig) -> SimHandle {
    Simulator::start("127.0.0.1:0", config).await.unwrap()
}

/// An engine whose expiry sweeper runs often and waits for no late report.
async fn engine(tweak: impl FnOnce(&mut jood::config::Config) + Send + 'static) -> TestServer {
    TestServer::start_with(move |c| {
        c.dispatch.route_refresh_ms = 1;
        c.delivery.expiry_sweep_ms = 50;
        c.delivery.expiry_grace_ms = 0;
        tweak(c);
    })
    .await
}

fn twilio(sim: &SimHandle) -> Value {
    json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC_v", "authToken": "tok"}, "apiUrl": sim.base_url(), "isDefault": true})
}

async fn notify(s: &TestServer, k: &Keys, body: Value) -> (u16, Value) {
    send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body.to_string())).await
}

async fn wait_status(s: &TestServer, k: &Keys, id: i64, want: &str, secs: u64) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
        assert_eq!(status, 200, "{body}");
        if body["data"]["status"] == want {
            return body["data"].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(secs), "message {id} is not {want} after {secs}s: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_given_what_is_left_of_a_short_validity_and_nothing_for_a_long_one() {
    let sim = sim(SimConfig::default()).await;
    let s = engine(|_| {}).await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim)).await;
    let (status, body) = notify(&s, &k, json!({"associationId": 1, "recipient": "+966501234567", "message": "code 1", "validityPeriod": 600})).await;
    assert_eq!(status, 200, "{body}");
    wait_status(&s, &k, body["data"]["queueId"].as_i64().unwrap(), "sent", 10).await;
    // The engine's 48 h default is beyond Twilio's 10 h maximum: Twilio's own default stands.
    let (status, body) = notify(&s, &k, json!({"associationId": 1, "recipient": "+966501234568", "message": "code 2"})).await;
    assert_eq!(status, 200, "{body}");
    wait_status(&s, &k, body["data"]["queueId"].as_i64().unwrap(), "sent", 10).await;
    let reqs = sim.requests(ProviderKind::Twilio);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let validity: Vec<Option<u64>> = reqs.iter().map(|r| r.body["ValidityPeriod"].as_str().map(|v| v.parse().unwrap())).collect();
    assert!(matches!(validity[0], Some(v) if (590..=600).contains(&v)), "{validity:?}");
    assert_eq!(validity[1], None, "{:?}", reqs[1].body);

    // Infobip: minutes, rounded up, in the message's options.
    let ib = json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": "ib"}, "apiUrl": sim.base_url(), "isDefault": true});
    let k2 = s.create_association(2, "B").await;
    s.add_credential(2, &k2, ib).await;
    let (status, body) = notify(&s, &k2, json!({"associationId": 2, "recipient": "+966501234569", "message": "code 3", "validityPeriod": 3000})).await;
    assert_eq!(status, 200, "{body}");
    wait_status(&s, &k2, body["data"]["queueId"].as_i64().unwrap(), "sent", 10).await;
    let ib_req = sim.requests(ProviderKind::Infobip).pop().expect("an Infobip request");
    assert_eq!(ib_req.body["messages"][0]["options"]["validityPeriod"], json!({"amount": 50, "timeUnit": "MINUTES"}), "{}", ib_req.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_validity_periods_are_refused_by_name() {
    let s = engine(|c| {
        c.delivery.max_validity_secs = 86_400;
        c.delivery.default_validity_secs = 3_600;
    })
    .await;
    let k = s.create_association(1, "A").await;
    for (v, needle) in [(json!(0), "validityPeriod must be between 1 and 86400"), (json!(86_401), "between 1 and 86400"), (json!(-5), "validityPeriod"), (json!("10"), "validityPeriod")] {
        let got = notify(&s, &k, json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "validityPeriod": v})).await;
        assert_error(&got, 400, needle);
        let bulk = json!({"associationId": 1, "recipients": ["+966501234567"], "message": "x", "validityPeriod": v}).to_string();
        let got = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk)).await;
        assert_error(&got, 400, "validityPeriod");
    }
    let got = send(s.admin(reqwest::Method::PUT, "/api/v1/associations/1").json(&json!({"validityPeriod": 0}))).await;
    assert_error(&got, 400, "validityPeriod must be between 1 and 86400");
    let (status, body) = send(s.admin(reqwest::Method::PUT, "/api/v1/associations/1").json(&json!({"validityPeriod": 3600}))).await;
    assert_eq!((status, &body["data"]["validityPeriod"]), (200, &json!(3600)), "{body}");
    let (status, body) = send(s.admin(reqwest::Method::PUT, "/api/v1/associations/1").json(&json!({"validityPeriod": null}))).await;
    assert_eq!((status, &body["data"]["validityPeriod"]), (200, &Value::Null), "{body}");
    s.stop().await;
}

/// POSTs Twilio's signed `delivered` report for `sid` (public URL `https://jood.example.test`).
async fn report_delivered(s: &TestServer, cred: i64, sid: &str) -> Value {
    let pairs: Vec<(String, String)> =
        [("MessageSid", sid), ("MessageStatus", "delivered"), ("AccountSid", "AC_v")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let path = format!("/api/v1/callbacks/twilio/{cred}");
    let sig = jood::auth::twilio::signature("tok", &format!("https://jood.example.test{path}"), &pairs);
    let body = pairs.iter().map(|(a, b)| format!("{a}={b}")).collect::<Vec<_>>().join("&");
    let (status, resp) = send(s.client.post(s.url(&path)).header("x-twilio-signature", sig).body(body)).await;
    assert_eq!(status, 200, "{resp}");
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_without_a_report_by_its_deadline_ends_expired_and_a_reported_one_stays() {
    // Reports only when asked: the first message never gets one.
    let sim = sim(SimConfig { dlr_enabled: false, ..SimConfig::default() }).await;
    let s = engine(|c| c.server.public_url = "https://jood.example.test".into()).await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim)).await;
    // The association's default (1 s) applies to a send that names none.
    let (status, _) = send(s.admin(reqwest::Method::PUT, "/api/v1/associations/1").json(&json!({"validityPeriod": 1}))).await;
    assert_eq!(status, 200);
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "code 9").await;
    let n = wait_status(&s, &k, id, "expired", 15).await;
    let timeline: Vec<(String, String)> =
        n["timeline"].as_array().unwrap().iter().map(|e| (e["status"].as_str().or(e["result"].as_str()).unwrap_or("").to_owned(), e["source"].as_str().unwrap_or("").to_owned())).collect();
    assert!(timeline.iter().any(|(st, src)| st == "sent" && src == "engine"), "{n}");
    let last = n["timeline"].as_array().unwrap().last().unwrap();
    assert_eq!((last["status"].as_str(), last["source"].as_str()), (Some("expired"), Some("engine")), "{n}");
    assert!(n["error"].as_str().unwrap_or_default().contains("validity"), "{n}");

    // A late report changes nothing now: the first outcome stands.
    let cred = s.store.list_credentials(1).await.unwrap()[0].id;
    let resp = report_delivered(&s, cred, n["providerMessageId"].as_str().unwrap()).await;
    assert_eq!(resp["data"]["changed"].as_u64(), Some(0), "{resp}");
    assert_eq!(wait_status(&s, &k, id, "expired", 1).await["status"], "expired");

    // Counted: stats and the metric.
    let c = s.store.get_counters(jood::store::CounterScope { association_id: 1, day: 0 }).await.unwrap();
    assert_eq!((c.get("expired"), c.get("sent")), (Some(&1), Some(&1)), "{c:?}");
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("jood_messages_expired_total{stage=\"sent\"} 1"), "{metrics}");

    // A message reported delivered within its validity stays delivered past its deadline.
    let id2 = s.send_sms(1, &k.secret_key, "+966501234568", "code 10").await;
    let sent = wait_status(&s, &k, id2, "sent", 10).await;
    let resp = report_delivered(&s, cred, sent["providerMessageId"].as_str().unwrap()).await;
    assert_eq!(resp["data"]["changed"].as_u64(), Some(1), "{resp}");
    let n2 = wait_status(&s, &k, id2, "delivered", 1).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, again) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id2}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(again["data"]["status"], "delivered", "{again} (was {n2})");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_not_sent_within_its_validity_is_never_sent() {
    // One call at a time per association, each taking 1.5 s: the second message waits in
    // the queue past its 1 s validity.
    let sim = sim(SimConfig { latency_ms: 1_500, ..SimConfig::default() }).await;
    let s = engine(|c| c.dispatch.association_window = 1).await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim)).await;
    let first = s.send_sms(1, &k.secret_key, "+966501234567", "first").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = notify(&s, &k, json!({"associationId": 1, "recipient": "+966501234568", "message": "second", "validityPeriod": 1})).await;
    assert_eq!(status, 200, "{body}");
    let second = body["data"]["queueId"].as_i64().unwrap();
    wait_status(&s, &k, first, "sent", 10).await;
    let n = wait_status(&s, &k, second, "expired", 10).await;
    assert!(n["attempts"].as_array().unwrap().is_empty(), "{n}");
    assert!(n["expiresAt"].as_str().is_some(), "{n}");
    assert!(n["error"].as_str().unwrap().contains("validity period ended before the message could be sent"), "{n}");
    let to: Vec<String> = sim.requests(ProviderKind::Twilio).iter().map(|r| r.body["To"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(to, vec!["+966501234567".to_owned()], "the expired message reached the provider");
    let c = s.store.get_counters(jood::store::CounterScope { association_id: 1, day: 0 }).await.unwrap();
    assert_eq!((c.get("expired"), c.get("failed")), (Some(&1), Some(&1)), "{c:?}");

    // A campaign's messages carry the campaign's validity.
    let bulk = json!({"associationId": 1, "recipients": ["+966501234570", "+966501234571"], "message": "bulk", "validityPeriod": 1}).to_string();
    let (status, body) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk)).await;
    assert_eq!(status, 200, "{body}");
    let campaign = body["data"]["campaignId"].as_i64().or_else(|| body["data"]["id"].as_i64()).expect("a campaign id");
    let ids = s.store.list_campaign_messages(campaign, None, 10).await.unwrap();
    assert_eq!(ids.len(), 2);
    for id in ids {
        let m = s.store.get_message(id).await.unwrap().unwrap();
        let left = m.expires_at.unwrap() - m.created_at;
        assert!((900..=1_100).contains(&left), "{m:?}");
    }
    s.stop().await;
}
