//! The email channel end to end: the real server, the actor tree and real SMTP over loopback
//! to the simulator's sink. A single email (plain and HTML parts, the subject) is delivered;
//! a bad address is a 400 naming it; the relay's 4yz is retried and its 5yz is final (a
//! bounced mailbox fails the message, a refused login fails over to the next credential); a
//! campaign of 1,000 addresses is delivered to the sink; and the webhook's `fallbackChannels`
//! carries a WhatsApp message that failed for good over to SMS. The subject sent shows in
//! every view of the message: the Jood and seed-003 notification views, the dashboard's
//! message view and its logs.

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{FaultMode, FaultSpec, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

async fn sim() -> SimHandle {
    Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap()
}

async fn engine() -> TestServer {
    TestServer::start_with(|c| {
        c.dispatch.backoff_base_ms = 10;
        c.dispatch.backoff_max_ms = 50;
        c.dispatch.route_refresh_ms = 1;
        c.dispatch.provider_timeout_ms = 2_000;
        c.dispatch.rate_per_second.smtp = 5_000.0;
        c.campaigns.max_recipients_per_request = 1_100;
    })
    .await
}

/// An SMTP credential for the sink: plain SMTP (`tls: "none"`), AUTH as `user`.
fn smtp(sim: &SimHandle, user: &str, default: bool) -> Value {
    let a = sim.smtp_addr();
    json!({"providerId": ProviderKind::Smtp.id(), "senderName": "Acme",
           "credentials": {"host": a.ip().to_string(), "port": a.port(), "tls": "none", "username": user, "password": "s3cret",
                           "fromAddress": "no-reply@acme.example", "fromName": "Acme"},
           "isDefault": default})
}

async fn send_email(s: &TestServer, secret: &str, recipient: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"associationId": 1, "recipient": recipient, "message": "Your order <ORD-1001> shipped.\nThanks!", "channel": "email"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    send(s.signed("/api/v1/webhook/notification", secret, &body.to_string())).await
}

fn smtp_stats(sim: &SimHandle, user: &str) -> Value {
    sim.stats()["providers"]["smtp"]["credentials"][user].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_is_delivered_over_smtp_with_both_parts() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    // Without an email credential, the channel is refused, naming what would serve it.
    assert_error(&send_email(&s, &k.secret_key, "user@example.com", json!({})).await, 400, "add one of: smtp");
    s.add_credential(1, &k, smtp(&sim, "relay-a", true)).await;

    let (status, ok) = send_email(&s, &k.secret_key, "User@Example.COM", json!({"subject": "Order Update"})).await;
    assert_eq!(status, 200, "{ok}");
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!((n["status"].as_str(), n["provider"].as_str(), n["channel"].as_str()), (Some("sent"), Some("smtp"), Some("email")), "{n}");
    assert_eq!(n["recipient"], "User@example.com", "the domain is lower-cased, the local part kept");
    assert!(n["providerMessageId"].as_str().unwrap().starts_with("<jood."), "{n}");

    let mails = sim.requests(ProviderKind::Smtp);
    assert_eq!(mails.len(), 1);
    let raw = &mails[0].raw_body;
    for needle in ["Subject: Order Update", "From: Acme <no-reply@acme.example>", "To: User@example.com", "multipart/alternative", "text/plain", "text/html", "&lt;ORD-1001&gt;"] {
        assert!(raw.contains(needle), "`{needle}` missing from {raw}");
    }
    assert_eq!(mails[0].headers["identity"], "relay-a");
    assert_eq!(smtp_stats(&sim, "relay-a")["accepted"], 1);

    // No subject: the text's first line.
    let (_, ok) = send_email(&s, &k.secret_key, "b@example.com", json!({})).await;
    s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert!(sim.requests(ProviderKind::Smtp)[1].raw_body.contains("Subject: Your order <ORD-1001> shipped."));

    // Bad input: each a 400 that names the problem; nothing reaches the sink.
    assert_error(&send_email(&s, &k.secret_key, "not-an-address", json!({})).await, 400, "recipient `not-an-address`");
    assert_error(&send_email(&s, &k.secret_key, "a@localhost", json!({})).await, 400, "recipient `a@localhost`");
    assert_error(&send_email(&s, &k.secret_key, "a@example.com", json!({"subject": "two\nlines"})).await, 400, "subject must be one line");
    let sms_with_subject = json!({"associationId": 1, "recipient": "+966501234567", "message": "hi", "subject": "x"}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/notification", &k.secret_key, &sms_with_subject)).await, 400, "`subject` is for the email channel");
    assert_eq!(sim.stats()["providers"]["smtp"]["received"], 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_4yz_is_retried_5yz_is_final_and_a_refused_login_fails_over() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, smtp(&sim, "relay-a", true)).await;
    s.add_credential(1, &k, smtp(&sim, "relay-b", false)).await;

    // Two 451s, then the relay takes it: retried on the same credential.
    sim.add_fault(FaultSpec { provider: Some("smtp".into()), credential: Some("relay-a".into()), mode: FaultMode::Error500, count: Some(2) }).unwrap();
    let (_, ok) = send_email(&s, &k.secret_key, "a@example.com", json!({})).await;
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!(n["status"], "sent", "{n}");
    let attempts = n["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{n}");
    assert!(attempts[0]["error"].as_str().unwrap().contains("SMTP 451 (transient)"), "{n}");
    assert!(attempts.iter().all(|a| a["credentialId"] == attempts[0]["credentialId"]), "{n}");

    // A bounced mailbox (550): failed at once, no other credential tried.
    let (_, ok) = send_email(&s, &k.secret_key, "bounce-me@example.com", json!({})).await;
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!(n["status"], "failed", "{n}");
    assert!(n["error"].as_str().unwrap().contains("SMTP 550 (permanent)"), "{n}");
    assert_eq!(n["attempts"].as_array().unwrap().len(), 1, "{n}");

    // The relay refuses the login (535): that credential is broken, the next one delivers.
    sim.add_fault(FaultSpec { provider: Some("smtp".into()), credential: Some("relay-a".into()), mode: FaultMode::AuthError, count: None }).unwrap();
    let (_, ok) = send_email(&s, &k.secret_key, "c@example.com", json!({})).await;
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!(n["status"], "sent", "{n}");
    let attempts = n["attempts"].as_array().unwrap();
    assert!(attempts[0]["error"].as_str().unwrap().contains("SMTP 535 (permanent)"), "{n}");
    assert_eq!(smtp_stats(&sim, "relay-b")["accepted"], 1, "{}", sim.stats());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_campaign_of_1000_recipients_reaches_the_sink() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, smtp(&sim, "relay-a", true)).await;
    sim.set_config(SimConfig { record_requests: 2_000, ..SimConfig::default() }).unwrap();
    let mut recipients: Vec<Value> = (0..999).map(|i| json!(format!("user{i}@example.com"))).collect();
    recipients.push(json!({"email": "vip@example.com", "variables": {"name": "Alex"}}));
    recipients.push(json!("USER0@Example.com")); // user0 again: sent once
    recipients.push(json!("broken@@example.com"));
    let body = json!({"associationId": 1, "recipients": recipients, "message": "Hello {{name}}, our sale starts today.", "channel": "email",
                      "subject": "Sale for {{name}}", "data": {"name": "friend"}, "campaignName": "Winter sale"})
        .to_string();
    let (status, ok) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["data"]["totalRecipients"], 1000, "{ok}");
    assert_eq!(ok["data"]["invalidRecipients"]["count"], 1, "{ok}");
    assert_eq!(ok["data"]["duplicatesRemoved"], 1, "{ok}");
    assert!(ok["data"]["invalidRecipients"]["items"][0]["reason"].as_str().unwrap().contains("not an email address"), "{ok}");
    let id = ok["data"]["campaignId"].as_i64().unwrap();
    let started = std::time::Instant::now();
    loop {
        let (_, c) = send(s.req(reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), &k.api_key, &k.secret_key)).await;
        if c["data"]["status"] == "completed" {
            assert_eq!((c["data"]["sent"].as_i64(), c["data"]["failed"].as_i64()), (Some(1000), Some(0)), "{c}");
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "campaign not completed: {c}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(smtp_stats(&sim, "relay-a")["accepted"], 1000, "{}", sim.stats());
    let mails = sim.requests(ProviderKind::Smtp);
    assert_eq!(mails.len(), 1000);
    let vip = mails.iter().find(|r| r.raw_body.contains("To: vip@example.com")).expect("vip's email");
    assert!(vip.raw_body.contains("Subject: Sale for Alex") && vip.raw_body.contains("Hello Alex"), "{}", vip.raw_body);
    let other = mails.iter().find(|r| r.raw_body.contains("To: user7@example.com")).expect("user7's email");
    assert!(other.raw_body.contains("Subject: Sale for friend"), "{}", other.raw_body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_channels_carry_a_failed_whatsapp_message_over_to_sms() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": "IB_sms"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    s.add_credential(1, &k, json!({"providerId": 8, "senderName": "+966112345678", "credentials": {"phoneNumberId": "106540352242922", "accessToken": "EAAGsim"},
                                  "apiUrl": format!("{}/v23.0", sim.base_url())})).await;
    // Meta refuses the token: WhatsApp's only credential is exhausted.
    sim.add_fault(FaultSpec { provider: Some("meta".into()), credential: None, mode: FaultMode::AuthError, count: None }).unwrap();
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "Your code is 482901", "channel": "whatsapp", "fallbackChannels": ["sms"]}).to_string();
    let (status, ok) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{ok}");
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!((n["status"].as_str(), n["channel"].as_str(), n["provider"].as_str()), (Some("sent"), Some("sms"), Some("infobip")), "{n}");
    let results: Vec<&str> = n["attempts"].as_array().unwrap().iter().map(|a| a["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["credential_error", "fallback", "sent"], "{n}");
    assert!(n["attempts"][1]["error"].as_str().unwrap().contains("whatsapp failed") && n["attempts"][1]["error"].as_str().unwrap().contains("falling back to sms"), "{n}");

    // A fallback channel the association cannot serve, or a repeated one, is refused up front.
    let bad = json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "channel": "sms", "fallbackChannels": ["email"]}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/notification", &k.secret_key, &bad)).await, 400, "fallbackChannels[0]");
    let bad = json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "channel": "sms", "fallbackChannels": ["sms"]}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/notification", &k.secret_key, &bad)).await, 400, "listed twice");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subject_shows_in_every_view_of_the_message() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, smtp(&sim, "relay-a", true)).await;
    let (status, ok) = send_email(&s, &k.secret_key, "user@example.com", json!({"subject": "Order Update #7"})).await;
    assert_eq!(status, 200, "{ok}");
    let id = ok["data"]["queueId"].as_i64().unwrap();
    let n = s.wait_terminal(&k, id, 10).await;
    assert_eq!(n["subject"], "Order Update #7", "{n}");
    // The seed-003 view of the same message.
    let (st, v) = send(s.client.get(s.url(&format!("/api/v1/notifications/ntf_{id}"))).header("x-api-key", &k.admin_api_key)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["subject"], "Order Update #7", "{v}");
    // The dashboard's message view and its logs.
    let resp = s.client.post(s.url("/api/v1/dashboard/auth/login")).json(&json!({"username": OPERATOR, "password": OPERATOR_PASSWORD})).send().await.unwrap();
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let dash = |path: String| s.client.get(s.url(&format!("/api/v1/dashboard{path}"))).header("cookie", &cookie);
    let (st, m) = send(dash(format!("/messages/{id}"))).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["data"]["subject"], "Order Update #7", "{m}");
    let (st, logs) = send(dash("/logs?limit=10".into())).await;
    assert_eq!(st, 200, "{logs}");
    let row = logs["data"]["items"].as_array().or_else(|| logs["data"]["logs"].as_array()).expect("log rows").iter().find(|r| r["id"] == id).cloned();
    assert_eq!(row.expect("the email in the logs")["subject"], "Order Update #7", "{logs}");
    // An SMS has none.
    let sms = s.send_sms(1, &k.secret_key, "+966501234567", "hi").await;
    let (_, v) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{sms}"), &k.api_key, &k.secret_key)).await;
    assert!(v["data"].get("subject").is_none(), "{v}");
    s.stop().await;
}
