//! The operator console: its assets served by the engine, the dashboard routes it adds
//! (overview, route tester, message timeline, daily stats, set-up views) with their errors,
//! and the browser flows in headless Chromium (`console/tests/run.mjs`, playwright-core):
//! log in, send, a 10,000-recipient campaign to 100%, cancel a scheduled message, an
//! allocation and the route tester, log search, log out, a bound operator's view. The browser
//! test skips, saying why, only when chromium, node or the npm packages are absent
//! (`bash .ci/run` installs them).

mod common;

use common::*;
use jood::sim::{SimConfig, Simulator};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

struct Session<'a> {
    s: &'a TestServer,
    cookie: String,
    csrf: String,
}

async fn login<'a>(s: &'a TestServer, user: &str, password: &str) -> Session<'a> {
    let resp = s.client.post(s.url("/api/v1/dashboard/auth/login")).json(&json!({"username": user, "password": password})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    Session { s, cookie, csrf: body["data"]["csrfToken"].as_str().unwrap().to_string() }
}

impl Session<'_> {
    fn req(&self, m: Method, path: &str) -> reqwest::RequestBuilder {
        self.s.client.request(m, self.s.url(&format!("/api/v1/dashboard{path}"))).header("cookie", &self.cookie).header("x-csrf-token", &self.csrf)
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        send(self.req(Method::GET, path)).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::POST, path).json(&body)).await
    }
}

/// A free loopback port, so the engine's public URL (where the simulator sends delivery
/// reports) can name the engine's own address before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_engine() -> TestServer {
    let port = free_port();
    TestServer::start_with(move |c| {
        c.server.http_addr = format!("127.0.0.1:{port}");
        c.server.public_url = format!("http://127.0.0.1:{port}");
        // The campaign is 10,000 messages: let one credential send them in seconds.
        c.dispatch.rate_per_second.twilio = 5_000.0;
        // The browser logs in several times.
        c.rate_limit.login_per_minute = 100;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_serves_the_console_and_its_routes_answer_with_their_errors() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = start_engine().await;
    let k1 = s.create_association(1, "Acme").await;
    let twilio = s.add_credential(1, &k1, json!({"providerId": 7, "senderName": "Acme", "credentials": {"accountSid": "AC1", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    let infobip = s.add_credential(1, &k1, json!({"providerId": 6, "senderName": "Acme", "credentials": {"apiKey": "IB1"}, "apiUrl": sim.base_url()})).await;

    // `/` and `/console` lead to the page; assets carry their type and a validator; unknown ones are 404s.
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for path in ["/", "/console"] {
        let r = no_redirect.get(s.url(path)).send().await.unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/console/"), "{path}");
    }
    let page = s.client.get(s.url("/console/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(page.text().await.unwrap().contains(r#"<script type="module" src="js/app.js">"#));
    let js = s.client.get(s.url("/console/js/app.js")).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    let etag = js.headers()["etag"].to_str().unwrap().to_string();
    let again = s.client.get(s.url("/console/js/app.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_error(&send(s.client.get(s.url("/console/js/nope.js"))).await, 404, "Console asset not found: js/nope.js");

    // The new routes need a session like the others.
    assert_error(&send(s.client.get(s.url("/api/v1/dashboard/overview"))).await, 401, "log in first");
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;

    // Route tester: dispatch's own decision, explained; errors name the field.
    let (status, body) = root.get("/route-test?associationId=1&phoneNumber=%2B966501234567").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["country"], "SA");
    assert_eq!(body["data"]["route"][0]["credentialId"], twilio);
    assert_eq!(body["data"]["route"][0]["reason"], "default credential");
    assert_eq!(body["data"]["route"][1]["credentialId"], infobip);
    let (status, body) = root.post("/allocations", json!({"associationId": 1, "credentialId": infobip, "routingType": "include", "countryCode": "SA", "priority": 1})).await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = root.get("/route-test?associationId=1&phoneNumber=00966501234567").await;
    assert_eq!(body["data"]["route"][0]["credentialId"], infobip);
    assert!(body["data"]["route"][0]["reason"].as_str().unwrap().starts_with("include allocation"), "{body}");
    let (_, body) = root.get("/route-test?associationId=1&phoneNumber=%2B12025550123").await;
    assert_eq!(body["data"]["route"][0]["credentialId"], twilio, "another country keeps the default: {body}");
    assert_error(&root.get("/route-test?phoneNumber=%2B966501234567").await, 400, "associationId is required");
    assert_error(&root.get("/route-test?associationId=1").await, 400, "phoneNumber is required");
    assert_error(&root.get("/route-test?associationId=1&phoneNumber=abc").await, 400, "phoneNumber `abc`");
    assert_error(&root.get("/route-test?associationId=1&phoneNumber=%2B966501234567&channel=pigeon").await, 400, "channel `pigeon`");
    assert_error(&root.get("/route-test?associationId=99&phoneNumber=%2B966501234567").await, 404, "");

    // A send, then its timeline by id; the overview counts it once the sampler has ticked
    // (after a first sample, so the send falls inside the charted window).
    let started = std::time::Instant::now();
    while root.get("/overview?associationId=1").await.1["data"]["window"]["toMs"].is_null() {
        assert!(started.elapsed().as_secs() < 30, "the sampler never ticked");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, sent) = root.post("/send-sms", json!({"associationId": 1, "phoneNumber": "+12025550123", "message": "مرحبا"})).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["data"]["logId"].as_i64().unwrap();
    let (status, m) = root.get(&format!("/messages/{id}")).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["data"]["message"], "مرحبا");
    assert_eq!(m["data"]["timeline"][0]["event"], "accepted");
    assert_error(&root.get("/messages/123").await, 404, "Message 123 not found");
    assert_error(&root.get("/messages/abc").await, 400, "");

    let started = std::time::Instant::now();
    let overview = loop {
        let (status, o) = root.get("/overview?associationId=1").await;
        assert_eq!(status, 200, "{o}");
        if o["data"]["window"]["accepted"].as_i64().unwrap_or(0) >= 1 {
            break o;
        }
        assert!(started.elapsed().as_secs() < 30, "the overview never counted the send: {o}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let d = &overview["data"];
    assert_eq!(d["sampleIntervalMs"], 5000);
    assert!(d["series"].as_array().unwrap().iter().any(|p| p["accepted"].as_f64().unwrap() > 0.0), "{d}");
    assert!(d["dispatchQueueDepth"].is_u64() && d["scheduleBacklog"].is_u64(), "{d}");
    let creds = d["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 2, "{d}");
    let tw = creds.iter().find(|c| c["id"] == twilio).unwrap();
    assert_eq!((tw["provider"].as_str(), tw["circuit"].as_str()), (Some("twilio"), Some("closed")));
    assert!(tw["calls"].as_u64().unwrap() >= 1 && tw["p99Ms"].as_f64().is_some(), "the provider call was tapped: {tw}");

    // Daily stats and the set-up views.
    let (status, days) = root.get("/stats/daily?associationId=1&days=3").await;
    assert_eq!(status, 200, "{days}");
    assert_eq!(days["data"].as_array().unwrap().len(), 3);
    assert!(days["data"][2]["accepted"].as_i64().unwrap() >= 1, "{days}");
    assert_error(&root.get("/stats/daily?days=0").await, 400, "days must be between 1 and 90");
    let (status, assocs) = root.get("/associations").await;
    assert_eq!((status, assocs["data"][0]["name"].as_str()), (200, Some("Acme")));
    let (status, list) = root.get("/credentials?associationId=1").await;
    assert_eq!(status, 200);
    assert!(!list.to_string().contains("authToken") && !list.to_string().contains("IB1"), "secrets never come back: {list}");
    assert_error(&root.get("/credentials").await, 400, "associationId is required");
    let (status, c) = root.post("/credentials", json!({"associationId": 1, "providerId": 6, "senderName": "Two", "credentials": {"apiKey": "SECRET-IB"}})).await;
    assert_eq!(status, 201, "{c}");
    assert!(!c.to_string().contains("SECRET-IB"));
    assert_error(&root.post("/credentials", json!({"associationId": 1, "providerId": 99, "senderName": "x", "credentials": {}})).await, 400, "");
    let (status, t) = root.post("/templates", json!({"associationId": 1, "code": "otp", "content": "Your code is {{code}}"})).await;
    assert_eq!(status, 201, "{t}");
    let (_, ts) = root.get("/templates?associationId=1").await;
    assert_eq!(ts["data"][0]["variables"], json!(["code"]));
    for path in ["/whatsapp-templates?associationId=1", "/links?associationId=1", "/callbacks?associationId=1"] {
        let (status, body) = root.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // State changes need the CSRF token, as everywhere on the dashboard.
    let (status, _) = send(s.client.post(s.url("/api/v1/dashboard/templates")).header("cookie", &root.cookie).json(&json!({"associationId": 1, "code": "x", "content": "y"}))).await;
    assert_eq!(status, 403);

    // A bound operator: its own association only.
    s.create_association(2, "Other").await;
    let (status, _) = root.post("/operators", json!({"username": "ops2", "password": "ops2-password", "associationId": 2})).await;
    assert_eq!(status, 201);
    let ops2 = login(&s, "ops2", "ops2-password").await;
    let (_, assocs) = ops2.get("/associations").await;
    assert_eq!(assocs["data"].as_array().unwrap().len(), 1);
    assert_eq!(assocs["data"][0]["id"], 2);
    assert_error(&ops2.get("/overview?associationId=1").await, 403, "bound to another association");
    assert_error(&ops2.get("/route-test?associationId=1&phoneNumber=%2B966501234567").await, 403, "bound to another association");
    assert_error(&ops2.get(&format!("/messages/{id}")).await, 404, "not found");
    assert_error(&ops2.get("/credentials?associationId=1").await, 403, "");
    let (_, o) = ops2.get("/overview").await;
    assert_eq!(o["data"]["associationId"], 2);
    assert!(o["data"]["credentials"].as_array().unwrap().is_empty() && o["data"].get("dispatchQueueDepth").is_none(), "{o}");
    s.stop().await;
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(cmd)).find(|f| f.is_file()))
}

/// Why the browser test cannot run here, if it cannot.
fn browser_missing(console_dir: &Path) -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).is_file() {
        return Some(format!("no chromium at {chromium} (apt-get install chromium; or set CHROMIUM)"));
    }
    if which("node").is_none() {
        return Some("no node on PATH".into());
    }
    if !console_dir.join("node_modules/playwright-core/package.json").is_file() {
        return Some("playwright-core is not installed (cd console && npm ci)".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let console_dir = repo.join("console");
    if let Some(why) = browser_missing(&console_dir) {
        println!("SKIPPED: console browser test: {why}");
        return;
    }
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = start_engine().await;
    let k1 = s.create_association(1, "Acme").await;
    s.add_credential(1, &k1, json!({"providerId": 7, "senderName": "Acme", "credentials": {"accountSid": "AC1", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    let infobip = s.add_credential(1, &k1, json!({"providerId": 6, "senderName": "Acme", "credentials": {"apiKey": "IB1"}, "apiUrl": sim.base_url()})).await;
    let k2 = s.create_association(2, "Other").await;
    s.add_credential(2, &k2, json!({"providerId": 7, "senderName": "Other", "credentials": {"accountSid": "AC2", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    s.send_sms(2, &k2.secret_key, "+966509876543", "Association two only").await;
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;
    let (status, body) = root.post("/operators", json!({"username": "ops2", "password": "ops2-password", "associationId": 2})).await;
    assert_eq!(status, 201, "{body}");

    let config = json!({
        "super": {"username": OPERATOR, "password": OPERATOR_PASSWORD},
        "bound": {"username": "ops2", "password": "ops2-password", "associationId": 2},
        "associationId": 1,
        "phone": "+966501234567",
        "arabicText": "مرحبا بك في جود، رمزك 4821",
        "scheduledText": "Scheduled for tomorrow",
        "boundText": "Association two only",
        "routeCredentialId": infobip,
        "screenshots": repo.join("docs").to_str().unwrap(),
    });
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg("tests/run.mjs").arg(&base).arg(config.to_string()).current_dir(&console_dir).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "browser flows failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("all flows passed"), "{stdout}");
    for shot in ["console-overview.png", "console-campaigns.png"] {
        let meta = std::fs::metadata(repo.join("docs").join(shot)).unwrap_or_else(|e| panic!("{shot}: {e}"));
        assert!(meta.len() > 10_000, "{shot} is {} bytes", meta.len());
    }
    s.stop().await;
}
