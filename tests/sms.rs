//! SMS done right, end to end against the real server and the provider simulator over real
//! HTTP: Arabic through every SMS adapter (intact, with each provider's Unicode flag, billed
//! segments counted by the simulator and by the engine's stats), `maxSegments` and smart
//! encoding, opt-outs (the API, STOP / START keywords from Meta's WhatsApp webhook and
//! Twilio's incoming-message webhook, refused single sends, bulk reports, the transactional
//! bypass), and a campaign across quiet hours driven by the engine's settable clock.

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{SimConfig, SimHandle, Simulator};
use jood::store::CounterScope;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// 78 UTF-16 units of Arabic (and digits): UCS-2, two segments (67 + 11).
const ARABIC: &str = "رمز التحقق الخاص بك هو 482901. لا تشارك هذا الرمز مع أي شخص، مع تحيات فريق جود";
const TO: &str = "+966501234567";

async fn sim() -> SimHandle {
    let mut config = SimConfig::default();
    config.dlr_enabled = false;
    Simulator::start("127.0.0.1:0", config).await.unwrap()
}

/// Credentials of each SMS provider, pointing at the simulator.
fn credential(kind: ProviderKind, sim: &SimHandle) -> Value {
    let fields = match kind {
        ProviderKind::Yamamah => json!({"username": "966511111111", "password": "yam-pass"}),
        ProviderKind::Shastra => json!({"username": "20099446", "password": "sha-pass"}),
        ProviderKind::Qyadat => json!({"username": "966522222222", "password": "qya-pass"}),
        ProviderKind::Unifonic => json!({"appSid": "axuN0U7QlmqVPsfdgoK0mZ"}),
        ProviderKind::FourJawaly => json!({"appKey": "jaw-key", "appSecret": "jaw-secret"}),
        ProviderKind::Infobip => json!({"apiKey": "003026bbc133714df1834b8638bb496e"}),
        ProviderKind::Twilio => json!({"accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": "tw-token"}),
        other => unreachable!("{other:?} is not an SMS provider"),
    };
    json!({"providerId": kind.id(), "senderName": "JoodTest", "credentials": fields, "apiUrl": sim.base_url(), "isDefault": true})
}

fn signed_send(s: &TestServer, k: &Keys, body: Value) -> reqwest::RequestBuilder {
    s.signed("/api/v1/webhook/notification", &k.secret_key, &body.to_string())
}

fn key(s: &TestServer, k: &Keys, method: Method, path: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path)).header("x-api-key", &k.admin_api_key)
}

async fn put_settings(s: &TestServer, id: i64, k: &Keys, body: Value) -> (u16, Value) {
    send(s.req(Method::PUT, &format!("/api/v1/associations/{id}"), &k.api_key, &k.secret_key).json(&body)).await
}

async fn counters(s: &TestServer, association_id: i64) -> std::collections::BTreeMap<String, i64> {
    s.store.get_counters(CounterScope { association_id, day: 0 }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arabic_reaches_every_sms_provider_intact() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let sms_providers: Vec<ProviderKind> = ProviderKind::ALL.into_iter().filter(|p| p.channels().contains(&jood::domain::Channel::Sms)).collect();
    assert_eq!(sms_providers.len(), 7);
    for (i, kind) in sms_providers.iter().copied().enumerate() {
        let id = i as i64 + 1;
        let k = s.create_association(id, kind.code()).await;
        s.add_credential(id, &k, credential(kind, &sim)).await;
        let (status, resp) = send(signed_send(&s, &k, json!({"associationId": id, "recipient": TO, "message": ARABIC}))).await;
        assert_eq!(status, 200, "{kind:?}: {resp}");
        assert_eq!((resp["data"]["encoding"].as_str(), resp["data"]["segments"].as_u64()), (Some("UCS2"), Some(2)), "{resp}");
        assert_eq!(resp["data"]["smartEncodingApplied"], false);
        let qid = resp["data"]["queueId"].as_i64().unwrap();
        let n = s.wait_terminal(&k, qid, 20).await;
        assert_eq!(n["status"], "sent", "{kind:?}: {n}");
        assert_eq!((n["message"].as_str(), n["encoding"].as_str(), n["segments"].as_u64()), (Some(ARABIC), Some("UCS2"), Some(2)), "{n}");

        // The provider received the text byte for byte, with its Unicode flag where it needs one.
        let reqs = sim.requests(kind);
        let last = reqs.last().unwrap_or_else(|| panic!("{kind:?} received nothing"));
        let wire = format!("{} {}", last.body, last.query);
        assert!(wire.contains(ARABIC), "{kind:?} did not receive the Arabic text intact: {wire}");
        match kind {
            ProviderKind::Shastra => assert_eq!(last.body[0]["language"], "Unicode", "{wire}"),
            ProviderKind::Qyadat => assert_eq!(last.query["unicode"], "u", "{wire}"),
            _ => {}
        }
        // Billed as two segments, by the simulator and in the engine's counters.
        let stats = sim.stats();
        assert_eq!(stats["providers"][kind.code()]["segments"], 2, "{kind:?}: {}", stats["providers"][kind.code()]);
        let c = counters(&s, id).await;
        assert_eq!((c.get("segments"), c.get(&format!("segments:{}", kind.code()))), (Some(&2), Some(&2)), "{kind:?}: {c:?}");
    }
    // All associations together: 7 messages of 2 segments each.
    assert_eq!(counters(&s, 0).await.get("segments"), Some(&14));
}

/// Without its flag mShastra and Qyadat would garble Arabic: the simulator refuses it, so
/// the check above can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_refuses_ucs2_without_the_flag() {
    let sim = sim().await;
    let c = reqwest::Client::new();
    let body = json!([{"user": "1", "pwd": "p", "number": "966501234567", "msg": ARABIC, "sender": "S", "language": "English"}]);
    let r: Value = c.post(format!("{}/sendsms_api_json.aspx", sim.base_url())).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(r[0]["str_response"], "Invalid Message", "{r}");
    let url = format!("{}/sms/api/sendsms.php", sim.base_url());
    let q = [("username", "u"), ("password", "p"), ("numbers", "966501234567"), ("sender", "S"), ("message", ARABIC), ("unicode", "e"), ("return", "json")];
    let r: Value = c.get(&url).query(&q).send().await.unwrap().json().await.unwrap();
    assert_ne!(r["Code"], 100, "{r}");
    let q = [("username", "u"), ("password", "p"), ("numbers", "966501234567"), ("sender", "S"), ("message", ARABIC), ("unicode", "u"), ("return", "json")];
    let r: Value = c.get(&url).query(&q).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["Code"], 100, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_segments_and_smart_encoding() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, credential(ProviderKind::Twilio, &sim)).await;

    // The default limit is 10: 1,530 GSM characters pass, 1,531 are refused with the count.
    let (_, a) = send(s.req(Method::GET, "/api/v1/associations/1", &k.api_key, &k.secret_key)).await;
    assert_eq!((a["data"]["maxSegments"].as_u64(), a["data"]["smartEncoding"].as_bool()), (Some(10), Some(false)), "{a}");
    let (status, ok) = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "a".repeat(1530)}))).await;
    assert_eq!((status, ok["data"]["segments"].as_u64(), ok["data"]["encoding"].as_str()), (200, Some(10), Some("GSM7")), "{ok}");
    let refused = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "a".repeat(1531)}))).await;
    assert_error(&refused, 400, "needs 11 SMS segments");

    // A lower limit, checked and shown; bad values are refused naming the field.
    assert_error(&put_settings(&s, 1, &k, json!({"maxSegments": 0})).await, 400, "maxSegments");
    assert_error(&put_settings(&s, 1, &k, json!({"quietHours": {"timeZone": "Mars/Base", "start": "21:00", "end": "08:00"}})).await, 400, "quietHours.timeZone");
    let (status, a) = put_settings(&s, 1, &k, json!({"maxSegments": 2})).await;
    assert_eq!((status, a["data"]["maxSegments"].as_u64()), (200, Some(2)), "{a}");
    // Extension characters cost two septets: 154 of them are 308 septets, three parts.
    assert_error(&send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "€".repeat(154)}))).await, 400, "needs 3 SMS segments (GSM7, 308 septets)");
    assert_error(&send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "ر".repeat(135)}))).await, 400, "maxSegments is 2");
    // Bulk: the message is refused for every recipient alike.
    let bulk = json!({"associationId": 1, "recipients": [TO], "message": "x".repeat(400)});
    assert_error(&send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk.to_string())).await, 400, "needs 3 SMS segments");

    // The preview the console counts with: nothing is stored.
    let (status, p) = send(key(&s, &k, Method::POST, "/api/v1/sms/segments").json(&json!({"message": "😀".repeat(36)}))).await;
    assert_eq!((status, p["data"]["encoding"].as_str(), p["data"]["segments"].as_u64(), p["data"]["perSegment"].as_u64()), (200, Some("UCS2"), Some(2), Some(67)), "{p}");
    let (_, p) = send(key(&s, &k, Method::POST, "/api/v1/sms/segments").json(&json!({"message": "a \u{2013} b", "smartEncoding": true}))).await;
    assert_eq!((p["data"]["message"].as_str(), p["data"]["encoding"].as_str(), p["data"]["smartEncodingApplied"].as_bool()), (Some("a - b"), Some("GSM7"), Some(true)), "{p}");
    assert_eq!(s.client.post(s.url("/api/v1/sms/segments")).json(&json!({"message": "x"})).send().await.unwrap().status(), 401);

    // Smart encoding: per send, then per association; reported either way.
    let curly = "It\u{2019}s ready \u{2014} see you\u{2026}";
    let (_, plain) = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": curly}))).await;
    assert_eq!((plain["data"]["encoding"].as_str(), plain["data"]["smartEncodingApplied"].as_bool()), (Some("UCS2"), Some(false)), "{plain}");
    let (_, smart) = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": curly, "smartEncoding": true}))).await;
    assert_eq!((smart["data"]["encoding"].as_str(), smart["data"]["smartEncodingApplied"].as_bool()), (Some("GSM7"), Some(true)), "{smart}");
    let n = s.wait_terminal(&k, smart["data"]["queueId"].as_i64().unwrap(), 20).await;
    assert_eq!(n["message"], "It's ready - see you...", "{n}");
    assert!(sim.requests(ProviderKind::Twilio).last().unwrap().body["Body"] == "It's ready - see you...");
    assert_eq!(put_settings(&s, 1, &k, json!({"smartEncoding": true})).await.0, 200);
    let (_, assoc) = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": curly}))).await;
    assert_eq!(assoc["data"]["smartEncodingApplied"], true, "{assoc}");
    // Arabic still needs UCS-2: smart encoding leaves it alone.
    let (_, ar) = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "\u{201C}مرحبا\u{201D}"}))).await;
    assert_eq!((ar["data"]["encoding"].as_str(), ar["data"]["smartEncodingApplied"].as_bool()), (Some("UCS2"), Some(false)), "{ar}");
}

/// Meta's WhatsApp settings in the simulator: the number posts its webhooks to the engine.
async fn whatsapp_sim(s: &TestServer, k: &Keys) -> (SimHandle, i64) {
    const PHONE_ID: &str = "106540352242922";
    const WABA: &str = "755633283894125";
    let mut config = SimConfig::meta_whatsapp();
    config.whatsapp.pair_interval_ms = 0;
    config.dlr_enabled = false;
    let sim = Simulator::start("127.0.0.1:0", config).await.unwrap();
    let c = reqwest::Client::new();
    let numbers = json!({"whatsapp": {"phone_numbers": {PHONE_ID: {"waba_id": WABA}}}});
    assert_eq!(c.post(format!("{}/_sim/config", sim.base_url())).json(&numbers).send().await.unwrap().status(), 200);
    let creds = json!({"phoneNumberId": PHONE_ID, "businessAccountId": WABA, "accessToken": "EAAG-token", "appSecret": "app-secret",
                       "displayPhoneNumber": "+966920033773", "verifiedName": "My Business",
                       "webhookVerifyToken": "v", "apiUrl": format!("{}/v23.0", sim.base_url())});
    let (status, saved) = send(key(s, k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds)).await;
    assert_eq!(status, 200, "{saved}");
    let cred = saved["data"]["id"].as_i64().unwrap();
    let target = json!({"phoneNumberId": PHONE_ID, "url": s.url(&format!("/api/v1/callbacks/meta/{cred}")), "appSecret": "app-secret", "wabaId": WABA});
    assert_eq!(c.post(format!("{}/_sim/whatsapp/webhook", sim.base_url())).json(&target).send().await.unwrap().status(), 200);
    (sim, cred)
}

async fn inbound_whatsapp(sim: &SimHandle, text: &str) {
    let inbound = json!({"phoneNumberId": "106540352242922", "from": TO.trim_start_matches('+'), "text": text});
    let r = reqwest::Client::new().post(format!("{}/_sim/whatsapp/inbound", sim.base_url())).json(&inbound).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// The opt-out rows of TO, polled until `want` holds (webhooks are asynchronous).
async fn wait_opt_outs(s: &TestServer, k: &Keys, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (status, body) = send(key(s, k, Method::GET, &format!("/api/v1/opt-outs?recipient={}", urlencoding::encode(TO)))).await;
        assert_eq!(status, 200, "{body}");
        let items = body["data"]["items"].as_array().cloned().unwrap_or_default();
        if want(&items) {
            return items;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "opt-outs never became as expected: {body}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_out_by_keyword_refused_send_then_start() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let (sim, _) = whatsapp_sim(&s, &k).await;
    let wa_send = json!({"associationId": 1, "recipient": TO, "message": "hello", "channel": "whatsapp"});
    assert_eq!(send(signed_send(&s, &k, wa_send.clone())).await.0, 200, "not opted out yet");

    // "STOP" on WhatsApp: the number is opted out of WhatsApp, and a send is refused.
    inbound_whatsapp(&sim, "Stop").await;
    let rows = wait_opt_outs(&s, &k, |r| !r.is_empty()).await;
    assert_eq!((rows[0]["channel"].as_str(), rows[0]["source"].as_str()), (Some("whatsapp"), Some("keyword:meta")), "{rows:?}");
    assert_error(&send(signed_send(&s, &k, wa_send.clone())).await, 422, "recipient opted out");
    // Only WhatsApp: an SMS to the same number is still accepted.
    assert_eq!(send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "sms ok"}))).await.0, 200);
    // A message that merely contains the word changes nothing; START opts back in.
    inbound_whatsapp(&sim, "please stop by tomorrow").await;
    inbound_whatsapp(&sim, "START").await;
    wait_opt_outs(&s, &k, |r| r.is_empty()).await;
    assert_eq!(send(signed_send(&s, &k, wa_send.clone())).await.0, 200, "opted back in");
    // Arabic keywords work the same way.
    inbound_whatsapp(&sim, "إيقاف").await;
    wait_opt_outs(&s, &k, |r| r.len() == 1).await;
    inbound_whatsapp(&sim, "ابدأ").await;
    wait_opt_outs(&s, &k, |r| r.is_empty()).await;

    // Twilio's incoming-message webhook, signed like its status callbacks: STOP on SMS.
    let sms_sim = sim_for_twilio().await;
    let cred = s.add_credential(1, &k, credential(ProviderKind::Twilio, &sms_sim)).await;
    let path = format!("/api/v1/callbacks/twilio/{cred}");
    let pairs: Vec<(String, String)> = [("MessageSid", "SM00000000000000000000000000000001"), ("From", TO), ("To", "+15005550006"), ("Body", "STOP"), ("SmsStatus", "received")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let twilio_post = |pairs: &[(String, String)], sig: String| {
        let form: String = pairs.iter().map(|(a, b)| format!("{}={}", urlencoding::encode(a), urlencoding::encode(b))).collect::<Vec<_>>().join("&");
        s.client.post(s.url(&path)).header("content-type", "application/x-www-form-urlencoded").header("x-twilio-signature", sig).body(form)
    };
    let forged = twilio_post(&pairs, "bm90IGEgc2lnbmF0dXJl".into()).send().await.unwrap();
    assert_eq!(forged.status(), 403, "a forged incoming message changes nothing");
    let sig = jood::auth::twilio::signature("tw-token", &s.url(&path), &pairs);
    let r = twilio_post(&pairs, sig).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let rows = wait_opt_outs(&s, &k, |r| r.len() == 1).await;
    assert_eq!((rows[0]["channel"].as_str(), rows[0]["source"].as_str()), (Some("sms"), Some("keyword:twilio")), "{rows:?}");
    assert_error(&send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "x"}))).await, 422, "recipient opted out");
}

async fn sim_for_twilio() -> SimHandle {
    sim().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opt_out_api_bulk_reports_and_the_transactional_bypass() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let other = s.create_association(2, "B").await;
    s.add_credential(1, &k, credential(ProviderKind::Twilio, &sim)).await;

    assert_error(&send(key(&s, &k, Method::POST, "/api/v1/opt-outs").json(&json!({"recipient": "nope"}))).await, 400, "recipient");
    assert_error(&send(key(&s, &k, Method::POST, "/api/v1/opt-outs").json(&json!({"recipient": TO, "channel": "fax"}))).await, 400, "channel");
    assert_error(&send(key(&s, &k, Method::POST, "/api/v1/opt-outs").json(&json!({"associationId": 2, "recipient": TO}))).await, 403, "another association");
    let (status, added) = send(key(&s, &k, Method::POST, "/api/v1/opt-outs").json(&json!({"recipient": "00966501234567", "reason": "asked by phone"}))).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!((added["data"]["recipient"].as_str(), added["data"]["channel"].as_str(), added["data"]["source"].as_str()), (Some(TO), Some("all"), Some("api")));
    send(key(&s, &k, Method::POST, "/api/v1/opt-outs").json(&json!({"recipient": "+966501234569", "channel": "sms"}))).await;
    let (_, page) = send(key(&s, &k, Method::GET, "/api/v1/opt-outs?limit=1")).await;
    assert_eq!(page["data"]["items"].as_array().unwrap().len(), 1, "{page}");
    let next = page["data"]["next"].as_str().unwrap().to_owned();
    let (_, page2) = send(key(&s, &k, Method::GET, &format!("/api/v1/opt-outs?limit=1&after={}", urlencoding::encode(&next)))).await;
    assert_eq!(page2["data"]["items"][0]["recipient"], "+966501234569", "{page2}");
    // The other association's list is its own.
    let (_, theirs) = send(key(&s, &other, Method::GET, "/api/v1/opt-outs")).await;
    assert_eq!(theirs["data"]["items"].as_array().unwrap().len(), 0);

    // A single send is refused; a bulk lists the recipient among the invalid ones.
    assert_error(&send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "x"}))).await, 422, "recipient opted out");
    let bulk = json!({"associationId": 1, "recipients": [TO, "+966501234568", "+966501234569"], "message": "Sale"});
    let (status, b) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk.to_string())).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!((b["data"]["totalRecipients"].as_u64(), b["data"]["invalidRecipients"]["count"].as_u64()), (Some(1), Some(2)), "{b}");
    assert!(b["data"]["invalidRecipients"]["items"].as_array().unwrap().iter().all(|i| i["reason"] == "recipient opted out"), "{b}");

    // Transactional sends bypass the list only when the association allows it.
    let otp = json!({"associationId": 1, "recipient": TO, "message": "code 1234", "transactional": true});
    assert_error(&send(signed_send(&s, &k, otp.clone())).await, 422, "recipient opted out");
    let (_, a) = put_settings(&s, 1, &k, json!({"optOutBypassTransactional": true})).await;
    assert_eq!(a["data"]["optOutBypassTransactional"], true, "{a}");
    assert_eq!(send(signed_send(&s, &k, otp)).await.0, 200);
    assert_error(&send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "promo"}))).await, 422, "recipient opted out");

    // DELETE removes it (a 404 when there is nothing to remove).
    let (status, removed) = send(key(&s, &k, Method::DELETE, &format!("/api/v1/opt-outs?recipient={}", urlencoding::encode(TO)))).await;
    assert_eq!((status, removed["data"]["removed"].as_u64()), (200, Some(1)), "{removed}");
    assert_error(&send(key(&s, &k, Method::DELETE, &format!("/api/v1/opt-outs?recipient={}", urlencoding::encode(TO)))).await, 404, "No opt-out");
    assert_eq!(send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "x"}))).await.0, 200);
}

async fn campaign(s: &TestServer, k: &Keys, id: i64) -> Value {
    let (status, c) = send(key(s, k, Method::GET, &format!("/api/v1/campaigns/{id}"))).await;
    assert_eq!(status, 200, "{c}");
    c["data"].clone()
}

async fn wait_campaign(s: &TestServer, k: &Keys, id: i64, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let c = campaign(s, k, id).await;
        if done(&c) {
            return c;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "campaign {id} never got there: {c}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn twilio_received(sim: &SimHandle) -> u64 {
    sim.stats()["providers"]["twilio"]["accepted"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_across_quiet_hours_sends_nothing_inside_the_window() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, credential(ProviderKind::Twilio, &sim)).await;
    let (status, a) = put_settings(&s, 1, &k, json!({"quietHours": {"timeZone": "Asia/Riyadh", "start": "21:00", "end": "08:00"}})).await;
    assert_eq!((status, &a["data"]["quietHours"]), (200, &json!({"timeZone": "Asia/Riyadh", "start": "21:00", "end": "08:00"})), "{a}");
    // Tomorrow 00:00Z; Riyadh is UTC+3 all year.
    let t0 = (now_ms() / 86_400_000 + 1) * 86_400_000;
    let hour = 3_600_000;
    let bulk = |phones: &[&str]| json!({"associationId": 1, "recipients": phones, "message": "Sale starts now"}).to_string();

    // 19:00 local: outside the window, the campaign goes out.
    s.clock.set(Some(t0 + 16 * hour));
    let (_, b) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk(&["+966501000001", "+966501000002", "+966501000003"]))).await;
    let first = b["data"]["campaignId"].as_i64().unwrap();
    let c = wait_campaign(&s, &k, first, |c| c["status"] == "completed").await;
    assert_eq!((c["sent"].as_u64(), &c["pausedUntil"]), (Some(3), &Value::Null), "{c}");
    assert_eq!(twilio_received(&sim), 3);

    // 21:30 local: inside. A new campaign is held, showing when it resumes; nothing is sent.
    s.clock.set(Some(t0 + 18 * hour + hour / 2));
    let (_, b) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk(&["+966501000004", "+966501000005", "+966501000006"]))).await;
    let second = b["data"]["campaignId"].as_i64().unwrap();
    let end = jood::domain::Timestamp(t0 + 29 * hour).to_iso();
    let c = wait_campaign(&s, &k, second, |c| c["pausedUntil"].is_string()).await;
    assert_eq!((c["status"].as_str(), c["pausedUntil"].as_str(), c["sent"].as_u64()), (Some("processing"), Some(end.as_str()), Some(0)), "{c}");
    // A recipient opts out while the campaign waits: it is skipped when the campaign resumes.
    let (status, _) = send(key(&s, &k, Method::POST, "/api/v1/opt-outs").json(&json!({"recipient": "+966501000005"}))).await;
    assert_eq!(status, 201);
    // A single send is not held unless it asks; with respectQuietHours it is scheduled for 08:00.
    let (_, now) = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "otp 1"}))).await;
    assert_eq!(now["data"]["status"], "queued", "{now}");
    let (_, held) = send(signed_send(&s, &k, json!({"associationId": 1, "recipient": TO, "message": "otp 2", "respectQuietHours": true}))).await;
    assert_eq!(held["data"]["status"], "scheduled", "{held}");
    s.wait_terminal(&k, now["data"]["queueId"].as_i64().unwrap(), 20).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(twilio_received(&sim), 4, "only the unheld single send went out inside the window");
    assert_eq!(campaign(&s, &k, second).await["sent"], 0);

    // 08:00 local the next day: the window ends and the campaign resumes and completes.
    s.clock.set(Some(t0 + 29 * hour));
    let c = wait_campaign(&s, &k, second, |c| c["status"] == "completed").await;
    assert_eq!((c["sent"].as_u64(), c["cancelled"].as_u64(), &c["pausedUntil"]), (Some(2), Some(1), &Value::Null), "{c}");
    assert_eq!(twilio_received(&sim), 6);
    let (_, logs) = send(key(&s, &k, Method::GET, "/api/v1/opt-outs")).await;
    assert_eq!(logs["data"]["items"].as_array().unwrap().len(), 1);
}
