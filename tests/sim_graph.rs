//! The Graph API simulator over real HTTP on loopback: template management (create → PENDING →
//! APPROVED / REJECTED, list with fields, filters and cursor paging, get, edit, delete), sends
//! refused with Meta's codes (190, 132001, 132000, 132012, 131047, 130429, 131056), the window
//! opened by an inbound message, and the webhooks it sends — received by a small axum server
//! here that checks every `X-Hub-Signature-256` against the app secret: statuses sent →
//! delivered → read with `biz_opaque_callback_data`, failed with `errors[]`, inbound messages,
//! template status updates, retries on non-2xx. No timing assertions: short delays, polling
//! with a bounded deadline.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use jood::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "test_app_secret";
const PN: &str = "106540352242922";
const WABA: &str = "102290129340398";
const TOKEN: &str = "EAAGsim";
const USER: &str = "966501234567";

/// What the test's webhook receiver saw: (signature valid, body).
#[derive(Default)]
struct Hooks {
    got: Mutex<Vec<(bool, Value)>>,
    /// Answer 500 to this many deliveries first.
    fail_first: AtomicUsize,
    failed: AtomicUsize,
}

async fn hook(State(h): State<Arc<Hooks>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if h.fail_first.load(Ordering::SeqCst) > h.failed.load(Ordering::SeqCst) {
        h.failed.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let valid = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    h.got.lock().unwrap().push((valid, v));
    StatusCode::OK
}

async fn receiver() -> (String, Arc<Hooks>) {
    let hooks = Arc::new(Hooks::default());
    let app = axum::Router::new().route("/hook", post(hook)).with_state(hooks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hooks)
}

/// Meta's behaviour with short delays, `patch` merged over it, and the number's webhook target.
async fn start(patch: Value) -> (SimHandle, Arc<Hooks>) {
    let (url, hooks) = receiver().await;
    let base = json!({"whatsapp": {
        "template_review_ms": 30, "sent_delay_ms": 5, "delivered_delay_ms": 5, "read_delay_ms": 5, "status_jitter_ms": 0,
        "webhook_retry_ms": 10,
        "phone_numbers": {PN: {"waba_id": WABA, "display_phone_number": "15550783881", "webhook_url": url, "app_secret": SECRET}},
    }});
    let config = SimConfig::meta_whatsapp().merged(&base).unwrap().merged(&patch).unwrap();
    (Simulator::start("127.0.0.1:0", config).await.unwrap(), hooks)
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post_json(url: String, body: Value) -> (u16, Value) {
    call(reqwest::Method::POST, url, Some(body)).await
}

async fn get(url: String) -> (u16, Value) {
    call(reqwest::Method::GET, url, None).await
}

fn template(name: &str, language: &str, body: &str, examples: &[&str]) -> Value {
    let mut b = json!({"type": "BODY", "text": body});
    if !examples.is_empty() {
        b["example"] = json!({"body_text": [examples]});
    }
    json!({"name": name, "language": language, "category": "UTILITY", "components": [b, {"type": "FOOTER", "text": "Jood"}]})
}

/// Polls `GET /{template-id}` until the status is no longer PENDING.
async fn settled(sim: &SimHandle, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, t) = get(format!("{}/v23.0/{id}?fields=name,status,rejected_reason", sim.base_url())).await;
        assert_eq!(status, 200, "{t}");
        if t["status"] != "PENDING" || Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `pred` holds over the received webhooks (all checked signed), or panics.
async fn wait_hooks(hooks: &Hooks, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<(bool, Value)> = hooks.got.lock().unwrap().clone();
        assert!(got.iter().all(|(valid, _)| *valid), "a webhook with a bad signature: {got:?}");
        let bodies: Vec<Value> = got.into_iter().map(|(_, v)| v).collect();
        if pred(&bodies) {
            return bodies;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; got {bodies:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The statuses received for one wamid, in arrival order.
fn statuses(bodies: &[Value], wamid: &str) -> Vec<Value> {
    bodies
        .iter()
        .filter(|b| b["entry"][0]["changes"][0]["field"] == "messages")
        .filter_map(|b| b["entry"][0]["changes"][0]["value"]["statuses"][0].as_object().cloned())
        .filter(|s| s["id"] == wamid)
        .map(Value::Object)
        .collect()
}

fn send_body(to: &str, kind: &str) -> Value {
    match kind {
        "text" => json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
                         "text": {"preview_url": false, "body": "hello"}, "biz_opaque_callback_data": "msg-42"}),
        _ => json!({"messaging_product": "whatsapp", "to": to, "type": "image", "image": {"link": "https://example.test/a.jpg"}}),
    }
}

fn template_send(to: &str, name: &str, params: &[&str]) -> Value {
    let params: Vec<Value> = params.iter().map(|p| json!({"type": "text", "text": p})).collect();
    json!({"messaging_product": "whatsapp", "to": to, "type": "template", "biz_opaque_callback_data": "tpl-1",
           "template": {"name": name, "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": params}]}})
}

async fn approved_template(sim: &SimHandle, name: &str) -> String {
    let t = template(name, "en_US", "Hello {{1}}, your order {{2}} is confirmed.", &["Ahmed", "ORD-1"]);
    let (status, created) = post_json(format!("{}/v23.0/{WABA}/message_templates", sim.base_url()), t).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(sim, &id).await["status"], "APPROVED");
    id
}

#[tokio::test]
async fn template_lifecycle_list_paging_edit_delete() {
    let (sim, hooks) = start(json!({})).await;
    let base = format!("{}/v23.0/{WABA}/message_templates", sim.base_url());

    let (status, created) = post_json(base.clone(), template("order_confirmation", "en_US", "Hello {{1}}, order {{2}}.", &["A", "B"])).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!((created["status"].as_str(), created["category"].as_str()), (Some("PENDING"), Some("UTILITY")));
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.len() == 15 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(settled(&sim, &id).await["status"], "APPROVED");

    // The marker rejects; other languages of the same name are separate templates.
    let (_, rejected) = post_json(base.clone(), template("promo_reject_me", "en_US", "Big sale today only.", &[])).await;
    let rejected_id = rejected["id"].as_str().unwrap().to_owned();
    let t = settled(&sim, &rejected_id).await;
    assert_eq!((t["status"].as_str(), t["rejected_reason"].as_str()), (Some("REJECTED"), Some("INVALID_FORMAT")), "{t}");
    let (status, ar) = post_json(base.clone(), template("order_confirmation", "ar", "مرحبا {{1}} طلبك {{2}}.", &["أ", "ب"])).await;
    assert_eq!(status, 200, "{ar}");
    let ar_id = ar["id"].as_str().unwrap().to_owned();
    settled(&sim, &ar_id).await;

    // Meta's create errors.
    let (status, dup) = post_json(base.clone(), template("order_confirmation", "en_US", "Again {{1}}.", &["x"])).await;
    assert_eq!((status, dup["error"]["code"].as_i64(), dup["error"]["error_subcode"].as_i64()), (400, Some(100), Some(2388024)), "{dup}");
    for bad in [
        template("Bad-Name", "en_US", "Hi.", &[]),
        template(&"a".repeat(513), "en_US", "Hi.", &[]),
        json!({"name": "no_body", "language": "en_US", "category": "UTILITY", "components": [{"type": "FOOTER", "text": "x"}]}),
        json!({"name": "bad_cat", "language": "en_US", "category": "SPAM", "components": [{"type": "BODY", "text": "x"}]}),
        json!({"name": "no_lang", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
        template("no_example", "en_US", "Hi {{1}}.", &[]),
        template("gap_vars", "en_US", "Hi {{1}} {{3}}.", &["a", "b"]),
    ] {
        let (status, e) = post_json(base.clone(), bad.clone()).await;
        assert_eq!((status, e["error"]["code"].as_i64()), (400, Some(100)), "{bad} → {e}");
    }

    // The template status webhooks (APPROVED / REJECTED), signed, on the WABA's entry.
    let bodies = wait_hooks(&hooks, "template status updates", |b| {
        b.iter().filter(|v| v["entry"][0]["changes"][0]["field"] == "message_template_status_update").count() >= 3
    })
    .await;
    let update = bodies.iter().find(|v| v["entry"][0]["changes"][0]["value"]["message_template_id"].to_string() == id).unwrap();
    assert_eq!(update["object"], "whatsapp_business_account");
    assert_eq!(update["entry"][0]["id"], WABA);
    assert_eq!(
        update["entry"][0]["changes"][0]["value"],
        json!({"event": "APPROVED", "message_template_id": id.parse::<u64>().unwrap(), "message_template_name": "order_confirmation",
               "message_template_language": "en_US", "reason": "NONE"})
    );

    // List: filters, fields, and paging.next on the simulator's own URL.
    let (_, approved) = get(format!("{base}?status=APPROVED&fields=name,language,status")).await;
    let data = approved["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{approved}");
    assert!(data.iter().all(|t| t["status"] == "APPROVED" && t.get("components").is_none() && t["id"].is_string()), "{approved}");
    let (_, page1) = get(format!("{base}?limit=2")).await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    assert!(page1["data"][0]["components"].is_array(), "default fields include components");
    let next = page1["paging"]["next"].as_str().unwrap().to_owned();
    assert!(next.starts_with(&format!("{}/v23.0/{WABA}/message_templates?", sim.base_url())), "{next}");
    assert!(page1["paging"]["cursors"]["after"].is_string() && page1["paging"]["cursors"]["before"].is_string());
    let (_, page2) = get(next).await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1, "{page2}");
    assert!(page2["paging"].get("next").is_none(), "last page: {page2}");
    let mut ids: Vec<String> = [&page1, &page2].iter().flat_map(|p| p["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned())).collect();
    ids.sort();
    let mut want = vec![id.clone(), rejected_id.clone(), ar_id.clone()];
    want.sort();
    assert_eq!(ids, want);
    let (status, e) = get(format!("{base}?after=garbage")).await;
    assert_eq!((status, e["error"]["code"].as_i64()), (400, Some(100)));
    let (status, e) = get(format!("{base}?fields=name,nope")).await;
    assert_eq!((status, e["error"]["code"].as_i64()), (400, Some(100)));

    // Edit: back to PENDING, then reviewed again.
    let (status, ok) = post_json(format!("{}/v23.0/{id}", sim.base_url()), json!({"components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} ready.", "example": {"body_text": [["A", "B"]]}}]})).await;
    assert_eq!((status, &ok), (200, &json!({"success": true})));
    assert_eq!(settled(&sim, &id).await["status"], "APPROVED");
    let (_, one) = get(format!("{}/v23.0/{id}", sim.base_url())).await;
    assert_eq!(one["components"][0]["text"], "Hi {{1}}, order {{2}} ready.");

    // Delete one language by hsm_id, then the name (all languages).
    let (status, ok) = call(reqwest::Method::DELETE, format!("{base}?name=order_confirmation&hsm_id={ar_id}"), None).await;
    assert_eq!((status, ok), (200, json!({"success": true})));
    let (status, gone) = get(format!("{}/v23.0/{ar_id}", sim.base_url())).await;
    assert_eq!((status, gone["error"]["code"].as_i64(), gone["error"]["error_subcode"].as_i64()), (400, Some(100), Some(33)));
    assert_eq!(get(format!("{}/v23.0/{id}", sim.base_url())).await.0, 200, "the other language stays");
    let (status, _) = call(reqwest::Method::DELETE, format!("{base}?name=order_confirmation"), None).await;
    assert_eq!(status, 200);
    assert_eq!(get(format!("{}/v23.0/{id}", sim.base_url())).await.0, 400);
    let (status, e) = call(reqwest::Method::DELETE, format!("{base}?name=order_confirmation"), None).await;
    assert_eq!((status, e["error"]["code"].as_i64()), (400, Some(100)), "nothing left to delete");
    let (_, left) = get(base.clone()).await;
    assert_eq!(left["data"].as_array().unwrap().len(), 1);

    // No token: 190.
    let r = reqwest::Client::new().get(&base).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 190);
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn sends_are_refused_with_metas_codes() {
    let (sim, _hooks) = start(json!({"whatsapp": {"window_error": "sync", "access_tokens": [TOKEN]}})).await;
    let send = format!("{}/v23.0/{PN}/messages", sim.base_url());
    approved_template(&sim, "order_update").await;

    let code = |v: &Value| v["error"]["code"].as_i64();
    let (status, e) = post_json(send.clone(), template_send(USER, "no_such_template", &["a", "b"])).await;
    assert_eq!((status, code(&e)), (404, Some(132001)), "{e}");
    let (status, e) = post_json(send.clone(), template_send(USER, "order_update", &["only one"])).await;
    assert_eq!((status, code(&e)), (400, Some(132000)), "{e}");
    assert!(e["error"]["error_data"]["details"].as_str().unwrap().contains("(1)"), "{e}");
    let (status, ok) = post_json(send.clone(), template_send(USER, "order_update", &["Ahmed", "ORD-1"])).await;
    assert_eq!(status, 200, "{ok}");
    assert!(ok["messages"][0]["id"].as_str().unwrap().starts_with("wamid."));
    assert_eq!(ok["messages"][0]["message_status"], "accepted");
    assert_eq!(ok["contacts"][0]["wa_id"], USER);

    // A template of another WABA is unknown to this number.
    let (_, other) = post_json(format!("{}/v23.0/999/message_templates", sim.base_url()), template("elsewhere", "en_US", "Hi.", &[])).await;
    settled(&sim, other["id"].as_str().unwrap()).await;
    let (status, e) = post_json(send.clone(), template_send(USER, "elsewhere", &[])).await;
    assert_eq!((status, code(&e)), (404, Some(132001)));

    // Free-form outside the window, then inside it once the user wrote.
    let (status, e) = post_json(send.clone(), send_body("966501111111", "text")).await;
    assert_eq!((status, code(&e)), (400, Some(131047)), "{e}");
    let (status, e) = post_json(send.clone(), send_body("966501111111", "image")).await;
    assert_eq!((status, code(&e)), (400, Some(131047)), "media too");
    let (status, inbound) = post_json(format!("{}/_sim/whatsapp/inbound", sim.base_url()), json!({"phoneNumberId": PN, "from": "+966501111111", "text": "hi"})).await;
    assert_eq!((status, inbound["windowOpen"].as_bool()), (200, Some(true)), "{inbound}");
    let (status, ok) = post_json(send.clone(), send_body("966501111111", "text")).await;
    assert_eq!(status, 200, "{ok}");
    // Mark the inbound message as read.
    let (status, ok) = post_json(send.clone(), json!({"messaging_product": "whatsapp", "status": "read", "message_id": inbound["id"]})).await;
    assert_eq!((status, ok), (200, json!({"success": true})));
    let (status, e) = post_json(send.clone(), json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"})).await;
    assert_eq!((status, code(&e)), (400, Some(100)));

    // The pair limit: the same user again too soon.
    let patch = json!({"whatsapp": {"pair_interval_ms": 60_000}});
    sim.set_config(sim.config().merged(&patch).unwrap()).unwrap();
    let (status, _) = post_json(send.clone(), template_send("966502222222", "order_update", &["a", "b"])).await;
    assert_eq!(status, 200);
    let (status, e) = post_json(send.clone(), template_send("966502222222", "order_update", &["a", "b"])).await;
    assert_eq!((status, code(&e)), (400, Some(131056)), "{e}");
    let (status, _) = post_json(send.clone(), template_send("966503333333", "order_update", &["a", "b"])).await;
    assert_eq!(status, 200, "other users are not slowed");

    // Throughput: 2 msg/s, answered 429 when configured so; the code is 130429 either way.
    let patch = json!({"whatsapp": {"pair_interval_ms": 0, "throughput_per_second": 2, "rate_limit_status": 429}});
    sim.set_config(sim.config().merged(&patch).unwrap()).unwrap();
    let mut throttled = 0;
    for _ in 0..10 {
        let (status, e) = post_json(send.clone(), template_send(USER, "order_update", &["a", "b"])).await;
        if status != 200 {
            assert_eq!((status, code(&e)), (429, Some(130429)), "{e}");
            throttled += 1;
        }
    }
    assert!(throttled >= 1, "10 quick sends at 2/s");

    // Paused / disabled templates (set through the control plane).
    let patch = json!({"whatsapp": {"throughput_per_second": 0}});
    sim.set_config(sim.config().merged(&patch).unwrap()).unwrap();
    let (_, templates) = get(format!("{}/_sim/whatsapp/templates", sim.base_url())).await;
    let tid = templates[WABA].as_array().unwrap().iter().find(|t| t["name"] == "order_update").unwrap()["id"].as_str().unwrap().to_owned();
    for (status_name, want) in [("PAUSED", 132015), ("DISABLED", 132016)] {
        let (s, _) = post_json(format!("{}/_sim/whatsapp/template-status", sim.base_url()), json!({"id": tid, "status": status_name})).await;
        assert_eq!(s, 200);
        let (status, e) = post_json(send.clone(), template_send(USER, "order_update", &["a", "b"])).await;
        assert_eq!((status, code(&e)), (400, Some(want)));
    }

    // An unknown token.
    let r = reqwest::Client::new().post(&send).bearer_auth("other").json(&template_send(USER, "order_update", &["a", "b"])).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 190);

    let stats = sim.stats();
    let refused = &stats["whatsapp"]["sends"]["refused"];
    for c in ["132001", "132000", "131047", "131056", "130429", "132015", "132016", "190"] {
        assert!(refused[c].as_u64().unwrap() >= 1, "{c}: {stats}");
    }
    assert_eq!(stats["providers"]["meta"]["rejected"]["throttled"].as_u64(), Some(1 + throttled));
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn a_pending_template_cannot_be_sent() {
    let (sim, _hooks) = start(json!({"whatsapp": {"template_review_ms": 60_000}})).await;
    let (_, pending) = post_json(format!("{}/v23.0/{WABA}/message_templates", sim.base_url()), template("slow_one", "en_US", "Hi.", &[])).await;
    assert_eq!(pending["status"], "PENDING");
    let (status, e) = post_json(format!("{}/v23.0/{PN}/messages", sim.base_url()), template_send(USER, "slow_one", &[])).await;
    assert_eq!((status, e["error"]["code"].as_i64()), (404, Some(132001)), "{e}");
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn status_webhooks_arrive_signed_in_order() {
    let (sim, hooks) = start(json!({})).await;
    let base = sim.base_url();
    // The user writes: the inbound webhook, and the window opens.
    let (_, inbound) = post_json(format!("{base}/_sim/whatsapp/inbound"), json!({"phoneNumberId": PN, "from": USER, "text": "مرحبا", "name": "Ahmed"})).await;
    assert_eq!(inbound["webhook"], "queued");
    let bodies = wait_hooks(&hooks, "the inbound message", |b| !b.is_empty()).await;
    let value = &bodies[0]["entry"][0]["changes"][0]["value"];
    assert_eq!(bodies[0]["entry"][0]["changes"][0]["field"], "messages");
    assert_eq!(bodies[0]["entry"][0]["id"], WABA);
    assert_eq!(value["metadata"], json!({"display_phone_number": "15550783881", "phone_number_id": PN}));
    assert_eq!(value["contacts"], json!([{"profile": {"name": "Ahmed"}, "wa_id": USER}]));
    let m = &value["messages"][0];
    assert_eq!((m["from"].as_str(), m["type"].as_str(), m["text"]["body"].as_str()), (Some(USER), Some("text"), Some("مرحبا")));
    assert_eq!(m["id"], inbound["id"]);
    assert!(m["timestamp"].as_str().unwrap().parse::<i64>().is_ok());

    let (status, ok) = post_json(format!("{base}/v23.0/{PN}/messages"), send_body(USER, "text")).await;
    assert_eq!(status, 200, "{ok}");
    let wamid = ok["messages"][0]["id"].as_str().unwrap().to_owned();
    let bodies = wait_hooks(&hooks, "sent, delivered, read", |b| statuses(b, &wamid).len() >= 3).await;
    let got = statuses(&bodies, &wamid);
    let names: Vec<&str> = got.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    for s in &got {
        assert_eq!((s["recipient_id"].as_str(), s["biz_opaque_callback_data"].as_str()), (Some(USER), Some("msg-42")), "{s}");
        assert!(s["timestamp"].as_str().unwrap().parse::<i64>().unwrap() > 1_700_000_000);
        assert!(s.get("errors").is_none());
    }
    assert_eq!(got[0]["conversation"]["origin"]["type"], "service");
    assert_eq!(got[0]["pricing"]["category"], "service");
    let envelope = bodies.iter().find(|b| b["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] == wamid.as_str()).unwrap();
    assert_eq!(envelope["object"], "whatsapp_business_account");
    assert_eq!(envelope["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"], PN);
    assert_eq!(envelope["entry"][0]["changes"][0]["value"]["messaging_product"], "whatsapp");

    let (_, recent) = get(format!("{base}/_sim/whatsapp/messages?phoneNumberId={PN}")).await;
    let mine = recent.as_array().unwrap().iter().find(|m| m["id"] == wamid.as_str()).unwrap();
    assert_eq!(mine["statuses"], json!(["sent", "delivered", "read"]));
    let stats = sim.stats();
    assert_eq!(stats["whatsapp"]["webhooks"]["by_kind"]["read"], 1, "{stats}");
    assert_eq!(stats["whatsapp"]["webhooks"]["by_kind"]["inbound"], 1);
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn failures_arrive_as_failed_statuses_with_errors() {
    let (sim, hooks) = start(json!({})).await;
    let send = format!("{}/v23.0/{PN}/messages", sim.base_url());
    let failed = |bodies: &[Value], wamid: &str| statuses(bodies, wamid).into_iter().find(|s| s["status"] == "failed");

    // The window closed (Meta: 200, then failed 131047).
    let (status, ok) = post_json(send.clone(), send_body("966504444444", "text")).await;
    assert_eq!(status, 200, "{ok}");
    let closed = ok["messages"][0]["id"].as_str().unwrap().to_owned();
    // An invalid number (the `invalid_number_suffix` rule): 200, then failed 131026.
    let (status, ok) = post_json(send.clone(), template_send("966500000000", "any", &[])).await;
    assert_eq!(status, 404, "templates are checked first: {ok}");
    approved_template(&sim, "receipt").await;
    let (status, ok) = post_json(send.clone(), template_send("966500000000", "receipt", &["a", "b"])).await;
    assert_eq!(status, 200, "{ok}");
    let invalid = ok["messages"][0]["id"].as_str().unwrap().to_owned();
    let bodies = wait_hooks(&hooks, "two failures", |b| failed(b, &closed).is_some() && failed(b, &invalid).is_some()).await;
    let f = failed(&bodies, &closed).unwrap();
    assert_eq!(f["errors"][0]["code"], 131047);
    assert!(f["errors"][0]["error_data"]["details"].as_str().unwrap().contains("24 hours"));
    assert_eq!(f["biz_opaque_callback_data"], "msg-42");
    let f = failed(&bodies, &invalid).unwrap();
    assert_eq!(f["errors"][0]["code"], 131026);
    assert_eq!(f["biz_opaque_callback_data"], "tpl-1");
    assert!(f["errors"][0]["title"].is_string() && f["errors"][0]["message"].is_string());
    assert_eq!(statuses(&bodies, &invalid).len(), 1, "failed only, no sent");

    // failed_rate 1.0: every accepted message fails with failed_code.
    sim.set_config(sim.config().merged(&json!({"whatsapp": {"failed_rate": 1.0, "failed_code": 131049}})).unwrap()).unwrap();
    let (_, ok) = post_json(send.clone(), template_send(USER, "receipt", &["a", "b"])).await;
    let wamid = ok["messages"][0]["id"].as_str().unwrap().to_owned();
    let bodies = wait_hooks(&hooks, "a random failure", |b| failed(b, &wamid).is_some()).await;
    assert_eq!(failed(&bodies, &wamid).unwrap()["errors"][0]["code"], 131049);
    assert_eq!(statuses(&bodies, &wamid).len(), 1);
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn webhooks_are_retried_until_accepted_and_duplicates_happen_at_their_rate() {
    let (sim, hooks) = start(json!({"whatsapp": {"enforce_templates": false, "duplicate_rate": 1.0}})).await;
    hooks.fail_first.store(2, Ordering::SeqCst);
    let (status, ok) = post_json(format!("{}/v23.0/{PN}/messages", sim.base_url()), template_send(USER, "anything", &[])).await;
    assert_eq!(status, 200, "{ok}");
    let wamid = ok["messages"][0]["id"].as_str().unwrap().to_owned();
    // sent, delivered, read plus one of them twice.
    let bodies = wait_hooks(&hooks, "four statuses", |b| statuses(b, &wamid).len() >= 4).await;
    let mut names: Vec<String> = statuses(&bodies, &wamid).iter().map(|s| s["status"].as_str().unwrap().to_owned()).collect();
    names.dedup();
    assert_eq!(names, ["sent", "delivered", "read"]);
    let stats = sim.stats();
    let w = &stats["whatsapp"]["webhooks"];
    assert!(w["retries"].as_u64().unwrap() >= 2 && w["failed_attempts"].as_u64().unwrap() >= 2, "{w}");
    assert_eq!(w["delivered"], 4, "{w}");
    assert_eq!(w["gave_up"], 0);
    sim.stop().await.unwrap();
}

/// Nothing the simulator is sent makes it panic or hang: garbage on every Graph path.
#[tokio::test]
async fn garbage_is_answered_not_fatal() {
    let (sim, _hooks) = start(json!({})).await;
    let base = sim.base_url();
    let http = reqwest::Client::new();
    let bodies: [&[u8]; 6] = [b"", b"not json", b"[]", b"{\"name\":5,\"components\":{}}", b"{\"components\":[{\"type\":\"BODY\",\"text\":\"{{\"}]}", b"\xff\xfe"];
    for path in [format!("/v23.0/{WABA}/message_templates"), format!("/v23.0/{PN}/messages"), "/v23.0/123".into(), "/vx/1".into(),
                 "/_sim/whatsapp/inbound".into(), "/_sim/whatsapp/webhook".into(), "/_sim/whatsapp/template-status".into()] {
        for body in bodies {
            for method in [reqwest::Method::POST, reqwest::Method::GET, reqwest::Method::DELETE] {
                let r = http.request(method.clone(), format!("{base}{path}?limit=abc&after=%%%")).bearer_auth(TOKEN).body(body.to_vec()).send().await.unwrap();
                assert!(r.status().as_u16() < 500, "{method} {path} {body:?}: {}", r.status());
            }
        }
    }
    let (status, _) = post_json(format!("{base}/_sim/whatsapp/webhook"), json!({"phoneNumberId": PN, "url": "ftp://x"})).await;
    assert_eq!(status, 400);
    assert_eq!(get(format!("{base}/_sim/stats")).await.0, 200);
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn reorder_rate_swaps_two_statuses_and_no_target_sends_nothing() {
    let (sim, hooks) = start(json!({"whatsapp": {"enforce_templates": false, "reorder_rate": 1.0}})).await;
    let (_, ok) = post_json(format!("{}/v23.0/{PN}/messages", sim.base_url()), template_send(USER, "anything", &[])).await;
    let wamid = ok["messages"][0]["id"].as_str().unwrap().to_owned();
    let bodies = wait_hooks(&hooks, "three statuses", |b| statuses(b, &wamid).len() >= 3).await;
    let names: Vec<String> = statuses(&bodies, &wamid).iter().map(|s| s["status"].as_str().unwrap().to_owned()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["delivered", "read", "sent"]);
    assert_ne!(names, ["sent", "delivered", "read"], "two adjacent statuses swapped");

    // A number without a webhook target: accepted, nothing sent, counted.
    let (status, _) = post_json(format!("{}/v23.0/555/messages", sim.base_url()), template_send(USER, "anything", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(sim.stats()["whatsapp"]["webhooks"]["no_target"], 1);
    sim.stop().await.unwrap();
}
