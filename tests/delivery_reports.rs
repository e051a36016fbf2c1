//! The return path over real HTTP: a message sent through the simulator, then the provider's
//! delivery reports POSTed to `/api/v1/callbacks/{provider}/{credentialId}` as the provider
//! sends them (Twilio signed, Infobip unsigned): final states, precedence, the timeline, and
//! what is refused or ignored.

mod common;

use common::*;
use jood::sim::{SimConfig, SimHandle, Simulator};
use jood::store::CounterScope;
use serde_json::{json, Value};

const TOKEN: &str = "tw-auth-token";
const PUBLIC: &str = "https://jood.example.test";

async fn sim() -> SimHandle {
    Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap()
}

async fn engine(public_url: &str) -> TestServer {
    let public_url = public_url.to_owned();
    TestServer::start_with(move |c| {
        c.dispatch.route_refresh_ms = 1;
        c.server.public_url = public_url;
        c.delivery.early_report_ttl_ms = 300;
        c.delivery.early_report_scan_ms = 20;
    })
    .await
}

fn twilio(sim: &SimHandle) -> Value {
    json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC_dlr", "authToken": TOKEN}, "apiUrl": sim.base_url(), "isDefault": true})
}

/// Sends one SMS and waits for `sent`; returns (queue id, provider message id).
async fn sent_message(s: &TestServer, k: &Keys) -> (i64, String) {
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "Your code is 482901").await;
    let n = s.wait_terminal(k, id, 10).await;
    assert_eq!(n["status"], "sent", "{n}");
    (id, n["providerMessageId"].as_str().unwrap().to_owned())
}

async fn notification(s: &TestServer, k: &Keys, id: i64) -> Value {
    let (status, body) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn form(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v))).collect::<Vec<_>>().join("&")
}

fn twilio_report(sid: &str, status: &str, error: Option<&str>) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("AccountSid", "AC_dlr"),
        ("ApiVersion", "2010-04-01"),
        ("From", "JOOD"),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("To", "+966501234567"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(e) = error {
        p.push(("ErrorCode".into(), e.into()));
    }
    p
}

/// POSTs a Twilio status callback signed with `token` for the URL `signed_base` + path.
async fn post_twilio(s: &TestServer, cred: i64, pairs: &[(String, String)], token: &str, signed_base: &str) -> (u16, Value) {
    let path = format!("/api/v1/callbacks/twilio/{cred}");
    let signature = jood::auth::twilio::signature(token, &format!("{signed_base}{path}"), pairs);
    send(
        s.client
            .post(s.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form(pairs)),
    )
    .await
}

fn statuses(timeline: &Value) -> Vec<(String, String)> {
    timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap().to_owned(), e["status"].as_str().or(e["result"].as_str()).unwrap_or("").to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_twilio_reports_end_delivered_and_repeats_or_late_ones_change_nothing() {
    let sim = sim().await;
    let s = engine(PUBLIC).await;
    let k = s.create_association(1, "A").await;
    let cred = s.add_credential(1, &k, twilio(&sim)).await;
    let (id, sid) = sent_message(&s, &k).await;

    let (status, body) = post_twilio(&s, cred, &twilio_report(&sid, "sent", None), TOKEN, PUBLIC).await;
    assert_eq!((status, &body["data"]), (200, &json!({"changed": 0, "unchanged": 1, "unknown": 0, "parked": 0})), "{body}");
    let (status, body) = post_twilio(&s, cred, &twilio_report(&sid, "delivered", None), TOKEN, PUBLIC).await;
    assert_eq!((status, body["data"]["changed"].as_u64()), (200, Some(1)), "{body}");
    let n = notification(&s, &k, id).await;
    assert_eq!(n["status"], "delivered", "{n}");
    assert_eq!(n["providerMessageId"], sid.as_str());
    let expected = vec![
        ("accepted".to_owned(), "queued".to_owned()),
        ("attempt".into(), "sent".into()),
        ("status".into(), "sent".into()),
        ("status".into(), "delivered".into()),
    ];
    assert_eq!(statuses(&n["timeline"]), expected, "{n}");
    let tl = n["timeline"].as_array().unwrap();
    assert_eq!(tl[2]["source"], "engine");
    assert_eq!(tl[3]["source"], "twilio");
    assert_eq!(tl[3]["providerStatus"], "delivered");
    assert!(tl.iter().all(|e| e["at"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T'))), "{n}");

    // A repeated `delivered` and a late `sent` change nothing, not even the history.
    for report in ["delivered", "sent", "queued"] {
        let (status, body) = post_twilio(&s, cred, &twilio_report(&sid, report, None), TOKEN, PUBLIC).await;
        assert_eq!((status, body["data"]["changed"].as_u64()), (200, Some(0)), "{report}: {body}");
    }
    let again = notification(&s, &k, id).await;
    assert_eq!(again["status"], "delivered");
    assert_eq!(again["timeline"], n["timeline"]);

    // Counted once, by provider.
    let c = s.store.get_counters(CounterScope { association_id: 1, day: 0 }).await.unwrap();
    assert_eq!((c.get("delivered"), c.get("delivered:twilio"), c.get("sent")), (Some(&1), Some(&1), Some(&1)), "{c:?}");
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("jood_delivery_reports_total{provider=\"twilio\",status=\"delivered\"}"), "{metrics}");
    assert!(metrics.contains("jood_delivery_sent_to_delivered_seconds"), "{metrics}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_unsigned_twilio_reports_are_refused_and_change_nothing() {
    let sim = sim().await;
    // No public URL: the engine checks the signature against the URL rebuilt from Host.
    let s = engine("").await;
    let k = s.create_association(1, "A").await;
    let cred = s.add_credential(1, &k, twilio(&sim)).await;
    let (id, sid) = sent_message(&s, &k).await;
    let before = notification(&s, &k, id).await;
    let report = twilio_report(&sid, "delivered", None);

    let wrong_token = post_twilio(&s, cred, &report, "not-the-token", &s.base).await;
    assert_error(&wrong_token, 403, "Invalid signature");
    let wrong_url = post_twilio(&s, cred, &report, TOKEN, "https://elsewhere.test").await;
    assert_error(&wrong_url, 403, "Invalid signature");
    // Signed for `undelivered`, body says `delivered`.
    let path = format!("/api/v1/callbacks/twilio/{cred}");
    let sig = jood::auth::twilio::signature(TOKEN, &s.url(&path), &twilio_report(&sid, "undelivered", None));
    let tampered = send(s.client.post(s.url(&path)).header("x-twilio-signature", sig).body(form(&report))).await;
    assert_error(&tampered, 403, "Invalid signature");
    let unsigned = send(s.client.post(s.url(&path)).body(form(&report))).await;
    assert_error(&unsigned, 403, "Invalid signature");
    // Another association's credential cannot report on this message.
    let k2 = s.create_association(2, "B").await;
    let other = s.add_credential(2, &k2, twilio(&sim)).await;
    assert_error(&post_twilio(&s, other, &report, TOKEN, &s.base).await, 403, "Invalid signature");

    let after = notification(&s, &k, id).await;
    assert_eq!(after["status"], "sent");
    assert_eq!(after["timeline"], before["timeline"]);

    // Signed right (URL from Host): accepted.
    let (status, body) = post_twilio(&s, cred, &report, TOKEN, &s.base).await;
    assert_eq!((status, body["data"]["changed"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(notification(&s, &k, id).await["status"], "delivered");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_for_unknown_ids_get_200_and_are_only_counted() {
    let sim = sim().await;
    let s = engine(PUBLIC).await;
    let k = s.create_association(1, "A").await;
    let cred = s.add_credential(1, &k, twilio(&sim)).await;
    let (id, _) = sent_message(&s, &k).await;
    let before = notification(&s, &k, id).await;
    // Signed by the URL's credential: kept (it may have overtaken the engine's own `sent`
    // write), then dropped and counted once its wait (300 ms here) is over.
    let (status, body) = post_twilio(&s, cred, &twilio_report("SM0000000000000000000000000000dead", "delivered", None), TOKEN, PUBLIC).await;
    assert_eq!((status, &body["data"]), (200, &json!({"changed": 0, "unchanged": 0, "unknown": 0, "parked": 1})), "{body}");
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metric(&metrics, "jood_delivery_reports_parked_total{provider=\"twilio\"}") >= 1.0, "{metrics}");
    // Forged, it is refused rather than kept.
    let forged = post_twilio(&s, cred, &twilio_report("SM0000000000000000000000000000beef", "delivered", None), "wrong", PUBLIC).await;
    assert_error(&forged, 403, "Invalid signature");
    // A credential id that is no Twilio credential: counted as unknown at once.
    let path = "/api/v1/callbacks/twilio/999999";
    let pairs = twilio_report("SM1", "delivered", None);
    let sig = jood::auth::twilio::signature(TOKEN, &format!("{PUBLIC}{path}"), &pairs);
    let (status, body) = send(s.client.post(s.url(path)).header("x-twilio-signature", sig).body(form(&pairs))).await;
    assert_eq!((status, &body["data"]), (200, &json!({"changed": 0, "unchanged": 0, "unknown": 1, "parked": 0})), "{body}");
    // (Metrics are per process, shared by the tests of this file: compare, don't count.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
        if metric(&metrics, "jood_delivery_reports_unknown_total{provider=\"twilio\"}") >= 2.0 && s.store.list_parked_reports(10).await.unwrap().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the parked report was never dropped: {metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(notification(&s, &k, id).await, before);

    // Providers without a report mechanism have no receiver; malformed bodies are refused.
    let (status, _) = send(s.client.post(s.url("/api/v1/callbacks/yamamah/1")).body("x=1")).await;
    assert_eq!(status, 404);
    let (status, _) = send(s.client.post(s.url("/api/v1/callbacks/nosuch/1")).body("x=1")).await;
    assert_eq!(status, 404);
    let (status, _) = send(s.client.post(s.url(&format!("/api/v1/callbacks/twilio/{cred}"))).body("MessageStatus=sent")).await;
    assert_eq!(status, 400);
    let (status, _) = send(s.client.post(s.url("/api/v1/callbacks/infobip/1")).body("not json")).await;
    assert_eq!(status, 400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_reports_keep_the_first_outcome_and_read_ranks_highest() {
    let sim = sim().await;
    let s = engine(PUBLIC).await;
    let k = s.create_association(1, "A").await;
    let cred = s.add_credential(1, &k, twilio(&sim)).await;

    // undelivered (with its error), then a stray delivered and a late sent: undelivered stands.
    let (id, sid) = sent_message(&s, &k).await;
    for (report, err) in [("undelivered", Some("30003")), ("delivered", None), ("sent", None)] {
        let (status, _) = post_twilio(&s, cred, &twilio_report(&sid, report, err), TOKEN, PUBLIC).await;
        assert_eq!(status, 200);
    }
    let n = notification(&s, &k, id).await;
    assert_eq!(n["status"], "undelivered", "{n}");
    assert_eq!(n["error"], "30003: Unreachable destination handset");
    let last = n["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["status"].as_str(), last["errorCode"].as_str()), (Some("undelivered"), Some("30003")), "{n}");

    // read before delivered (WhatsApp order can cross): read stands, delivered counted once.
    let (id2, sid2) = sent_message(&s, &k).await;
    for report in ["read", "delivered", "sent"] {
        let (status, _) = post_twilio(&s, cred, &twilio_report(&sid2, report, None), TOKEN, PUBLIC).await;
        assert_eq!(status, 200);
    }
    let n2 = notification(&s, &k, id2).await;
    assert_eq!(n2["status"], "read", "{n2}");
    let c = s.store.get_counters(CounterScope { association_id: 1, day: 0 }).await.unwrap();
    assert_eq!((c.get("undelivered"), c.get("delivered"), c.get("read")), (Some(&1), Some(&1), Some(&1)), "{c:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infobip_report_batches_are_applied_and_checked_against_the_credential() {
    let sim = sim().await;
    let s = engine(PUBLIC).await;
    let k = s.create_association(1, "A").await;
    let body = json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": "ib-key"}, "apiUrl": sim.base_url(), "isDefault": true});
    let cred = s.add_credential(1, &k, body).await;
    let (id, pid) = sent_message(&s, &k).await;
    let report = |pid: &str, group: i64, name: &str| {
        json!({"bulkId": "B1", "messageId": pid, "to": "966501234567", "doneAt": "2026-03-01T09:00:04.000+0000",
               "status": {"groupId": group, "groupName": "X", "id": 5, "name": name},
               "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error", "permanent": false}})
    };
    let path = format!("/api/v1/callbacks/infobip/{cred}");
    // A Twilio-style URL for an Infobip message is another receiver's: its credential is refused.
    let twilio_cred = s.add_credential(1, &k, twilio(&sim).as_object().cloned().map(|mut o| {
        o.insert("isDefault".into(), json!(false));
        Value::Object(o)
    }).unwrap()).await;
    let wrong = send(s.client.post(s.url(&format!("/api/v1/callbacks/infobip/{twilio_cred}"))).json(&json!({"results": [report(&pid, 3, "DELIVERED_TO_HANDSET")]}))).await;
    assert_error(&wrong, 403, "Invalid signature");
    assert_eq!(notification(&s, &k, id).await["status"], "sent");

    let batch = json!({"results": [report(&pid, 3, "DELIVERED_TO_HANDSET"), report("no-such-message", 3, "DELIVERED_TO_HANDSET"), report(&pid, 3, "DELIVERED_TO_HANDSET")]});
    let (status, body) = send(s.client.post(s.url(&path)).json(&batch)).await;
    assert_eq!((status, &body["data"]), (200, &json!({"changed": 1, "unchanged": 1, "unknown": 0, "parked": 1})), "{body}");
    let n = notification(&s, &k, id).await;
    assert_eq!(n["status"], "delivered", "{n}");
    let last = n["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["source"].as_str(), last["providerStatus"].as_str()), (Some("infobip"), Some("DELIVERED_TO_HANDSET")), "{n}");
    assert_eq!(last["at"], "2026-03-01T09:00:04.000Z");
    s.stop().await;
}

/// A free loopback port, so the engine's `server.public_url` can name it before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An engine whose `server.public_url` is its own address, so the simulator's reports reach it.
async fn self_reporting_engine() -> TestServer {
    let port = free_port();
    TestServer::start_with(move |c| {
        c.dispatch.route_refresh_ms = 1;
        c.server.http_addr = format!("127.0.0.1:{port}");
        c.server.public_url = format!("http://127.0.0.1:{port}");
    })
    .await
}

/// Polls a notification until `want` (or 10 s pass).
async fn wait_status(s: &TestServer, k: &Keys, id: i64, want: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let n = notification(s, k, id).await;
        if n["status"] == want {
            return n;
        }
        assert!(started.elapsed().as_secs() < 10, "notification {id} is not {want}: {n}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The whole loop: the engine gives the simulator its callback URL, the simulator reports as
/// Twilio and Infobip do, and the messages end delivered / undelivered with their timelines.
/// The adapters send `StatusCallback` / the delivery webhook URL built from `server.public_url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_reports_flow_back_through_the_engine() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig { dlr_delay_ms: 10, dlr_jitter_ms: 20, dlr_duplicate_rate: 0.5, dlr_reorder_rate: 0.5, ..SimConfig::default() })
        .await
        .unwrap();
    let s = self_reporting_engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(&sim)).await;
    let texts: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();
    let ids: Vec<i64> = futures::future::join_all(texts.iter().map(|t| s.send_sms(1, &k.secret_key, "+966501234567", t))).await;
    for id in &ids {
        let n = wait_status(&s, &k, *id, "delivered").await;
        let kinds = statuses(&n["timeline"]);
        assert_eq!(kinds.iter().filter(|(e, st)| e == "status" && st == "delivered").count(), 1, "{n}");
    }
    sim.set_config(SimConfig { dlr_delay_ms: 10, dlr_undelivered_rate: 1.0, ..SimConfig::default() }).unwrap();
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "c").await;
    let n = wait_status(&s, &k, id, "undelivered").await;
    assert_eq!(n["error"], "30003: Unreachable destination handset");
    s.stop().await;
}

/// Infobip batches reports that fall due together: with `dlr_batch_max`, the simulator posts
/// them in shared `results[]` bodies, duplicates included, and every message still ends with
/// exactly one `delivered` (or `undelivered`) in its timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_infobip_reports_each_reach_their_message() {
    let cfg = SimConfig { dlr_delay_ms: 30, dlr_jitter_ms: 0, dlr_duplicate_rate: 0.5, dlr_batch_max: 6, dlr_batch_linger_ms: 50, ..SimConfig::default() };
    let sim = Simulator::start("127.0.0.1:0", cfg).await.unwrap();
    let s = self_reporting_engine().await;
    let k = s.create_association(1, "A").await;
    let ib = json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": "ib-key"}, "apiUrl": sim.base_url(), "isDefault": true});
    s.add_credential(1, &k, ib).await;
    let texts: Vec<String> = (0..20).map(|i| format!("batched {i}")).collect();
    let ids: Vec<i64> = futures::future::join_all(texts.iter().map(|t| s.send_sms(1, &k.secret_key, "+966501234567", t))).await;
    for id in &ids {
        let n = wait_status(&s, &k, *id, "delivered").await;
        let kinds = statuses(&n["timeline"]);
        assert_eq!(kinds.iter().filter(|(e, st)| e == "status" && st == "delivered").count(), 1, "{n}");
    }
    // The last POST's answer may still be on its way back to the simulator.
    let mut dlr = sim.stats()["dlr"].clone();
    for _ in 0..100 {
        if dlr["pending"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        dlr = sim.stats()["dlr"].clone();
    }
    assert_eq!(dlr["pending"], 0, "{dlr}");
    let (reports, posts) = (dlr["reports"].as_u64().unwrap(), dlr["posted"].as_u64().unwrap());
    assert!(reports >= 20, "{dlr}");
    assert!(posts < reports, "reports were not batched: {dlr}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_overtakes_the_engines_sent_write_is_kept_and_applied_once_the_id_is_known() {
    let sim = sim().await;
    let s = TestServer::start_with(|c| {
        c.dispatch.route_refresh_ms = 1;
        c.server.public_url = PUBLIC.into();
        c.delivery.early_report_scan_ms = 20;
    })
    .await;
    let k = s.create_association(1, "A").await;
    let cred = s.add_credential(1, &k, twilio(&sim)).await;
    // The provider reports before the engine has written `sent` with this id.
    let (status, body) = post_twilio(&s, cred, &twilio_report("SMearly", "delivered", None), TOKEN, PUBLIC).await;
    assert_eq!((status, &body["data"]), (200, &json!({"changed": 0, "unchanged": 0, "unknown": 0, "parked": 1})), "{body}");
    assert_eq!(s.store.list_parked_reports(10).await.unwrap().len(), 1);

    // Then the engine's own write lands (written here as dispatch writes it).
    let now = now_ms();
    let recipient = jood::domain::phone::normalise("+966501234567").unwrap();
    let mut m = jood::store::MessageRecord::accepted(42, 1, recipient, "code".into(), "sms".into(), None, now);
    s.store.insert_messages(std::slice::from_ref(&m)).await.unwrap();
    m.status = jood::store::MessageStatus::Sent;
    m.provider = Some("twilio".into());
    m.provider_message_id = Some("SMearly".into());
    m.credential_id = Some(cred);
    m.updated_at = now + 1;
    s.store.update_messages(&[jood::store::MessageUpdate { message: m, attempt: None }]).await.unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let n = notification(&s, &k, 42).await;
        if n["status"] == "delivered" {
            let last = n["timeline"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["source"], "twilio", "{n}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the parked report was never applied: {n}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Its parked row goes in the pass's next commit.
    while !s.store.list_parked_reports(10).await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the applied report stayed parked");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    s.stop().await;
}

/// The value of one series in a Prometheus text page (0 when absent).
fn metric(page: &str, series: &str) -> f64 {
    page.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}
