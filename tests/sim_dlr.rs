//! The simulator's delivery reports (`sim::dlr`): sends that name a callback URL get the
//! provider's reports back at a real HTTP receiver in the test: Twilio's signed form posts
//! (verified with Twilio's algorithm) and Infobip's `results[]`, with the undelivered,
//! duplicate, reorder and loss rates.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use jood::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Option<String>, Bytes)>>>);

/// A callback receiver on 127.0.0.1:0; returns its base URL.
async fn receiver(rx: Received) -> String {
    async fn take(State(rx): State<Received>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> &'static str {
        let sig = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).map(str::to_owned);
        rx.0.lock().unwrap().push((uri.path().to_owned(), sig, body));
        "ok"
    }
    let app = axum::Router::new().route("/cb/{provider}", post(take)).with_state(rx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn sim(config: SimConfig) -> SimHandle {
    Simulator::start("127.0.0.1:0", config).await.unwrap()
}

fn quick() -> SimConfig {
    SimConfig { dlr_delay_ms: 5, dlr_jitter_ms: 5, ..SimConfig::default() }
}

async fn wait_for(rx: &Received, n: usize) -> Vec<(String, Option<String>, Bytes)> {
    let started = Instant::now();
    loop {
        let got = rx.0.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{} of {n} reports arrived", got.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends one Twilio SMS naming `callback`; returns the sid.
async fn twilio_send(sim: &SimHandle, callback: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/2010-04-01/Accounts/AC_sim/Messages.json", sim.base_url()))
        .basic_auth("AC_sim", Some("sim-token"))
        .form(&[("To", "+966501234567"), ("From", "JOOD"), ("Body", "hi"), ("StatusCallback", callback)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["sid"].as_str().unwrap().to_owned()
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (urlencoding::decode(k).unwrap().into_owned(), urlencoding::decode(&v.replace('+', " ")).unwrap().into_owned()))
        .collect()
}

fn status_of(pairs: &[(String, String)]) -> String {
    pairs.iter().find(|(k, _)| k == "MessageStatus").map(|(_, v)| v.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_reports_are_signed_and_follow_sent_then_delivered() {
    let rx = Received::default();
    let base = receiver(rx.clone()).await;
    let sim = sim(quick()).await;
    let callback = format!("{base}/cb/twilio");
    let sid = twilio_send(&sim, &callback).await;
    let got = wait_for(&rx, 2).await;
    let statuses: Vec<String> = got.iter().map(|(_, _, b)| status_of(&form(b))).collect();
    assert_eq!(statuses, ["sent", "delivered"]);
    for (path, sig, body) in &got {
        assert_eq!(path, "/cb/twilio");
        let pairs = form(body);
        assert!(pairs.contains(&("MessageSid".into(), sid.clone())), "{pairs:?}");
        let sig = sig.as_deref().expect("signed");
        assert!(jood::auth::twilio::verify("sim-token", &[callback.clone()], &pairs, sig), "signature verifies");
        assert!(!jood::auth::twilio::verify("other", &[callback.clone()], &pairs, sig));
    }
    assert_eq!(sim.stats()["dlr"]["posted"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_duplicated_and_reordered_reports_at_the_configured_rates() {
    let rx = Received::default();
    let base = receiver(rx.clone()).await;
    let config = SimConfig { dlr_undelivered_rate: 1.0, dlr_duplicate_rate: 1.0, dlr_reorder_rate: 1.0, ..quick() };
    let sim = sim(config).await;
    twilio_send(&sim, &format!("{base}/cb/twilio")).await;
    let got = wait_for(&rx, 3).await;
    let pairs: Vec<Vec<(String, String)>> = got.iter().map(|(_, _, b)| form(b)).collect();
    let statuses: Vec<String> = pairs.iter().map(|p| status_of(p)).collect();
    assert_eq!(statuses, ["undelivered", "sent", "undelivered"]);
    assert!(pairs[0].contains(&("ErrorCode".into(), "30003".into())));

    // Lost: decided when the send is accepted, so nothing is pending.
    sim.set_config(SimConfig { dlr_loss_rate: 1.0, ..quick() }).unwrap();
    twilio_send(&sim, &format!("{base}/cb/twilio")).await;
    assert_eq!((sim.stats()["dlr"]["lost"].as_u64(), sim.stats()["dlr"]["pending"].as_u64()), (Some(1), Some(0)));
    // No callback URL, no reports.
    sim.set_config(quick()).unwrap();
    twilio_send(&sim, "").await;
    assert_eq!(sim.stats()["dlr"]["pending"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infobip_reports_go_to_the_per_message_webhook() {
    let rx = Received::default();
    let base = receiver(rx.clone()).await;
    let sim = sim(quick()).await;
    let body = json!({"messages": [{"sender": "JOOD", "destinations": [{"to": "966501234567", "messageId": "m-1"}, {"to": "966501234568", "messageId": "m-2"}],
        "content": {"text": "hi"}, "webhooks": {"delivery": {"url": format!("{base}/cb/infobip")}, "contentType": "application/json"}}]});
    let resp = reqwest::Client::new()
        .post(format!("{}/sms/3/messages", sim.base_url()))
        .header("authorization", "App ib-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = wait_for(&rx, 2).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|(_, sig, b)| {
            assert!(sig.is_none(), "Infobip signs nothing");
            let v: Value = serde_json::from_slice(b).unwrap();
            assert_eq!(v["results"][0]["status"]["name"], "DELIVERED_TO_HANDSET");
            v["results"][0]["messageId"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["m-1", "m-2"]);
}
