//! Bulk campaigns, templates, personalisation, scheduling, cancelling and priorities, end
//! to end through the real server, the actor tree and the provider simulator.

mod common;

use common::*;
use jood::sim::{SimConfig, SimHandle, Simulator};
use jood::store::MessageStatus;
use serde_json::{json, Value};

async fn sim() -> SimHandle {
    Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap()
}

fn twilio(sim: &SimHandle, sid: &str) -> Value {
    json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": sid, "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true})
}

async fn setup(s: &TestServer, sim: &SimHandle) -> Keys {
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, twilio(sim, "AC_bulk")).await;
    k
}

async fn bulk(s: &TestServer, k: &Keys, body: Value) -> (u16, Value) {
    send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body.to_string())).await
}

/// Messages of a campaign, by recipient.
async fn campaign_messages(s: &TestServer, campaign: i64) -> std::collections::HashMap<String, jood::store::MessageRecord> {
    let ids = s.store.list_campaign_messages(campaign, None, 100_000).await.unwrap();
    let mut out = std::collections::HashMap::new();
    for id in ids {
        let m = s.store.get_message(id).await.unwrap().unwrap();
        out.insert(m.recipient.clone(), m);
    }
    out
}

async fn wait_campaign(s: &TestServer, k: &Keys, id: i64, status: &str, secs: u64) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (code, body) = send(s.req(reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), &k.api_key, &k.secret_key)).await;
        assert_eq!(code, 200, "{body}");
        if body["data"]["status"] == status {
            return body["data"].clone();
        }
        assert!(started.elapsed().as_secs() < secs, "campaign {id} not {status} after {secs}s: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personalisation_invalid_and_duplicate_recipients() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let (status, body) = bulk(
        &s,
        &k,
        json!({
            "associationId": 1,
            "message": "Hello {{name}}, code {{code}} from {{org}}. {{Name}} {{unknown}}",
            "data": {"org": "Jood", "name": "Everyone"},
            "campaignName": "Verification Codes",
            "recipients": [
                {"phone": "+966501234561", "variables": {"name": "Ahmed", "code": "123456"}},
                {"phone": "+966501234562", "variables": {"name": "Sara", "code": 654321, "org": "Acme"}},
                "+966501234563",
                "00966501234561",
                "not-a-phone",
                {"phone": "+966123456"}
            ]
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Bulk notification campaign created");
    let d = &body["data"];
    assert_eq!(d["status"], "processing");
    assert_eq!(d["totalRecipients"], 3);
    assert_eq!(d["duplicatesRemoved"], 1);
    assert_eq!(d["invalidRecipients"]["count"], 2);
    let items = d["invalidRecipients"]["items"].as_array().unwrap();
    assert_eq!((items[0]["index"].as_u64(), items[0]["recipient"].as_str()), (Some(4), Some("not-a-phone")));
    assert_eq!(items[1]["index"], 5);
    assert!(items[1]["reason"].as_str().unwrap().contains("not a valid"), "{body}");
    let campaign = d["campaignId"].as_i64().unwrap();

    let done = wait_campaign(&s, &k, campaign, "completed", 20).await;
    assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(3), Some(0)), "{done}");
    assert_eq!(done["name"], "Verification Codes");
    let msgs = campaign_messages(&s, campaign).await;
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs["+966501234561"].body, "Hello Ahmed, code 123456 from Jood. {{Name}} {{unknown}}");
    assert_eq!(msgs["+966501234562"].body, "Hello Sara, code 654321 from Acme. {{Name}} {{unknown}}");
    assert_eq!(msgs["+966501234563"].body, "Hello Everyone, code {{code}} from Jood. {{Name}} {{unknown}}");
    assert!(msgs.values().all(|m| m.status == MessageStatus::Sent));
    assert_eq!(sim.stats()["total"]["accepted"], 3, "the duplicate was sent once");

    // All invalid: 400 naming them. Empty: 400.
    let (status, body) = bulk(&s, &k, json!({"associationId": 1, "message": "x", "recipients": ["nope", "+1"]})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("all 2 recipients are invalid"), "{body}");
    assert!(body["error"].as_str().unwrap().contains("recipients[0] `nope`"), "{body}");
    let (status, body) = bulk(&s, &k, json!({"associationId": 1, "message": "x", "recipients": []})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = bulk(&s, &k, json!({"associationId": 1, "message": "x", "recipients": [{"variables": {}}]})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("recipients[0]"), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_recipients_and_body_size() {
    let s = TestServer::start_with(|c| {
        c.campaigns.max_recipients_per_request = 3;
        c.server.body_limit_bytes = 4096;
        c.server.bulk_body_limit_bytes = 8192;
    })
    .await;
    let k = s.create_association(1, "A").await;
    let (status, body) = bulk(&s, &k, json!({"associationId": 1, "message": "x", "recipients": ["+966501234561", "+966501234562", "+966501234563", "+966501234564"]})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit per request is 3"), "{body}");
    let many: Vec<String> = (0..1000).map(|i| format!("+96650{i:07}")).collect();
    let (status, body) = bulk(&s, &k, json!({"associationId": 1, "message": "x", "recipients": many})).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("8192 bytes"), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_crud_and_use() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let r = |m: reqwest::Method, p: &str| s.req(m, p, &k.api_key, &k.secret_key);
    let (status, body) =
        send(r(reqwest::Method::POST, "/api/v1/templates").json(&json!({"code": "otp_verify", "name": "OTP", "content": "Your code is {{code}}, valid {{expiry}} min"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["variables"], json!(["code", "expiry"]));
    assert_error(&send(r(reqwest::Method::POST, "/api/v1/templates").json(&json!({"code": "otp_verify", "content": "again"}))).await, 409, "already exists");
    assert_error(&send(r(reqwest::Method::POST, "/api/v1/templates").json(&json!({"code": "bad code!", "content": "x"}))).await, 400, "code `bad code!`");
    assert_error(&send(r(reqwest::Method::POST, "/api/v1/templates").json(&json!({"code": "empty", "content": " "}))).await, 400, "content must not be empty");
    let (status, body) = send(r(reqwest::Method::GET, "/api/v1/templates")).await;
    assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 1));

    // The documented "Send with Template": message ignored, data fills the template.
    let body = json!({"associationId": 1, "recipient": "+966501234567", "templateCode": "otp_verify", "message": "ignored", "data": {"code": "482901", "expiry": "5"}}).to_string();
    let (status, resp) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{resp}");
    let n = s.wait_terminal(&k, resp["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!(n["message"], "Your code is 482901, valid 5 min");
    assert_eq!(n["status"], "sent");

    let (status, body) = send(r(reqwest::Method::PUT, "/api/v1/templates/otp_verify").json(&json!({"content": "Code: {{code}}"}))).await;
    assert_eq!((status, body["data"]["content"].as_str()), (200, Some("Code: {{code}}")));
    // Another association's keys cannot reach it; the super-admin must say which association.
    let other = s.create_association(2, "B").await;
    assert_error(&send(s.req(reqwest::Method::GET, "/api/v1/templates/otp_verify", &other.api_key, &other.secret_key)).await, 404, "not found");
    assert_error(&send(s.req(reqwest::Method::GET, "/api/v1/templates?associationId=1", &other.api_key, &other.secret_key)).await, 403, "another association");
    assert_error(&send(s.admin(reqwest::Method::GET, "/api/v1/templates")).await, 400, "associationId is required");
    assert_error(&send(s.admin(reqwest::Method::GET, "/api/v1/templates?associationId=abc")).await, 400, "query string");
    assert_eq!(send(s.admin(reqwest::Method::GET, "/api/v1/templates/otp_verify?associationId=1")).await.0, 200);
    let (status, _) = send(r(reqwest::Method::DELETE, "/api/v1/templates/otp_verify")).await;
    assert_eq!(status, 200);
    assert_error(&send(r(reqwest::Method::DELETE, "/api/v1/templates/otp_verify")).await, 404, "not found");
    let body = json!({"associationId": 1, "recipient": "+966501234567", "templateCode": "otp_verify", "data": {}}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await, 404, "Template `otp_verify` not found");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_survives_a_restart_and_fires_on_time() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let at_ms = now_ms() + 3_000;
    let at = jood::domain::Timestamp(at_ms).to_iso();
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "later", "scheduledAt": at}).to_string();
    let (status, resp) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["data"]["status"], "scheduled");
    let single = resp["data"]["queueId"].as_i64().unwrap();
    let (status, resp) = bulk(&s, &k, json!({"associationId": 1, "message": "campaign later", "scheduledAt": at, "recipients": ["+966501234561", "+966501234562"]})).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["data"]["status"], "scheduled");
    let campaign = resp["data"]["campaignId"].as_i64().unwrap();
    // A scheduled message to cancel before it fires.
    let body = json!({"associationId": 1, "recipient": "+966501234568", "message": "never", "scheduledAt": at}).to_string();
    let (_, resp) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    let to_cancel = resp["data"]["queueId"].as_i64().unwrap();
    let (status, resp) = send(s.req(reqwest::Method::DELETE, &format!("/api/v1/notifications/{to_cancel}"), &k.api_key, &k.secret_key)).await;
    assert_eq!((status, resp["message"].as_str()), (200, Some("Scheduled message cancelled successfully")), "{resp}");
    assert_error(&send(s.req(reqwest::Method::DELETE, &format!("/api/v1/notifications/{to_cancel}"), &k.api_key, &k.secret_key)).await, 409, "only scheduled");

    // Restart before they are due.
    let dir = s.stop().await;
    assert_eq!(sim.stats()["total"]["received"], 0);
    let s = TestServer::start_in(dir, |_| {}).await;
    let n = s.wait_terminal(&k, single, 15).await;
    assert_eq!(n["status"], "sent", "{n}");
    let sent_at = jood::domain::Timestamp::parse_iso(n["attempts"][0]["at"].as_str().unwrap()).unwrap().0;
    assert!(sent_at >= at_ms, "sent before its time");
    assert!(sent_at - at_ms < 1_000, "sent {} ms late", sent_at - at_ms);
    let c = wait_campaign(&s, &k, campaign, "completed", 15).await;
    assert_eq!(c["sent"], 2, "{c}");
    let cancelled = s.store.get_message(to_cancel).await.unwrap().unwrap();
    assert_eq!(cancelled.status, MessageStatus::Cancelled);
    assert_eq!(sim.stats()["total"]["accepted"], 3, "the cancelled message was never sent");
    let (status, body) = send(s.signed(
        "/api/v1/webhook/notification",
        &k.secret_key,
        &json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "scheduledAt": "tomorrow"}).to_string(),
    ))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("scheduledAt `tomorrow`"), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_campaign_stops_what_is_not_sent() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let recipients: Vec<String> = (0..40).map(|i| format!("+9665012345{i:02}")).collect();
    let (status, resp) = bulk(&s, &k, json!({"associationId": 1, "message": "paced", "sendRate": 10, "recipients": recipients})).await;
    assert_eq!(status, 200, "{resp}");
    let campaign = resp["data"]["campaignId"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let (status, resp) = send(s.req(reqwest::Method::DELETE, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await;
    assert_eq!((status, resp["message"].as_str()), (200, Some("Campaign cancelled successfully")), "{resp}");
    assert_error(&send(s.req(reqwest::Method::DELETE, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await, 409, "already cancelled");
    // Let in-flight calls and the sweep settle, then check every message.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let msgs = campaign_messages(&s, campaign).await;
    let sent = msgs.values().filter(|m| m.status == MessageStatus::Sent).count();
    let cancelled = msgs.values().filter(|m| m.status == MessageStatus::Cancelled).count();
    assert!(sent >= 5 && sent < 30, "paced at 10/s for ~1 s, then cancelled: {sent} sent");
    assert_eq!(sent + cancelled, 40, "every message is sent or cancelled");
    assert_eq!(sim.stats()["total"]["accepted"].as_u64().unwrap() as usize, sent);
    let (_, c) = send(s.req(reqwest::Method::GET, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(c["data"]["status"], "cancelled");
    assert_eq!(c["data"]["sent"].as_u64().unwrap() as usize, sent, "{c}");
    assert_eq!(c["data"]["cancelled"].as_u64().unwrap() as usize, cancelled, "{c}");
    // Another association cannot see or cancel it.
    let other = s.create_association(2, "B").await;
    assert_error(&send(s.req(reqwest::Method::GET, &format!("/api/v1/campaigns/{campaign}"), &other.api_key, &other.secret_key)).await, 404, "not found");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_send_does_not_wait_behind_a_campaign() {
    let sim = sim().await;
    // A slow credential: 50 messages/s.
    let s = TestServer::start_with(|c| c.dispatch.rate_per_second.twilio = 50.0).await;
    let k = setup(&s, &sim).await;
    let recipients: Vec<String> = (0..500).map(|i| format!("+96650123{i:04}")).collect();
    let (status, resp) = bulk(&s, &k, json!({"associationId": 1, "message": "campaign", "recipients": recipients})).await;
    assert_eq!(status, 200, "{resp}");
    let campaign = resp["data"]["campaignId"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // The campaign needs ~10 s; the OTP must go out within a second or so.
    let started = std::time::Instant::now();
    let id = s.send_sms(1, &k.secret_key, "+966509999991", "OTP 1234").await;
    let n = s.wait_terminal(&k, id, 10).await;
    let waited = started.elapsed();
    assert_eq!(n["status"], "sent");
    assert!(waited < std::time::Duration::from_secs(2), "OTP waited {waited:?} behind the campaign");
    let (_, c) = send(s.req(reqwest::Method::GET, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await;
    assert!(c["data"]["sent"].as_u64().unwrap() < 400, "campaign nearly done already; the test proves nothing: {c}");
    // Priority within the association: a higher priority single send goes first too.
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_bulk_request_with_an_idempotency_key_creates_one_campaign() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let body = json!({"associationId": 1, "message": "once", "recipients": ["+966501234561", "+966501234562"], "idempotencyKey": "campaign-42"}).to_string();
    let (status, first) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{first}");
    // The client retries (re-signed with a new timestamp): same answer, no second campaign.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let resp = s.signed("/api/v1/webhook/bulk", &k.secret_key, &body).send().await.unwrap();
    assert_eq!(resp.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let second: Value = resp.json().await.unwrap();
    assert_eq!(second["data"]["campaignId"], first["data"]["campaignId"]);
    let campaign = first["data"]["campaignId"].as_i64().unwrap();
    wait_campaign(&s, &k, campaign, "completed", 10).await;
    let listed = s.store.list_campaigns(1, None, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "one campaign");
    assert_eq!(sim.stats()["total"]["accepted"], 2, "each recipient sent once");
    s.stop().await;
}
