//! The operator console: its assets served by the engine, the dashboard routes it adds
//! (overview, route tester, message timeline, daily stats, set-up views) with their errors,
//! and the browser flows in headless Chromium (`console/tests/run.mjs`, playwright-core):
//! log in, send, a 10,000-recipient campaign to 100%, cancel a scheduled message, an
//! allocation and the route tester, log search, log out, a bound operator's view, and the
//! times shown in a browser whose zone is Asia/Riyadh (UTC on hover). The browser
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

/// An open overview stream: reads its events one by one.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(sess: &Session<'_>, query: &str) -> Result<Events, (u16, Value)> {
        let resp = sess.req(Method::GET, &format!("/overview/stream{query}")).header("accept", "text/event-stream").send().await.unwrap();
        if resp.status() != 200 {
            let status = resp.status().as_u16();
            return Err((status, resp.json().await.unwrap_or(Value::Null)));
        }
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Ok(Events { resp, buf: String::new() })
    }

    /// The next event (name, data), heartbeats skipped; None when the stream ended.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if name.is_empty() {
                    continue; // a comment (heartbeat)
                }
                return Some((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(40), self.resp.chunk()).await.expect("an event within 40 s").ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
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
        // The WA-Web gateway's client state shows up soon after its credential starts.
        c.gateways.waweb_client_poll_ms = 200;
        // A credential added mid-test is routed to at once.
        c.dispatch.route_refresh_ms = 1;
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

    // A second Twilio credential that sends nothing: its health must be its own, not its provider's.
    let spare = s.add_credential(1, &k1, json!({"providerId": 7, "senderName": "Spare", "credentials": {"accountSid": "AC9", "authToken": "t"}, "apiUrl": sim.base_url()})).await;
    // A send, then its timeline by id; the overview counts it at the sampler's next tick, also
    // when that tick is the association's first sample (no wait for one before sending: a
    // message accepted before it must be in the window, `live::Inner::record`).
    // The overview stream: the figures at once, then after every sample.
    let mut events = Events::open(&root, "?associationId=1").await.unwrap_or_else(|e| panic!("{e:?}"));
    let (name, first) = events.next().await.unwrap();
    assert_eq!(name, "overview", "{first}");
    let accepted_before = first["window"]["accepted"].as_i64().unwrap();
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
    // The stream brought the send too, without asking.
    loop {
        let (name, v) = events.next().await.expect("the stream stays open");
        assert_eq!(name, "overview", "{v}");
        if v["window"]["accepted"].as_i64().unwrap() > accepted_before {
            break;
        }
    }
    // Bounded: three streams per session, the fourth refused with its reason; one closed frees its slot.
    let second = Events::open(&root, "?associationId=1").await.unwrap();
    let third = Events::open(&root, "").await.unwrap();
    let refused = Events::open(&root, "").await.err().unwrap();
    assert_error(&refused, 409, "This session already has 3 overview streams open");
    drop(second);
    let started = std::time::Instant::now();
    let mut again = loop {
        match Events::open(&root, "").await {
            Ok(e) => break e,
            Err(e) => assert!(started.elapsed().as_secs() < 10, "the closed stream's slot never came back: {e:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(again.next().await.unwrap().0, "overview");
    drop((third, again));
    assert_error(&send(s.client.get(s.url("/api/v1/dashboard/overview/stream"))).await, 401, "log in first");

    let d = &overview["data"];
    assert_eq!(d["sampleIntervalMs"], 5000);
    assert!(d["series"].as_array().unwrap().iter().any(|p| p["accepted"].as_f64().unwrap() > 0.0), "{d}");
    assert!(d["dispatchQueueDepth"].is_u64() && d["scheduleBacklog"].is_u64(), "{d}");
    let creds = d["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 3, "{d}");
    let tw = creds.iter().find(|c| c["id"] == twilio).unwrap();
    assert_eq!((tw["provider"].as_str(), tw["circuit"].as_str()), (Some("twilio"), Some("closed")));
    assert!(tw["calls"].as_u64().unwrap() >= 1 && tw["p99Ms"].as_f64().is_some(), "the credential actor recorded its call: {tw}");
    let idle = creds.iter().find(|c| c["id"] == spare).unwrap();
    assert_eq!((idle["calls"].as_u64(), idle["p99Ms"].is_null()), (Some(0), true), "the idle Twilio credential has no calls of its own: {idle}");
    assert!(tw.get("gateway").is_none(), "{tw}");

    // A WA-Web gateway credential whose client waits for its QR code: the overview shows the
    // gateway's report once its credential actor has polled (it starts with a send).
    let gw = s
        .add_credential(1, &k1, json!({"providerId": 10, "senderName": "gw", "credentials": {"apiKey": "account-api-key", "clientId": "client-1", "clientApiKey": "client-api-key"}, "apiUrl": sim.base_url(), "isDefault": true}))
        .await;
    let (status, _) = send(s.client.post(format!("{}/_sim/waweb/config", sim.base_url())).json(&json!({"clients": {"client-1": {"status": "Pending Authentication"}}}))).await;
    assert_eq!(status, 200);
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "hello", "channel": "whatsapp"}).to_string();
    let (status, ok) = send(s.signed("/api/v1/webhook/notification", &k1.secret_key, &body)).await;
    assert_eq!(status, 200, "{ok}");
    let started = std::time::Instant::now();
    let gateway = loop {
        let (_, o) = root.get("/overview?associationId=1").await;
        let row = o["data"]["credentials"].as_array().unwrap().iter().find(|c| c["id"] == gw).cloned().unwrap();
        if row["gateway"]["client"] == "down" {
            break row;
        }
        assert!(started.elapsed().as_secs() < 30, "the gateway's client state never showed: {row}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!((gateway["circuit"].as_str(), gateway["gateway"]["reportsClientState"].as_bool()), (Some("open"), Some(true)), "{gateway}");
    assert!(gateway["gateway"]["reason"].as_str().unwrap().contains("Pending Authentication"), "{gateway}");

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
    // Edit and delete on the session, secrets still write-only, errors as their messages.
    let put = |path: String, body: Value| send(root.req(Method::PUT, &path).json(&body));
    let del = |path: String| send(root.req(Method::DELETE, &path));
    let (status, c) = put(format!("/credentials/{spare}?associationId=1"), json!({"senderName": "Spare two", "credentials": {"accountSid": "AC10", "authToken": "NEW-SECRET"}})).await;
    assert_eq!((status, c["data"]["senderName"].as_str(), c["message"].as_str()), (200, Some("Spare two"), Some("Credential updated successfully")), "{c}");
    assert!(!c.to_string().contains("NEW-SECRET"), "{c}");
    assert_error(&put(format!("/credentials/{spare}?associationId=1"), json!({"senderName": ""})).await, 400, "senderName");
    assert_error(&put(format!("/credentials/{spare}"), json!({"senderName": "x"})).await, 400, "associationId is required");
    assert_error(&put(format!("/credentials/{spare}?associationId=1"), json!({"sender": "x"})).await, 400, "sender");
    let (status, done) = del(format!("/credentials/{spare}?associationId=1")).await;
    assert_eq!((status, done["message"].as_str()), (200, Some("Credential deleted successfully")), "{done}");
    assert_error(&del(format!("/credentials/{spare}?associationId=1")).await, 404, "");
    let (status, t) = put("/templates/otp?associationId=1".into(), json!({"content": "Hi {{name}}, your code is {{code}}"})).await;
    assert_eq!((status, t["data"]["variables"].clone()), (200, json!(["name", "code"])), "{t}");
    assert_error(&put("/templates/nope?associationId=1".into(), json!({"content": "x"})).await, 404, "");
    let (status, _) = root.post("/templates", json!({"associationId": 1, "code": "gone", "content": "bye"})).await;
    assert_eq!(status, 201);
    let (status, done) = del("/templates/gone?associationId=1".into()).await;
    assert_eq!((status, done["message"].as_str()), (200, Some("Template deleted successfully")), "{done}");
    assert_error(&del("/templates/gone?associationId=1".into()).await, 404, "");
    let (status, _) = send(s.client.delete(s.url("/api/v1/dashboard/templates/otp?associationId=1")).header("cookie", &root.cookie)).await;
    assert_eq!(status, 403, "a delete needs the CSRF token");
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
    assert_error(&Events::open(&ops2, "?associationId=1").await.err().unwrap(), 403, "bound to another association");
    assert_error(&send(ops2.req(Method::PUT, &format!("/credentials/{twilio}?associationId=1")).json(&json!({"senderName": "x"}))).await, 403, "bound to another association");
    assert_error(&send(ops2.req(Method::DELETE, &format!("/credentials/{twilio}"))).await, 404, "");
    assert_error(&send(ops2.req(Method::DELETE, "/templates/otp?associationId=1")).await, 403, "bound to another association");
    for path in ["/whatsapp-templates?associationId=1", "/links?associationId=1", "/callbacks?associationId=1"] {
        assert_error(&ops2.get(path).await, 403, "bound to another association");
    }
    // Its own stream ends the moment it logs out.
    let mut own = Events::open(&ops2, "").await.unwrap();
    assert_eq!(own.next().await.unwrap().0, "overview");
    let (status, _) = ops2.post("/auth/logout", json!({})).await;
    assert_eq!(status, 200);
    let (name, end) = own.next().await.expect("an end event");
    assert_eq!((name.as_str(), end["reason"].as_str()), ("end", Some("Logged out")), "{end}");
    assert!(own.next().await.is_none(), "the stream closed after its end event");
    let ops2 = login(&s, "ops2", "ops2-password").await;
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
    // A redirect link in each association, for the links screen's scoping.
    for (k, name) in [(&k1, "Acme offer"), (&k2, "Other offer")] {
        let req = s.client.post(s.url("/api/v1/redirect-links")).header("x-api-key", &k.api_key).header("x-api-secret", &k.secret_key);
        let (status, body) = send(req.json(&json!({"targetUrl": "https://example.com/offer", "name": name}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;
    // A WA-Web gateway whose client waits for its QR code, started by a WhatsApp send routed
    // to it (the default Twilio credential would take WhatsApp too) by an allocation removed
    // once the gateway's report is in.
    let gw = s.add_credential(1, &k1, json!({"providerId": 10, "senderName": "gw", "credentials": {"apiKey": "account-api-key", "clientId": "client-1", "clientApiKey": "client-api-key"}, "apiUrl": sim.base_url()})).await;
    let (status, _) = send(s.client.post(format!("{}/_sim/waweb/config", sim.base_url())).json(&json!({"clients": {"client-1": {"status": "Pending Authentication"}}}))).await;
    assert_eq!(status, 200);
    let (status, alloc) = root.post("/allocations", json!({"associationId": 1, "credentialId": gw, "routingType": "include", "countryCode": "AE", "priority": 1})).await;
    assert_eq!(status, 201, "{alloc}");
    let body = json!({"associationId": 1, "recipient": "+971501234567", "message": "hello", "channel": "whatsapp"}).to_string();
    let (status, ok) = send(s.signed("/api/v1/webhook/notification", &k1.secret_key, &body)).await;
    assert_eq!(status, 200, "{ok}");
    let started = std::time::Instant::now();
    loop {
        let (_, o) = root.get("/overview?associationId=1").await;
        let row = o["data"]["credentials"].as_array().unwrap().iter().find(|c| c["id"] == gw).cloned().unwrap();
        if row["gateway"]["client"] == "down" {
            break;
        }
        assert!(started.elapsed().as_secs() < 30, "the gateway's client state never showed: {row}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, _) = send(root.req(Method::DELETE, &format!("/allocations/{}", alloc["data"]["id"]))).await;
    assert_eq!(status, 200);
    let (status, body) = root.post("/operators", json!({"username": "ops2", "password": "ops2-password", "associationId": 2})).await;
    assert_eq!(status, 201, "{body}");

    let config = json!({
        "super": {"username": OPERATOR, "password": OPERATOR_PASSWORD},
        "bound": {"username": "ops2", "password": "ops2-password", "associationId": 2},
        "associationId": 1,
        "phone": "+966501234567",
        "arabicText": "مرحبا بك في جود، رمزك 4821",
        "scheduledText": "Scheduled for tomorrow",
        "zoneText": "Scheduled in Riyadh time",
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
