//! Channels end to end, through the real server, the actor tree and the provider simulator
//! over real HTTP: a WhatsApp send goes out as WhatsApp through a provider that serves it
//! (Twilio's `whatsapp:` addresses, Meta's Graph API), failover stays within the channel, and
//! a channel the association cannot be delivered on is refused with a 400 naming it — never
//! delivered as a plain SMS (the defect this suite pins).

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{FaultMode, FaultSpec, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

async fn sim() -> SimHandle {
    Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap()
}

async fn engine() -> TestServer {
    TestServer::start_with(fast_dispatch).await
}

fn twilio(sim: &SimHandle, sid: &str) -> Value {
    json!({"providerId": 7, "senderName": "+14155238886", "credentials": {"accountSid": sid, "authToken": "tok"}, "apiUrl": sim.base_url()})
}

fn infobip(sim: &SimHandle, key: &str, default: bool) -> Value {
    json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": key}, "apiUrl": sim.base_url(), "isDefault": default})
}

fn meta(sim: &SimHandle, phone_number_id: &str) -> Value {
    json!({"providerId": 8, "senderName": "+966112345678", "credentials": {"phoneNumberId": phone_number_id, "accessToken": "EAAGsim"},
           "apiUrl": format!("{}/v23.0", sim.base_url())})
}

async fn send_on(s: &TestServer, secret: &str, channel: &str, recipient: &str) -> (u16, Value) {
    let body = json!({"associationId": 1, "recipient": recipient, "message": "مرحبا، رمزك 482901", "channel": channel}).to_string();
    send(s.signed("/api/v1/webhook/notification", secret, &body)).await
}

fn requests(sim: &SimHandle, kind: ProviderKind) -> Vec<Value> {
    sim.requests(kind).into_iter().map(|r| serde_json::to_value(r).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_without_a_whatsapp_credential_is_refused_not_sent_as_sms() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, infobip(&sim, "IB_sms", true)).await;

    let got = send_on(&s, &k.secret_key, "whatsapp", "+966501234567").await;
    assert_error(&got, 400, "channel `whatsapp`");
    assert!(got.1["error"].as_str().unwrap().contains("twilio, meta"), "{}", got.1);
    let bulk = json!({"associationId": 1, "recipients": ["+966501234567", "+966501234568"], "message": "hi", "channel": "whatsapp"}).to_string();
    let got = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk)).await;
    assert_error(&got, 400, "channel `whatsapp`");
    // An unknown channel names the ones there are.
    assert_error(&send_on(&s, &k.secret_key, "fax", "+966501234567").await, 400, "channel `fax` is not one of sms, whatsapp");

    // Nothing reached any provider; SMS still goes out.
    assert_eq!(sim.stats()["total"]["received"], 0);
    let (status, ok) = send_on(&s, &k.secret_key, "sms", "+966501234567").await;
    assert_eq!(status, 200, "{ok}");
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!((n["status"].as_str(), n["provider"].as_str()), (Some("sent"), Some("infobip")), "{n}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_goes_out_as_whatsapp_and_fails_over_within_the_channel() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    // The SMS default comes first in the SMS route, but never carries WhatsApp.
    s.add_credential(1, &k, infobip(&sim, "IB_default", true)).await;
    let meta_id = s.add_credential(1, &k, meta(&sim, "106540352242922")).await;
    let twilio_id = s.add_credential(1, &k, twilio(&sim, "AC_wa")).await;

    // Meta (the older WhatsApp credential) is tried first.
    let (status, ok) = send_on(&s, &k.secret_key, "whatsapp", "+966501234567").await;
    assert_eq!(status, 200, "{ok}");
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!((n["status"].as_str(), n["channel"].as_str()), (Some("sent"), Some("whatsapp")), "{n}");
    assert_eq!((n["provider"].as_str(), n["credentialId"].as_i64()), (Some("meta"), Some(meta_id)), "{n}");
    assert!(n["providerMessageId"].as_str().unwrap().starts_with("wamid."), "{n}");
    let req = requests(&sim, ProviderKind::MetaWhatsapp).pop().unwrap();
    assert_eq!(req["body"]["type"], "text");
    assert_eq!(req["body"]["text"]["body"], "مرحبا، رمزك 482901");
    assert_eq!(req["body"]["to"], "966501234567");

    // Meta's token broken: the message fails over to Twilio's WhatsApp, not to the SMS default.
    sim.add_fault(FaultSpec { provider: Some("meta".into()), credential: None, mode: FaultMode::AuthError, count: None }).unwrap();
    let (status, ok) = send_on(&s, &k.secret_key, "whatsapp", "+966501234568").await;
    assert_eq!(status, 200, "{ok}");
    let n = s.wait_terminal(&k, ok["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!((n["status"].as_str(), n["provider"].as_str(), n["credentialId"].as_i64()), (Some("sent"), Some("twilio"), Some(twilio_id)), "{n}");
    let attempts = n["attempts"].as_array().unwrap();
    assert_eq!(attempts.iter().map(|a| a["provider"].as_str().unwrap()).collect::<Vec<_>>(), ["meta", "twilio"], "{n}");
    let req = requests(&sim, ProviderKind::Twilio).pop().unwrap();
    assert_eq!(req["body"]["To"], "whatsapp:+966501234568");
    assert_eq!(req["body"]["From"], "whatsapp:+14155238886");
    assert!(requests(&sim, ProviderKind::Infobip).is_empty(), "no WhatsApp message went out as an SMS");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_bulk_campaign_is_delivered_on_whatsapp_only() {
    let sim = sim().await;
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, infobip(&sim, "IB_default", true)).await;
    s.add_credential(1, &k, twilio(&sim, "AC_wa")).await;
    let recipients: Vec<String> = (0..20).map(|i| format!("+9665012345{i:02}")).collect();
    let bulk = json!({"associationId": 1, "recipients": recipients, "message": "Hello {{name}}", "data": {"name": "Sara"}, "channel": "whatsapp"}).to_string();
    let (status, ok) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk)).await;
    assert_eq!(status, 200, "{ok}");
    let started = std::time::Instant::now();
    while sim.stats()["providers"]["twilio"]["accepted"].as_u64().unwrap_or(0) < 20 {
        assert!(started.elapsed().as_secs() < 20, "campaign not delivered: {}", sim.stats());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let reqs = requests(&sim, ProviderKind::Twilio);
    assert!(reqs.iter().all(|r| r["body"]["To"].as_str().unwrap().starts_with("whatsapp:+9665")), "{reqs:?}");
    assert!(reqs.iter().all(|r| r["body"]["Body"] == "Hello Sara"));
    assert_eq!(sim.stats()["providers"]["infobip"]["received"], 0);
    s.stop().await;
}
