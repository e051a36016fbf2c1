//! Seed 003's Slack and voice channels over real HTTP, against the real server, the actor tree
//! and the provider simulator's Slack Web API and Twilio Calls resource: a Slack DM (opened with
//! conversations.open) and a channel post with Block Kit rendered from `data`; each documented
//! Slack error classified; a voice OTP call read digit by digit and completed, with its status
//! timeline from the signed call callbacks; an SMS reported undelivered falling back to a call
//! that completes (seed 003 `channels` and the webhook's `fallbackChannels`); and the rate
//! limits of both providers honoured.

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A simulator and an engine whose public URL is its own address (for call callbacks).
async fn setup(sim_config: SimConfig) -> (SimHandle, TestServer) {
    let sim = Simulator::start("127.0.0.1:0", sim_config).await.unwrap();
    let port = free_port();
    let s = TestServer::start_with(move |c| {
        c.dispatch.backoff_base_ms = 10;
        c.dispatch.backoff_max_ms = 50;
        c.dispatch.route_refresh_ms = 1;
        c.dispatch.provider_timeout_ms = 2_000;
        c.server.http_addr = format!("127.0.0.1:{port}");
        c.server.public_url = format!("http://127.0.0.1:{port}");
    })
    .await;
    (sim, s)
}

fn slack_cred(sim: &SimHandle, token: &str) -> Value {
    json!({"providerId": ProviderKind::Slack.id(), "senderName": "Jood", "credentials": {"botToken": token}, "apiUrl": sim.base_url(), "isDefault": true})
}

fn voice_cred(sim: &SimHandle, extra: Value) -> Value {
    let mut creds = json!({"accountSid": "AC_voice", "authToken": "voice_token"});
    creds.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"providerId": ProviderKind::TwilioVoice.id(), "senderName": "+14155550100", "credentials": creds, "apiUrl": sim.base_url()})
}

fn api(s: &TestServer, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path)).header("X-API-Key", key)
}

async fn send_003(s: &TestServer, key: &str, body: Value) -> String {
    let (status, sent) = send(api(s, reqwest::Method::POST, "/api/v1/notifications/send", key).json(&body)).await;
    assert_eq!(status, 200, "{sent}");
    sent["data"]["notification_id"].as_str().unwrap().to_string()
}

/// The Jood view (status, error, attempts, timeline) of a notification once `done` says so.
async fn wait_for(s: &TestServer, k: &Keys, ntf: &str, done: impl Fn(&Value) -> bool) -> Value {
    let id = ntf.trim_start_matches("ntf_");
    let started = std::time::Instant::now();
    loop {
        let (status, body) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
        assert_eq!(status, 200, "{body}");
        if done(&body["data"]) {
            return body["data"].clone();
        }
        assert!(started.elapsed().as_secs() < 20, "{ntf} not done: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

fn final_status(v: &Value) -> bool {
    ["sent", "delivered", "undelivered", "failed"].contains(&v["status"].as_str().unwrap_or(""))
}

async fn sim_get(sim: &SimHandle, path: &str) -> Value {
    reqwest::get(format!("{}{path}", sim.base_url())).await.unwrap().json().await.unwrap()
}

async fn sim_post(sim: &SimHandle, path: &str, body: Value) {
    let r = reqwest::Client::new().post(format!("{}{path}", sim.base_url())).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_dm_and_a_channel_post_are_delivered() {
    let (sim, s) = setup(SimConfig::default()).await;
    let k = s.create_association(1, "Tenant").await;
    s.add_credential(1, &k, slack_cred(&sim, "xoxb-sim-1")).await;
    let key = &k.admin_api_key;

    // Capabilities name the recipient field of both new channels.
    let (status, caps) = send(api(&s, reqwest::Method::GET, "/api/v1/channels/capabilities", key)).await;
    assert_eq!(status, 200, "{caps}");
    let row = |c: &str| caps["data"].as_array().unwrap().iter().find(|r| r["channel"] == c).cloned().unwrap();
    assert_eq!((row("slack")["recipient_field"].as_str(), row("slack")["available"].as_bool()), (Some("slack_user_id"), Some(true)));
    assert_eq!((row("voice")["recipient_field"].as_str(), row("voice")["available"].as_bool()), (Some("phone"), Some(false)));

    // A DM to a user id: conversations.open first, then the post in the DM channel, with the
    // Block Kit body rendered from data (a value with a quote stays inside its string).
    let blocks = r#"{"text":"{{service}} alert","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*{{service}}* severity {{severity}}"}}]}"#;
    let dm = send_003(&s, key, json!({"recipient": {"slack_user_id": "U123456AB"},
        "notification": {"channels": ["slack"], "body": blocks, "data": {"service": "pay\"ments", "severity": "high"}}})).await;
    let n = wait_for(&s, &k, &dm, final_status).await;
    assert_eq!((n["status"].as_str(), n["channel"].as_str(), n["provider"].as_str()), (Some("sent"), Some("slack"), Some("slack")), "{n}");
    // A channel post: no conversations.open.
    let post = send_003(&s, key, json!({"recipient": {"slack_channel_id": "C0OPS12345"}, "notification": {"channels": ["slack"], "body": "Deploy {{v}} done", "data": {"v": "1.2"}}})).await;
    let n2 = wait_for(&s, &k, &post, final_status).await;
    assert_eq!(n2["status"], "sent", "{n2}");
    assert!(n2["providerMessageId"].as_str().unwrap().starts_with("C0OPS12345:"), "{n2}");

    let posted = sim_get(&sim, "/_sim/slack/messages").await;
    let posted = posted.as_array().unwrap();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert_eq!((posted[0]["channel"].as_str(), posted[0]["user"].as_str()), (Some("D123456AB"), Some("U123456AB")));
    assert_eq!(posted[0]["text"], "pay\"ments alert");
    assert_eq!(posted[0]["blocks"][0]["text"]["text"], "*pay\"ments* severity high");
    assert_eq!((posted[1]["channel"].as_str(), posted[1]["text"].as_str(), posted[1]["blocks"].is_null()), (Some("C0OPS12345"), Some("Deploy 1.2 done"), true));
    let paths: Vec<String> = sim.requests(ProviderKind::Slack).iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/conversations.open", "/api/chat.postMessage", "/api/chat.postMessage"]);
    assert_eq!(sim.requests(ProviderKind::Slack)[1].headers["authorization"], "Bearer xoxb-sim-1");

    // An incoming-webhook credential posts to its URL; the URL is sealed and never returned.
    s.create_association(2, "Hooks").await;
    let k2 = s.create_association(3, "Hooks3").await;
    let hook = format!("{}/services/T0SIM/B0SIM/secret123", sim.base_url());
    let id = s.add_credential(3, &k2, json!({"providerId": ProviderKind::Slack.id(), "senderName": "Jood", "credentials": {"webhookUrl": hook}, "isDefault": true})).await;
    let (_, listed) = send(s.req(reqwest::Method::GET, "/api/v1/associations/3/credentials", &k2.api_key, &k2.secret_key)).await;
    assert!(!listed.to_string().contains("secret123"), "{listed}");
    assert!(id > 0);
    let via_hook = send_003(&s, &k2.admin_api_key, json!({"recipient": {"slack_channel_id": "C0HOOK1234"}, "notification": {"channels": ["slack"], "body": "via webhook"}})).await;
    assert_eq!(wait_for(&s, &k2, &via_hook, final_status).await["status"], "sent");
    let posted = sim_get(&sim, "/_sim/slack/messages").await;
    assert_eq!((posted[2]["via"].as_str(), posted[2]["text"].as_str()), (Some("webhook"), Some("via webhook")));

    // Bad Slack input is a 400 naming it.
    let (status, body) = send(api(&s, reqwest::Method::POST, "/api/v1/notifications/send", key)
        .json(&json!({"recipient": {"phone": "+966500000001"}, "notification": {"channels": ["slack"], "body": "x"}}))).await;
    assert_error(&(status, body), 400, "Recipient field missing: channel `slack` needs recipient.slack_user_id");
    let (status, body) = send(api(&s, reqwest::Method::POST, "/api/v1/notifications/send", key)
        .json(&json!({"recipient": {"slack_user_id": "U123456AB"}, "notification": {"channels": ["slack"], "body": "{\"blocks\": 3}"}}))).await;
    assert_error(&(status, body), 400, "blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_documented_slack_error_is_classified() {
    let (sim, s) = setup(SimConfig::default()).await;
    sim_post(&sim, "/_sim/slack/config", json!({"missing_ids": ["U0MISSING1", "C0MISSING1"], "retry_after_secs": 1})).await;
    // One association per credential: a credential error breaks its credential.
    let cases = [
        (1, "bad-token", "C0OPS12345", "failed", "slack invalid_auth"),
        (2, "xoxb-revoked-9", "C0OPS12345", "failed", "slack token_revoked"),
        (3, "xoxb-ok", "C0MISSING1", "failed", "slack channel_not_found"),
        (4, "xoxb-ok", "U0MISSING1", "failed", "slack user_not_found"),
    ];
    for (assoc, token, to, want, error) in cases {
        let k = s.create_association(assoc, &format!("T{assoc}")).await;
        s.add_credential(assoc, &k, slack_cred(&sim, token)).await;
        let ntf = send_003(&s, &k.admin_api_key, json!({"recipient": {"slack_channel_id": to}, "notification": {"channels": ["slack"], "body": "hi"}})).await;
        let n = wait_for(&s, &k, &ntf, final_status).await;
        assert_eq!(n["status"], want, "{n}");
        let attempts = n["attempts"].as_array().unwrap();
        assert!(attempts.iter().any(|a| a["error"].as_str().unwrap_or("").contains(error)), "{error}: {n}");
        // A credential error is a broken credential; a recipient error is the recipient's.
        let result = attempts[0]["result"].as_str().unwrap_or("");
        if error.contains("auth") || error.contains("revoked") {
            assert_ne!(result, "invalid_recipient", "{n}");
        } else {
            assert_eq!(result, "invalid_recipient", "{n}");
        }
    }
    // ratelimited with Retry-After: throttled, then sent on the next try.
    let k = s.create_association(5, "T5").await;
    s.add_credential(5, &k, slack_cred(&sim, "xoxb-ok")).await;
    sim_post(&sim, "/_sim/slack/config", json!({"fail_next": ["ratelimited"]})).await;
    let ntf = send_003(&s, &k.admin_api_key, json!({"recipient": {"slack_channel_id": "C0OPS12345"}, "notification": {"channels": ["slack"], "body": "after a wait"}})).await;
    let n = wait_for(&s, &k, &ntf, final_status).await;
    assert_eq!(n["status"], "sent", "{n}");
    let stats = sim.stats();
    assert_eq!(stats["providers"]["slack"]["rejected"]["throttled"], 1, "{stats}");
    let posts = sim.requests(ProviderKind::Slack).iter().filter(|r| r.path == "/api/chat.postMessage" && r.raw_body.contains("after a wait")).count();
    assert_eq!(posts, 2, "the throttled post and its retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_otp_call_completes_with_its_status_timeline() {
    let (sim, s) = setup(SimConfig::default()).await;
    let k = s.create_association(1, "Tenant").await;
    let mut cred = voice_cred(&sim, json!({"language": "en-US", "voice": "alice", "repeat": 2}));
    cred["isDefault"] = json!(true);
    s.add_credential(1, &k, cred).await;
    let ntf = send_003(&s, &k.admin_api_key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["voice"], "body": "Your OTP is 549921"}})).await;
    let n = wait_for(&s, &k, &ntf, |v| v["status"] == "delivered").await;
    assert_eq!((n["channel"].as_str(), n["provider"].as_str()), (Some("voice"), Some("twiliovoice")), "{n}");
    let calls = sim_get(&sim, "/_sim/voice/calls").await;
    let call = &calls[0];
    assert_eq!(call["sid"], n["providerMessageId"]);
    assert_eq!((call["to"].as_str(), call["from"].as_str()), (Some("+14155550123"), Some("+14155550100")));
    let said = "<Say language=\"en-US\" voice=\"alice\">Your OTP is 5, 4, 9, 9, 2, 1</Say>";
    assert_eq!(call["twiml"].as_str().unwrap().matches(said).count(), 2, "{call}");
    assert!(call["twiml"].as_str().unwrap().contains("<Pause length=\"1\"/>"), "{call}");
    // Every callback was signed and accepted; the engine's timeline ends in delivered.
    let callbacks: Vec<(String, u64)> = call["callbacks"].as_array().unwrap().iter().map(|c| (c[0].as_str().unwrap().to_owned(), c[1].as_u64().unwrap())).collect();
    assert_eq!(callbacks, [("initiated".into(), 200), ("ringing".into(), 200), ("in-progress".into(), 200), ("completed".into(), 200)]);
    let statuses: Vec<(String, String)> = n["timeline"].as_array().unwrap().iter().filter(|e| e["event"] == "status")
        .map(|e| (e["status"].as_str().unwrap_or("").to_owned(), e["providerStatus"].as_str().unwrap_or("").to_owned())).collect();
    assert_eq!(statuses.last().unwrap(), &("delivered".to_owned(), "completed".to_owned()), "{n}");

    // Arabic with no language set: Polly's Arabic voice, digits still one by one; a busy
    // line is undelivered; a forged callback is refused.
    sim_post(&sim, "/_sim/voice/config", json!({"outcomes": {"+966500000002": "busy"}})).await;
    let k2 = s.create_association(2, "Arabic").await;
    let mut cred = voice_cred(&sim, json!({}));
    cred["isDefault"] = json!(true);
    s.add_credential(2, &k2, cred).await;
    let ar = send_003(&s, &k2.admin_api_key, json!({"recipient": {"phone": "+966500000002"}, "notification": {"channels": ["voice"], "body": "رمز التحقق 4821"}})).await;
    let n = wait_for(&s, &k2, &ar, |v| v["status"] == "undelivered").await;
    assert!(n["error"].as_str().unwrap_or("").contains("busy"), "{n}");
    let calls = sim_get(&sim, "/_sim/voice/calls").await;
    assert!(calls[1]["twiml"].as_str().unwrap().contains("<Say language=\"arb\" voice=\"Polly.Zeina\">رمز التحقق 4، 8، 2، 1</Say>"), "{}", calls[1]);
    let cred_id = n["credentialId"].as_i64().unwrap();
    let forged = s.client.post(s.url(&format!("/api/v1/callbacks/twiliovoice/{cred_id}")))
        .header("x-twilio-signature", "AAAA").form(&[("CallSid", n["providerMessageId"].as_str().unwrap()), ("CallStatus", "completed")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_sms_falls_back_to_a_call_that_completes() {
    let (sim, s) = setup(SimConfig { dlr_undelivered_rate: 1.0, dlr_delay_ms: 20, dlr_jitter_ms: 10, ..SimConfig::default() }).await;
    let k = s.create_association(1, "Tenant").await;
    s.add_credential(1, &k, json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC_sms", "authToken": "sms_token"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    s.add_credential(1, &k, voice_cred(&sim, json!({}))).await;
    // Seed 003: voice after sms in `channels`.
    let ntf = send_003(&s, &k.admin_api_key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["sms", "voice"], "body": "Your OTP is 549921"}})).await;
    let n = wait_for(&s, &k, &ntf, |v| v["status"] == "delivered").await;
    assert_eq!((n["channel"].as_str(), n["provider"].as_str()), (Some("voice"), Some("twiliovoice")), "{n}");
    let attempts = n["attempts"].as_array().unwrap();
    let fallback = attempts.iter().find(|a| a["result"] == "fallback").unwrap_or_else(|| panic!("{n}"));
    let why = fallback["error"].as_str().unwrap();
    assert!(why.starts_with("sms failed: undelivered (30003") && why.ends_with("falling back to voice"), "{why}");
    assert_eq!(sim.requests(ProviderKind::Twilio).len(), 1);
    let calls = sim_get(&sim, "/_sim/voice/calls").await;
    assert_eq!(calls.as_array().unwrap().len(), 1);
    // The seed-003 view shows both channels tried, ending delivered on voice.
    let (_, view) = send(api(&s, reqwest::Method::GET, &format!("/api/v1/notifications/{ntf}"), &k.admin_api_key)).await;
    assert_eq!((view["data"]["status"].as_str(), view["data"]["channel"].as_str()), (Some("delivered"), Some("voice")), "{view}");

    // The Jood webhook's fallbackChannels does the same.
    let body = json!({"associationId": 1, "recipient": "+14155550124", "message": "Your OTP is 112233", "fallbackChannels": ["voice"]}).to_string();
    let (status, resp) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["data"]["queueId"].as_i64().unwrap();
    let n = wait_for(&s, &k, &format!("ntf_{id}"), |v| v["status"] == "delivered").await;
    assert_eq!(n["channel"], "voice", "{n}");
    let calls = sim_get(&sim, "/_sim/voice/calls").await;
    assert!(calls[1]["twiml"].as_str().unwrap().contains("1, 1, 2, 2, 3, 3"), "{}", calls[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_voice_rate_limits_are_honoured() {
    let (sim, s) = setup(SimConfig::default()).await;
    // Slack allows ~1 post per second per channel, Twilio 1 call per second; the engine's
    // defaults pace each credential to 1/s, so neither answers 429 (the simulators allow a
    // burst of 2 within a second: network jitter may bring two paced calls under a second
    // apart, while three unpaced ones at once would be refused).
    sim_post(&sim, "/_sim/slack/config", json!({"post_per_channel_per_sec": 1.0, "post_burst": 2})).await;
    sim_post(&sim, "/_sim/voice/config", json!({"calls_per_second": 2.0, "event_delay_ms": 5})).await;
    let k = s.create_association(1, "Tenant").await;
    s.add_credential(1, &k, slack_cred(&sim, "xoxb-paced")).await;
    s.add_credential(1, &k, voice_cred(&sim, json!({}))).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(send_003(&s, &k.admin_api_key, json!({"recipient": {"slack_channel_id": "C0BUSY1234"}, "notification": {"channels": ["slack"], "body": format!("post {i}")}})).await);
        ids.push(send_003(&s, &k.admin_api_key, json!({"recipient": {"phone": format!("+1415555020{i}")}, "notification": {"channels": ["voice"], "body": "code 1234"}})).await);
    }
    for ntf in &ids {
        let n = wait_for(&s, &k, ntf, |v| ["delivered", "failed"].contains(&v["status"].as_str().unwrap_or("")) || (v["channel"] == "slack" && v["status"] == "sent")).await;
        assert_ne!(n["status"], "failed", "{n}");
    }
    let stats = sim.stats();
    for p in ["slack", "twiliovoice"] {
        assert_eq!(stats["providers"][p]["rejected"]["throttled"], 0, "{p}: {stats}");
        assert_eq!(stats["providers"][p]["accepted"], 3, "{p}: {stats}");
    }
    assert_eq!(sim_get(&sim, "/_sim/slack/messages").await.as_array().unwrap().len(), 3);
    assert_eq!(sim_get(&sim, "/_sim/voice/calls").await.as_array().unwrap().len(), 3);
    assert_eq!(sim.requests(ProviderKind::Slack).len(), 3, "no post was refused and retried");
    assert_eq!(sim.requests(ProviderKind::TwilioVoice).len(), 3, "no call was refused and retried");
}
