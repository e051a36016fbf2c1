//! The WhatsApp routes of seed 000 over real HTTP, against the provider simulator's Graph API:
//! credentials, the template life cycle at Meta (submit → PENDING → APPROVED, REJECTED, sync,
//! sync-all, delete there too), sends of approved templates with their parameters, and the
//! 24-hour window refusing free-form sends.

mod common;

use common::*;
use jood::sim::{SimConfig, SimHandle, Simulator};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PHONE_ID: &str = "106540352242922";
const WABA: &str = "755633283894125";

/// Meta's behaviour, with a quick review and no pacing (the pacing rules have their own tests).
async fn sim() -> SimHandle {
    let mut config = SimConfig::meta_whatsapp();
    config.whatsapp.template_review_ms = 100;
    config.whatsapp.pair_interval_ms = 0;
    config.whatsapp.throughput_per_second = 10_000;
    let sim = Simulator::start("127.0.0.1:0", config).await.unwrap();
    let numbers = json!({"whatsapp": {"phone_numbers": {PHONE_ID: {"waba_id": WABA}}}});
    let r = reqwest::Client::new().post(format!("{}/_sim/config", sim.base_url())).json(&numbers).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    sim
}

fn creds(sim: &SimHandle) -> Value {
    json!({"phoneNumberId": PHONE_ID, "businessAccountId": WABA, "accessToken": "EAAG-secret-token",
           "displayPhoneNumber": "+966920033773", "verifiedName": "My Business", "webhookVerifyToken": "verify-me",
           "appSecret": "app-secret", "apiUrl": format!("{}/v23.0", sim.base_url())})
}

/// An X-API-Key request with the association's admin key.
fn wa(s: &TestServer, k: &Keys, method: Method, path: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path)).header("x-api-key", &k.admin_api_key)
}

async fn sync_until(s: &TestServer, k: &Keys, id: i64, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let (code, body) = send(wa(s, k, Method::POST, &format!("/api/v1/whatsapp-templates/{id}/sync"))).await;
        assert_eq!(code, 200, "{body}");
        if body["data"]["status"] == status {
            return body["data"].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "template {id} never became {status}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_overwritten_and_the_token_never_returned() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let other = s.create_association(2, "B").await;

    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-credentials/1")).await, 404, "No WhatsApp credentials");
    let (status, saved) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds(&sim))).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["data"]["associationId"], 1);
    let id = saved["data"]["id"].as_i64().unwrap();

    let (status, got) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-credentials/1")).await;
    assert_eq!(status, 200, "{got}");
    let d = &got["data"];
    assert_eq!((d["id"].as_i64(), d["phoneNumberId"].as_str(), d["businessAccountId"].as_str()), (Some(id), Some(PHONE_ID), Some(WABA)));
    assert_eq!((d["displayPhoneNumber"].as_str(), d["verifiedName"].as_str(), d["isActive"].as_bool()), (Some("+966920033773"), Some("My Business"), Some(true)));
    let text = got.to_string();
    assert!(!text.contains("EAAG-secret-token") && !text.contains("app-secret") && !text.contains("verify-me"), "{text}");

    // Saving again overwrites the same credential; it is an ordinary provider-8 credential.
    let mut again = creds(&sim);
    again["displayPhoneNumber"] = json!("+966920000000");
    let (status, saved) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&again)).await;
    assert_eq!((status, saved["data"]["id"].as_i64()), (200, Some(id)), "{saved}");
    let (_, got) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-credentials/1")).await;
    assert_eq!(got["data"]["displayPhoneNumber"], "+966920000000");
    let (_, list) = send(s.req(Method::GET, "/api/v1/associations/1/credentials", &k.api_key, &k.secret_key)).await;
    let list = list["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["providerId"], 8);

    // Another association's keys, bad ids, unknown fields.
    assert_error(&send(wa(&s, &other, Method::GET, "/api/v1/whatsapp-credentials/1")).await, 403, "another association");
    let mut bad = creds(&sim);
    bad["phoneNumberId"] = json!("12ab");
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&bad)).await, 400, "phoneNumberId");
    let mut bad = creds(&sim);
    bad["accessTokn"] = json!("typo");
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&bad)).await, 400, "accessTokn");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_is_submitted_approved_synced_and_sent() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let (status, body) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds(&sim))).await;
    assert_eq!(status, 200, "{body}");

    let template = json!({"name": "order_confirmation", "language": "en", "category": "UTILITY",
        "bodyText": "Hello {{1}}, your order {{2}} is confirmed.", "footerText": "Thank you for shopping with us",
        "buttons": [{"type": "URL", "text": "Receipt", "url": "https://send.jood.cloud/r/{{1}}"}],
        "variables": ["name", "orderId"], "sampleValues": {"name": "Ahmed", "orderId": "ORD-1001"}, "submitToMeta": true});
    let (status, created) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&template)).await;
    assert_eq!(status, 201, "{created}");
    let t = &created["data"];
    assert_eq!(t["status"], "PENDING", "{t}");
    assert!(t["metaTemplateId"].as_str().is_some_and(|m| !m.is_empty()), "{t}");
    let id = t["id"].as_i64().unwrap();
    // Meta got the documented components, with the examples taken from sampleValues.
    let at_meta: Value = reqwest::get(format!("{}/_sim/whatsapp/templates", sim.base_url())).await.unwrap().json().await.unwrap();
    assert!(at_meta.to_string().contains("order_confirmation") && at_meta.to_string().contains("ORD-1001"), "{at_meta}");

    // Not yet approved: refused.
    let send_body = json!({"templateId": id, "recipient": "+201097899908", "parameters": {"name": "Ahmed", "orderId": "ORD-1", "button_url": "a1b2c3d4"}});
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/template").json(&send_body)).await, 400, "only APPROVED");
    sync_until(&s, &k, id, "APPROVED").await;

    let (status, got) = send(wa(&s, &k, Method::GET, &format!("/api/v1/whatsapp-templates/{id}"))).await;
    assert_eq!(status, 200, "{got}");
    let info = &got["data"]["sendInfo"];
    let keys: Vec<&str> = info["requiredParams"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["name", "orderId", "button_url"], "{info}");
    assert_eq!(info["examplePayload"]["templateId"], id);

    let (status, sent) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/template").json(&send_body)).await;
    assert_eq!(status, 200, "{sent}");
    let d = &sent["data"];
    assert_eq!(d["success"], true);
    let wamid = d["metaMessageId"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."), "{d}");
    assert_eq!(d["providerResponse"]["messages"][0]["id"], wamid);
    let message_id = d["messageId"].as_i64().unwrap();
    let n = s.wait_terminal(&k, message_id, 10).await;
    assert_eq!((n["status"].as_str(), n["channel"].as_str(), n["provider"].as_str()), (Some("sent"), Some("whatsapp"), Some("meta")), "{n}");
    assert_eq!(n["message"], "Hello Ahmed, your order ORD-1 is confirmed.", "{n}");
    let req = serde_json::to_value(sim.requests(jood::domain::ProviderKind::MetaWhatsapp).pop().unwrap()).unwrap();
    assert_eq!(req["body"]["template"]["name"], "order_confirmation");
    assert_eq!(req["body"]["template"]["components"][0]["parameters"][1]["text"], "ORD-1");
    assert_eq!(req["body"]["template"]["components"][1]["parameters"][0]["text"], "a1b2c3d4");

    // The signed webhook sends the same template: `templateCode` names it, `data` fills it.
    let hook = json!({"associationId": 1, "recipient": "+966501234567", "channel": "whatsapp", "templateCode": "order_confirmation",
                      "data": {"name": "Sara", "orderId": "ORD-2", "button_url": "z9"}}).to_string();
    let (status, queued) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &hook)).await;
    assert_eq!(status, 200, "{queued}");
    let n = s.wait_terminal(&k, queued["data"]["queueId"].as_i64().unwrap(), 10).await;
    assert_eq!((n["status"].as_str(), n["provider"].as_str()), (Some("sent"), Some("meta")), "{n}");
    assert_eq!(n["message"], "Hello Sara, your order ORD-2 is confirmed.");
    let req = serde_json::to_value(sim.requests(jood::domain::ProviderKind::MetaWhatsapp).pop().unwrap()).unwrap();
    assert_eq!(req["body"]["template"]["components"][0]["parameters"][0]["text"], "Sara");
    let bad = json!({"associationId": 1, "recipient": "+966501234567", "channel": "whatsapp", "templateCode": "order_confirmation", "data": {"name": "Sara"}}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/notification", &k.secret_key, &bad)).await, 400, "parameters.orderId is required");

    // A missing parameter names itself; nothing is sent.
    let missing = json!({"templateId": id, "recipient": "+201097899908", "parameters": {"name": "Ahmed", "button_url": "x"}});
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/template").json(&missing)).await, 400, "parameters.orderId is required");

    // List filters; a rejected template.
    let rejected = json!({"name": "reject_me", "language": "ar", "category": "MARKETING", "bodyText": "عرض خاص", "submitToMeta": true});
    let (status, r) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&rejected)).await;
    assert_eq!(status, 201, "{r}");
    let rejected_id = r["data"]["id"].as_i64().unwrap();
    let t = sync_until(&s, &k, rejected_id, "REJECTED").await;
    assert!(t["statusReason"].as_str().is_some(), "{t}");
    let (_, approved) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-templates?status=APPROVED")).await;
    assert_eq!(approved["data"].as_array().unwrap().len(), 1, "{approved}");
    let (_, marketing) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-templates?category=MARKETING")).await;
    assert_eq!(marketing["data"][0]["id"], rejected_id);

    // Sync-all: a template made at Meta directly is created here; one Meta deleted is marked.
    let made_at_meta = json!({"name": "made_elsewhere", "language": "en", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Sara"]]}}]});
    let r = reqwest::Client::new().post(format!("{}/v23.0/{WABA}/message_templates", sim.base_url())).bearer_auth("t").json(&made_at_meta).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new().delete(format!("{}/v23.0/{WABA}/message_templates?name=reject_me", sim.base_url())).bearer_auth("t").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, report) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates/sync-all").json(&json!({}))).await;
    assert_eq!(status, 200, "{report}");
    let d = &report["data"];
    assert_eq!((d["created"].as_u64(), d["deleted"].as_u64()), (Some(1), Some(1)), "{d}");
    assert_eq!(d["message"], format!("Sync complete: 1 created, {} updated, 1 marked as deleted", d["updated"]));
    let (_, all) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-templates")).await;
    let names: Vec<(&str, &str)> = all["data"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap())).collect();
    assert!(names.contains(&("made_elsewhere", "PENDING")) && names.contains(&("reject_me", "DELETED")), "{names:?}");

    // Delete here and at Meta.
    let (status, _) = send(wa(&s, &k, Method::DELETE, &format!("/api/v1/whatsapp-templates/{id}?deleteFromMeta=true"))).await;
    assert_eq!(status, 200);
    assert_error(&send(wa(&s, &k, Method::GET, &format!("/api/v1/whatsapp-templates/{id}"))).await, 404, "not found");
    let at_meta: Value = reqwest::get(format!("{}/_sim/whatsapp/templates", sim.base_url())).await.unwrap().json().await.unwrap();
    assert!(!at_meta.to_string().contains("order_confirmation"), "{at_meta}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_validated_and_scoped() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let other = s.create_association(2, "B").await;
    let ok = json!({"name": "receipt", "language": "ar", "category": "UTILITY", "bodyText": "شكراً {{1}}", "headerType": "IMAGE",
                    "headerMediaUrl": "https://send.jood.cloud/media/r.png"});
    // Submitting needs WhatsApp credentials.
    let mut submit = ok.clone();
    submit["submitToMeta"] = json!(true);
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&submit)).await, 400, "no WhatsApp credentials");
    let (status, created) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&ok)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_i64().unwrap();
    assert_eq!(created["data"]["status"], "DRAFT");
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&ok)).await, 400, "exists already");

    for (field, value, needle) in [
        ("name", json!("Receipt Two"), "lowercase"),
        ("category", json!("PROMO"), "category"),
        ("bodyText", json!("{{1}} and {{3}}"), "{{2}} is missing"),
        ("headerType", json!("GIF"), "headerType"),
        ("headerMediaUrl", json!("file:///etc/passwd"), "headerMediaUrl"),
        ("bodyText", json!("x".repeat(1025)), "1024"),
    ] {
        let mut bad = ok.clone();
        bad["name"] = json!("another_one");
        bad[field] = value;
        assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&bad)).await, 400, needle);
    }
    // Scoped: another association sees a 404; the super-admin names the association.
    assert_error(&send(wa(&s, &other, Method::GET, &format!("/api/v1/whatsapp-templates/{id}"))).await, 404, "not found");
    let (status, listed) = send(s.client.get(s.url("/api/v1/whatsapp-templates?associationId=1")).header("x-api-key", ADMIN_KEY)).await;
    assert_eq!((status, listed["data"].as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    assert_error(&send(s.client.get(s.url("/api/v1/whatsapp-templates")).header("x-api-key", ADMIN_KEY)).await, 400, "associationId is required");

    // Update; an edit of an approved template is not approved any more.
    let (status, updated) = send(wa(&s, &k, Method::PUT, &format!("/api/v1/whatsapp-templates/{id}")).json(&json!({"footerText": "Jood", "isActive": false}))).await;
    assert_eq!((status, updated["data"]["footerText"].as_str(), updated["data"]["isActive"].as_bool()), (200, Some("Jood"), Some(false)), "{updated}");
    let _ = sim;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_form_sends_need_the_customer_service_window() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let (status, body) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds(&sim))).await;
    assert_eq!(status, 200, "{body}");
    let text = json!({"recipient": "+966501234567", "message": "Hello"});
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/text").json(&text)).await, 422, "24-hour customer service window");
    let media = json!({"recipient": "+966501234567", "mediaType": "image", "mediaUrl": "https://x.test/a.png"});
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/media").json(&media)).await, 422, "window");
    let bad = json!({"recipient": "+966501234567", "mediaType": "sticker", "mediaUrl": "https://x.test/a.png"});
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/media").json(&bad)).await, 400, "mediaType");
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/text").json(&json!({"recipient": "12", "message": "x"}))).await, 400, "recipient");
    assert_eq!(sim.stats()["providers"]["meta"]["received"].as_u64().unwrap_or(0), 0, "nothing reached Meta");
    s.stop().await;
}

async fn wait_status(s: &TestServer, k: &Keys, id: i64, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let (code, body) = send(s.req(Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
        assert_eq!(code, 200, "{body}");
        if body["data"]["status"] == want {
            return body["data"].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "notification {id} is not {want}: {body}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Meta's webhooks end to end: verification, signed statuses through the one status path
/// (sent → delivered → read), an inbound message opening the window for free-form text, a
/// template paused at Meta, and a forged signature refused with nothing applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_webhooks_drive_statuses_windows_and_templates() {
    let sim = sim().await;
    let mut wh = sim.config().whatsapp;
    wh.sent_delay_ms = 10;
    wh.delivered_delay_ms = 10;
    wh.read_delay_ms = 10;
    wh.status_jitter_ms = 0;
    wh.read_rate = 1.0;
    sim.set_config(SimConfig { whatsapp: wh, ..sim.config() }).unwrap();
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let (status, saved) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds(&sim))).await;
    assert_eq!(status, 200, "{saved}");
    let cred = saved["data"]["id"].as_i64().unwrap();
    let hook = format!("/api/v1/callbacks/meta/{cred}");

    // Meta's subscription check.
    let ok = s.client.get(s.url(&format!("{hook}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"))).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = s.client.get(s.url(&format!("{hook}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"))).send().await.unwrap();
    assert_eq!(bad.status(), 403);

    // The simulator posts this number's webhooks to the engine, signed with the app secret.
    let target = json!({"phoneNumberId": PHONE_ID, "url": s.url(&hook), "appSecret": "app-secret", "wabaId": WABA});
    let r = reqwest::Client::new().post(format!("{}/_sim/whatsapp/webhook", sim.base_url())).json(&target).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let template = json!({"name": "otp_code", "language": "ar", "category": "AUTHENTICATION", "bodyText": "رمزك {{1}}", "submitToMeta": true});
    let (status, created) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&template)).await;
    assert_eq!(status, 201, "{created}");
    let tid = created["data"]["id"].as_i64().unwrap();
    let meta_id = created["data"]["metaTemplateId"].as_str().unwrap().to_owned();
    // Approval arrives by webhook (message_template_status_update), no sync needed.
    let started = Instant::now();
    loop {
        let (_, t) = send(wa(&s, &k, Method::GET, &format!("/api/v1/whatsapp-templates/{tid}"))).await;
        if t["data"]["status"] == "APPROVED" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "approval webhook never applied: {t}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    let body = json!({"templateId": tid, "recipient": "+966501234567", "parameters": {"var1": "4829"}});
    let (status, sent) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/template").json(&body)).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["data"]["messageId"].as_i64().unwrap();
    let n = wait_status(&s, &k, id, "read").await;
    let timeline: Vec<&str> = n["timeline"].as_array().unwrap().iter().filter_map(|e| e["status"].as_str()).collect();
    assert!(timeline.contains(&"delivered") && timeline.contains(&"read"), "{n}");

    // Free-form text is refused until the customer writes; then it goes out.
    let text = json!({"recipient": "+966501234567", "message": "شكراً لتواصلك"});
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/text").json(&text)).await, 422, "window");
    let inbound = json!({"phoneNumberId": PHONE_ID, "from": "966501234567", "text": "مرحبا"});
    let r = reqwest::Client::new().post(format!("{}/_sim/whatsapp/inbound", sim.base_url())).json(&inbound).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let started = Instant::now();
    let sent = loop {
        let got = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/text").json(&text)).await;
        if got.0 == 200 {
            break got.1;
        }
        assert_eq!(got.0, 422, "{}", got.1);
        assert!(started.elapsed() < Duration::from_secs(10), "the inbound message never opened the window");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    assert!(sent["data"]["metaMessageId"].as_str().is_some_and(|m| m.starts_with("wamid.")), "{sent}");

    // A template paused at Meta is paused here, by webhook.
    let r = reqwest::Client::new().post(format!("{}/_sim/whatsapp/template-status", sim.base_url())).json(&json!({"id": meta_id, "status": "PAUSED"})).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let started = Instant::now();
    loop {
        let (_, t) = send(wa(&s, &k, Method::GET, &format!("/api/v1/whatsapp-templates/{tid}"))).await;
        if t["data"]["status"] == "PAUSED" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "pause webhook never applied: {t}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/template").json(&body)).await, 400, "PAUSED");

    // A forged webhook (right shape, wrong signature) changes nothing.
    let wamid = n["providerMessageId"].as_str().unwrap();
    let forged = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "statuses": [{"id": wamid, "status": "failed", "timestamp": "1"}]}}]}]});
    let r = s.client.post(s.url(&hook)).header("x-hub-signature-256", "sha256=00").json(&forged).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = s.client.post(s.url(&hook)).json(&forged).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let (_, again) = send(s.req(Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(again["data"]["status"], "read");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_bulk_sends_an_approved_template_with_each_recipients_parameters() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let (status, body) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds(&sim))).await;
    assert_eq!(status, 200, "{body}");
    let template = json!({"name": "order_confirmation", "language": "en", "category": "UTILITY",
        "bodyText": "Hello {{1}}, your order {{2}} is confirmed.", "variables": ["name", "orderId"],
        "sampleValues": {"name": "Ahmed", "orderId": "ORD-1001"}, "submitToMeta": true});
    let (status, created) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&template)).await;
    assert_eq!(status, 201, "{created}");
    sync_until(&s, &k, created["data"]["id"].as_i64().unwrap(), "APPROVED").await;

    // `data` for all, each recipient's `variables` over it; one entry lacks `name`.
    let bulk = json!({"associationId": 1, "channel": "whatsapp", "templateCode": "order_confirmation", "campaignName": "receipts",
        "data": {"orderId": "ORD-ALL"},
        "recipients": [{"phone": "+966501234570", "variables": {"name": "Huda"}},
                       {"phone": "+966501234571", "variables": {"name": "Omar", "orderId": "ORD-7"}},
                       "+966501234572"]}).to_string();
    let (status, resp) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk)).await;
    assert_eq!(status, 200, "{resp}");
    let d = &resp["data"];
    assert_eq!(d["invalidRecipients"]["count"], 1, "{d}");
    let refused = &d["invalidRecipients"]["items"][0];
    assert_eq!(refused["index"], 2, "{refused}");
    assert!(refused["reason"].as_str().unwrap().contains("parameters.name is required"), "{refused}");
    let campaign = d["campaignId"].as_i64().unwrap();
    let started = Instant::now();
    let c = loop {
        let (_, c) = send(s.req(Method::GET, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await;
        if c["data"]["status"] == "completed" {
            break c;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "campaign never completed: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((c["data"]["sent"].as_u64(), c["data"]["channel"].as_str(), c["data"]["name"].as_str()), (Some(2), Some("whatsapp"), Some("receipts")), "{c}");
    // Meta got the template with each recipient's own parameters.
    let mut got: Vec<(String, String, String)> = sim
        .requests(jood::domain::ProviderKind::MetaWhatsapp)
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .filter(|r| r["body"]["type"] == "template")
        .map(|r| {
            let p = &r["body"]["template"]["components"][0]["parameters"];
            (r["body"]["to"].as_str().unwrap().to_owned(), p[0]["text"].as_str().unwrap().to_owned(), p[1]["text"].as_str().unwrap().to_owned())
        })
        .collect();
    got.sort();
    let want = [("966501234570", "Huda", "ORD-ALL"), ("966501234571", "Omar", "ORD-7")].map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(got, want);

    // A WhatsApp template not approved is named; all entries refused is a 400.
    let none = json!({"associationId": 1, "channel": "whatsapp", "templateCode": "order_confirmation", "recipients": ["+966501234572"]}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &none)).await, 400, "all 1 recipients are invalid");
    s.stop().await;
}
