//! Seed 003's notifications API over real HTTP, against the real server, the actor tree, the
//! provider simulator and its SMTP sink: the quickstart as written (send, then track by
//! `notification_id`), each error of its "Common Errors" table, channel capabilities,
//! `idempotency_key`, the bulk form, a WhatsApp→SMS fallback ending delivered over SMS, and
//! the Jood API's numeric ids still answering on the shared path, for `GET` and `DELETE`.

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{FaultMode, FaultSpec, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

async fn setup() -> (SimHandle, TestServer, Keys) {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start_with(|c| {
        c.dispatch.backoff_base_ms = 10;
        c.dispatch.backoff_max_ms = 50;
        c.dispatch.route_refresh_ms = 1;
        c.dispatch.provider_timeout_ms = 2_000;
        c.dispatch.rate_per_second.smtp = 1_000.0;
    })
    .await;
    let k = s.create_association(1, "Tenant").await;
    let a = sim.smtp_addr();
    s.add_credential(1, &k, json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": "IB_sms"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    s.add_credential(1, &k, json!({"providerId": ProviderKind::Smtp.id(), "senderName": "Tenant",
        "credentials": {"host": a.ip().to_string(), "port": a.port(), "tls": "none", "username": "tenant-relay", "password": "pw", "fromAddress": "no-reply@tenant.example"}})).await;
    s.add_credential(1, &k, json!({"providerId": 8, "senderName": "+966112345678", "credentials": {"phoneNumberId": "106540352242922", "accessToken": "EAAGsim"},
        "apiUrl": format!("{}/v23.0", sim.base_url())})).await;
    (sim, s, k)
}

fn api(s: &TestServer, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path)).header("X-API-Key", key)
}

async fn send_003(s: &TestServer, key: &str, body: Value) -> (u16, Value) {
    send(api(s, reqwest::Method::POST, "/api/v1/notifications/send", key).json(&body)).await
}

/// Polls `GET /api/v1/notifications/{notification_id}` until the status is final.
async fn track(s: &TestServer, key: &str, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = send(api(s, reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), key)).await;
        assert_eq!(status, 200, "{body}");
        let st = body["data"]["status"].as_str().unwrap().to_string();
        assert!(["queued", "sent", "delivered", "failed"].contains(&st.as_str()), "not a seed-003 status: {body}");
        if st != "queued" {
            return body["data"].clone();
        }
        assert!(started.elapsed().as_secs() < 15, "{id} still queued: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_as_written_send_then_track() {
    let (sim, s, k) = setup().await;
    let key = &k.admin_api_key;
    // "Create one template for WhatsApp or use raw payload for Email/SMS": the cookbook's raw
    // email, then track it by the returned notification_id.
    let (status, sent) = send_003(&s, key, json!({
        "recipient": {"email": "user@example.com"},
        "notification": {"channels": ["email"], "subject": "Order Update", "body": "Your order shipped", "data": {"order_id": "ORD-1001"}}
    })).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["success"], true);
    let id = sent["data"]["notification_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ntf_"), "{sent}");
    assert_eq!(sent["data"]["status"], "queued");
    let n = track(&s, key, &id).await;
    assert_eq!((n["status"].as_str(), n["channel"].as_str()), (Some("sent"), Some("email")), "{n}");
    assert_eq!(n["attempts"][0]["channel"], "email");
    let mail = &sim.requests(ProviderKind::Smtp)[0].raw_body;
    assert!(mail.contains("Subject: Order Update") && mail.contains("Your order shipped"), "{mail}");

    // The cookbook's raw SMS.
    let (status, sent) = send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["sms"], "body": "Your OTP is 549921"}})).await;
    assert_eq!(status, 200, "{sent}");
    let n = track(&s, key, sent["data"]["notification_id"].as_str().unwrap()).await;
    assert_eq!((n["status"].as_str(), n["channel"].as_str(), n["provider"].as_str()), (Some("sent"), Some("sms"), Some("infobip")), "{n}");

    // The same message through the Jood API's numeric id, on the same path.
    let numeric = sent["data"]["notification_id"].as_str().unwrap().trim_start_matches("ntf_").to_string();
    let (status, j) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{numeric}"), &k.api_key, &k.secret_key)).await;
    assert_eq!((status, j["data"]["id"].to_string()), (200, numeric.clone()), "{j}");
    assert!(j["data"]["timeline"].is_array(), "{j}");
    assert_error(&send(api(&s, reqwest::Method::GET, "/api/v1/notifications/ntf_999", key)).await, 404, "ntf_999 not found");
    assert_error(&send(api(&s, reqwest::Method::GET, "/api/v1/notifications/abc", key)).await, 400, "neither a queue id");
    // Another tenant's notification is not found.
    let other = s.create_association(2, "Other").await;
    assert_error(&send(api(&s, reqwest::Method::GET, &format!("/api/v1/notifications/ntf_{numeric}"), &other.admin_api_key)).await, 404, "not found");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_common_error_of_the_document() {
    let (sim, s, k) = setup().await;
    let key = &k.admin_api_key;
    // Missing template_id for WhatsApp.
    let got = send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["whatsapp"], "body": "hi"}})).await;
    assert_error(&got, 400, "Missing template_id for WhatsApp");
    // Template variable mismatch.
    let (st, _) = send(s.req(reqwest::Method::POST, "/api/v1/templates", &k.api_key, &k.secret_key)
        .json(&json!({"code": "order_confirmation", "content": "Hi {{name}}, order {{order_id}} is confirmed", "channel": "sms"}))).await;
    assert_eq!(st, 201);
    let got = send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["sms"], "template_id": "order_confirmation", "data": {"name": "Alex"}}})).await;
    assert_error(&got, 400, "Template variable mismatch: template `order_confirmation` uses {{name}}, {{order_id}}; data lacks `order_id`");
    // Unauthorized / invalid API key: a wrong key, and the public key alone.
    assert_error(&send_003(&s, "jn_admin_wrong", json!({})).await, 401, "Invalid API key");
    assert_eq!(send_003(&s, &k.api_key, json!({})).await.0, 401);
    assert_eq!(send(s.client.post(s.url("/api/v1/notifications/send")).json(&json!({}))).await.0, 401);
    // Recipient field missing: named after the capability.
    let got = send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["email"], "subject": "x", "body": "y"}})).await;
    assert_error(&got, 400, "Recipient field missing: channel `email` needs recipient.email");
    let got = send_003(&s, key, json!({"recipient": {"email": "a@example.com"}, "notification": {"channels": ["sms"], "body": "y"}})).await;
    assert_error(&got, 400, "needs recipient.phone");
    // And the rest: bad address, unknown channel, raw mode without a body, unknown template.
    assert_error(&send_003(&s, key, json!({"recipient": {"email": "nope"}, "notification": {"channels": ["email"], "body": "y"}})).await, 400, "recipient `nope`");
    assert_error(&send_003(&s, key, json!({"recipient": {"phone": "+1"}, "notification": {"channels": ["fax"], "body": "y"}})).await, 400, "channel `fax` is not one of");
    assert_error(&send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["sms"]}})).await, 400, "notification.body is required");
    assert_error(&send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["sms"], "template_id": "nope"}})).await, 404, "Template `nope` not found");
    assert_error(&send_003(&s, key, json!({"notification": {"channels": ["sms"]}})).await, 400, "missing field `recipient`");
    assert_eq!(sim.stats()["total"]["received"], 0, "nothing was sent");

    // The template with its data renders; capabilities tell the policy.
    let (st, sent) = send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["sms"], "template_id": "order_confirmation", "data": {"name": "Alex", "order_id": "ORD-1001"}}})).await;
    assert_eq!(st, 200, "{sent}");
    track(&s, key, sent["data"]["notification_id"].as_str().unwrap()).await;
    let sms = serde_json::to_value(&sim.requests(ProviderKind::Infobip)[0]).unwrap();
    assert_eq!(sms["body"]["messages"][0]["content"]["text"], "Hi Alex, order ORD-1001 is confirmed");
    let (st, caps) = send(api(&s, reqwest::Method::GET, "/api/v1/channels/capabilities", key)).await;
    assert_eq!(st, 200, "{caps}");
    let wa = caps["data"].as_array().unwrap().iter().find(|c| c["channel"] == "whatsapp").unwrap();
    assert_eq!((wa["recipient_field"].as_str(), wa["template_required"].as_bool(), wa["raw_body_allowed"].as_bool()), (Some("phone"), Some(true), Some(false)));
    let email = caps["data"].as_array().unwrap().iter().find(|c| c["channel"] == "email").unwrap();
    assert_eq!((email["recipient_field"].as_str(), email["template_required"].as_bool(), email["available"].as_bool()), (Some("email"), Some(false), Some(true)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_falls_back_to_sms_and_idempotency_and_bulk() {
    let (sim, s, k) = setup().await;
    let key = &k.admin_api_key;
    let (st, _) = send(s.req(reqwest::Method::POST, "/api/v1/templates", &k.api_key, &k.secret_key)
        .json(&json!({"code": "wa_order_update", "content": "Hi {{name}}, order {{order_id}} shipped", "channel": "whatsapp"}))).await;
    assert_eq!(st, 201);
    // WhatsApp's only credential is refused by Meta: the message goes on over SMS.
    sim.add_fault(FaultSpec { provider: Some("meta".into()), credential: None, mode: FaultMode::AuthError, count: None }).unwrap();
    let body = json!({"recipient": {"phone": "+14155550123"}, "idempotency_key": "order-1001-shipped",
                      "notification": {"channels": ["whatsapp", "sms"], "template_id": "wa_order_update", "data": {"name": "Alex", "order_id": "ORD-1001"}}});
    let (st, sent) = send_003(&s, key, body.clone()).await;
    assert_eq!(st, 200, "{sent}");
    let id = sent["data"]["notification_id"].as_str().unwrap().to_string();
    let n = track(&s, key, &id).await;
    assert_eq!((n["status"].as_str(), n["channel"].as_str(), n["provider"].as_str()), (Some("sent"), Some("sms"), Some("infobip")), "{n}");
    let trail: Vec<(String, String)> = n["attempts"].as_array().unwrap().iter().map(|a| (a["channel"].as_str().unwrap().into(), a["result"].as_str().unwrap().into())).collect();
    assert_eq!(trail, [("whatsapp".into(), "credential_error".into()), ("whatsapp".into(), "fallback".into()), ("sms".into(), "sent".into())], "{n}");
    let sms = serde_json::to_value(&sim.requests(ProviderKind::Infobip)[0]).unwrap();
    assert_eq!(sms["body"]["messages"][0]["content"]["text"], "Hi Alex, order ORD-1001 shipped");

    // The same idempotency_key again: the first answer, nothing sent twice.
    let resp = api(&s, reqwest::Method::POST, "/api/v1/notifications/send", key).json(&body).send().await.unwrap();
    assert_eq!(resp.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_string()), Some("true".into()));
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["data"]["notification_id"], id.as_str());
    assert_eq!(sim.stats()["providers"]["infobip"]["received"], 1);
    let other = json!({"recipient": {"phone": "+14155550124"}, "idempotency_key": "order-1001-shipped", "notification": {"channels": ["sms"], "body": "x"}});
    assert_error(&send_003(&s, key, other).await, 422, "already used");

    // Bulk: per-row fields and data; a bad row is reported, the others go.
    sim.clear_faults();
    let bulk = json!({"channels": ["email", "sms"], "template_id": "wa_order_update", "subject": "Order {{order_id}}",
        "data": {"order_id": "ORD-1"},
        "recipients": [
            {"phone": "+14155550123", "email": "a@example.com", "data": {"name": "Alex"}},
            {"phone": "+14155550124", "email": "b@example.com", "data": {"name": "Sam", "order_id": "ORD-2"}},
            {"phone": "+14155550125", "data": {"name": "NoEmail"}}
        ]});
    let (st, b) = send(api(&s, reqwest::Method::POST, "/api/v1/notifications/bulk", key).json(&bulk)).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["data"]["accepted"], 2, "{b}");
    assert_eq!(b["data"]["errors"][0]["index"], 2, "{b}");
    assert!(b["data"]["errors"][0]["error"].as_str().unwrap().contains("recipient.email"), "{b}");
    for item in b["data"]["notifications"].as_array().unwrap() {
        let n = track(&s, key, item["notification_id"].as_str().unwrap()).await;
        assert_eq!((n["status"].as_str(), n["channel"].as_str()), (Some("sent"), Some("email")), "{n}");
    }
    let mails: Vec<String> = sim.requests(ProviderKind::Smtp).into_iter().map(|r| r.raw_body).collect();
    assert!(mails.iter().any(|m| m.contains("Subject: Order ORD-2") && m.contains("Hi Sam, order ORD-2 shipped")), "{mails:?}");
    // WhatsApp in a bulk without a template: the documented error, nothing stored.
    let (st, b) = send(api(&s, reqwest::Method::POST, "/api/v1/notifications/bulk", key).json(&json!({"channels": ["whatsapp"], "recipients": [{"phone": "+14155550123"}]}))).await;
    assert_eq!(st, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("Missing template_id for WhatsApp"), "{b}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_takes_a_notification_id_as_get_does() {
    let (_sim, s, k) = setup().await;
    let key = &k.admin_api_key;
    let later = jood::domain::Timestamp(now_ms() + 3_600_000).to_iso();
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "later", "scheduledAt": later}).to_string();
    let (st, ok) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_eq!((st, ok["data"]["status"].as_str()), (200, Some("scheduled")), "{ok}");
    let id = ok["data"]["queueId"].as_i64().unwrap();
    let ntf = format!("ntf_{id}");

    // Another association's key: not found, in the id's own form.
    let other = s.create_association(2, "Other").await;
    assert_error(&send(api(&s, reqwest::Method::DELETE, &format!("/api/v1/notifications/{ntf}"), &other.admin_api_key)).await, 404, &format!("Notification {ntf} not found"));
    let (st, done) = send(api(&s, reqwest::Method::DELETE, &format!("/api/v1/notifications/{ntf}"), key)).await;
    assert_eq!(st, 200, "{done}");
    let (_, v) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(v["data"]["status"], "cancelled", "{v}");
    // Once more: a conflict naming the status, with the id as the caller wrote it.
    assert_error(&send(api(&s, reqwest::Method::DELETE, &format!("/api/v1/notifications/{ntf}"), key)).await, 409, &format!("Notification {ntf} is cancelled"));
    assert_error(&send(api(&s, reqwest::Method::DELETE, &format!("/api/v1/notifications/{id}"), key)).await, 409, &format!("Notification {id} is cancelled"));
    // Malformed ids: the same answers as GET gives.
    assert_error(&send(api(&s, reqwest::Method::DELETE, "/api/v1/notifications/ntf_zz", key)).await, 404, "Notification ntf_zz not found");
    assert_error(&send(api(&s, reqwest::Method::DELETE, "/api/v1/notifications/zz", key)).await, 400, "neither a queue id");
    assert_error(&send(api(&s, reqwest::Method::DELETE, "/api/v1/notifications/ntf_999999", key)).await, 404, "Notification ntf_999999 not found");
    // A seed-003 send that is already on its way cannot be cancelled.
    let (st, sent) = send_003(&s, key, json!({"recipient": {"phone": "+14155550123"}, "notification": {"channels": ["sms"], "body": "now"}})).await;
    assert_eq!(st, 200, "{sent}");
    let nid = sent["data"]["notification_id"].as_str().unwrap().to_string();
    track(&s, key, &nid).await;
    let got = send(api(&s, reqwest::Method::DELETE, &format!("/api/v1/notifications/{nid}"), key)).await;
    assert_error(&got, 409, "only scheduled messages can be cancelled");
    s.stop().await;
}
