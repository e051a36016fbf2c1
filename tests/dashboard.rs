//! The dashboard: sessions (login, logout, expiry, revocation, CSRF), scoping of operators,
//! and every documented route with its validation errors and pagination edges.

mod common;

use common::*;
use jood::sim::{SimConfig, SimHandle, Simulator};
use reqwest::Method;
use serde_json::{json, Value};

/// A logged-in dashboard client (cookie and CSRF token kept by hand, as a browser would).
struct Dash<'a> {
    s: &'a TestServer,
    cookie: String,
    csrf: String,
}

async fn login<'a>(s: &'a TestServer, user: &str, password: &str) -> Result<Dash<'a>, (u16, Value)> {
    let resp = s.client.post(s.url("/api/v1/dashboard/auth/login")).json(&json!({"username": user, "password": password})).send().await.unwrap();
    let status = resp.status().as_u16();
    let set_cookie = resp.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
    let body: Value = resp.json().await.unwrap();
    if status != 200 {
        return Err((status, body));
    }
    let set_cookie = set_cookie.expect("session cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    Ok(Dash { s, cookie, csrf: body["data"]["csrfToken"].as_str().unwrap().to_string() })
}

impl Dash<'_> {
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

async fn sim() -> SimHandle {
    Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_login_logout_expiry_revocation_and_csrf() {
    let s = TestServer::start_with(|c| {
        c.dashboard.session_ttl_secs = 2;
        c.rate_limit.login_per_minute = 6;
    })
    .await;
    let (status, body) = login(&s, OPERATOR, "wrong password").await.err().unwrap();
    assert_eq!((status, body["error"].as_str()), (401, Some("Invalid username or password")));
    let (status, _) = login(&s, "nobody", OPERATOR_PASSWORD).await.err().unwrap();
    assert_eq!(status, 401);
    let (status, body) = send(s.client.post(s.url("/api/v1/dashboard/auth/login")).json(&json!({"username": "root"}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("missing field `password`"));

    // No cookie, a forged cookie: 401.
    assert_error(&send(s.client.get(s.url("/api/v1/dashboard/auth/me"))).await, 401, "log in first");
    assert_error(&send(s.client.get(s.url("/api/v1/dashboard/stats")).header("cookie", "jood_session=forged")).await, 401, "invalid or revoked");

    let d = login(&s, OPERATOR, OPERATOR_PASSWORD).await.unwrap();
    let (status, me) = d.get("/auth/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["data"]["username"], "root");
    assert_eq!(me["data"]["role"], "super");
    // State changes need the CSRF header: a cross-site form has the cookie but not the token.
    let (status, body) = send(s.client.post(s.url("/api/v1/dashboard/auth/logout")).header("cookie", &d.cookie)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("CSRF"));
    let (status, _) = send(s.client.post(s.url("/api/v1/dashboard/auth/logout")).header("cookie", &d.cookie).header("x-csrf-token", "nope")).await;
    assert_eq!(status, 403);

    // Logout revokes the session at once.
    let (status, body) = d.post("/auth/logout", json!({})).await;
    assert_eq!((status, body["message"].as_str()), (200, Some("Logged out successfully")));
    assert_error(&d.get("/auth/me").await, 401, "invalid or revoked");

    // Sessions expire.
    let d = login(&s, OPERATOR, OPERATOR_PASSWORD).await.unwrap();
    assert_eq!(d.get("/auth/me").await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_error(&d.get("/auth/me").await, 401, "expired");

    // Login attempts are rate limited per address (6 per minute here; 5 were made above).
    let (status, _) = login(&s, OPERATOR, "guess").await.err().unwrap();
    assert_eq!(status, 401);
    let (status, body) = login(&s, OPERATOR, OPERATOR_PASSWORD).await.err().unwrap();
    assert_eq!(status, 429, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_scoping_validation_and_pagination() {
    let sim = sim().await;
    let s = TestServer::start().await;
    let k1 = s.create_association(1, "One").await;
    let k2 = s.create_association(2, "Two").await;
    let c1 = s.add_credential(1, &k1, json!({"providerId": 7, "senderName": "J", "credentials": {"accountSid": "AC1", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    let c1b = s.add_credential(1, &k1, json!({"providerId": 6, "senderName": "J", "credentials": {"apiKey": "IB1"}, "apiUrl": sim.base_url()})).await;
    s.add_credential(2, &k2, json!({"providerId": 7, "senderName": "J", "credentials": {"accountSid": "AC2", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await.unwrap();

    // Provider schemas, as documented.
    let (_, schemas) = root.get("/providers/schemas").await;
    assert_eq!(schemas["data"][3], json!({"id": "unifonic", "name": "Unifonic", "channel": "sms", "fields": ["appSid"]}));

    // An operator bound to association 1.
    let (status, body) = root.post("/operators", json!({"username": "ops1", "password": "ops1-password", "associationId": 1})).await;
    assert_eq!(status, 201, "{body}");
    assert_error(&root.post("/operators", json!({"username": "x", "password": "short"})).await, 400, "at least 8");
    let ops1 = login(&s, "ops1", "ops1-password").await.unwrap();
    assert_eq!(ops1.get("/auth/me").await.1["data"]["associationId"], 1);
    assert_error(&ops1.post("/operators", json!({"username": "y", "password": "long enough pw"})).await, 403, "Super operator");

    // send-sms: synchronous, through the same actors; credentialId respected.
    let (status, body) = ops1.post("/send-sms", json!({"associationId": 1, "phoneNumber": "+966501234567", "message": "Hi", "credentialId": c1b})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["success"], true, "{body}");
    assert!(body["data"]["messageId"].as_str().unwrap().len() > 5, "{body}");
    let log_id = body["data"]["logId"].as_i64().unwrap();
    let n = s.wait_terminal(&k1, log_id, 5).await;
    assert_eq!((n["provider"].as_str(), n["credentialId"].as_i64()), (Some("infobip"), Some(c1b)));
    let (status, body) = ops1.post("/send-sms", json!({"associationId": 1, "phoneNumber": "+966500000000", "message": "invalid at provider"})).await;
    assert_eq!((status, body["data"]["success"].as_bool()), (200, Some(false)), "{body}");
    assert_error(&ops1.post("/send-sms", json!({"associationId": 2, "phoneNumber": "+966501234567", "message": "x"})).await, 403, "another association");
    assert_error(&ops1.post("/send-sms", json!({"associationId": 1, "phoneNumber": "12", "message": "x"})).await, 400, "phoneNumber `12`");
    assert_error(&ops1.post("/send-sms", json!({"associationId": 1, "phoneNumber": "+966501234567", "message": "x", "credentialId": 999})).await, 404, "Credential 999");
    assert_error(&root.post("/send-sms", json!({"associationId": 77, "phoneNumber": "+966501234567", "message": "x"})).await, 404, "Association 77");

    // schedule-sms, the queue, cancel.
    let at = jood::domain::Timestamp(now_ms() + 3_600_000).to_iso();
    let (status, body) = ops1.post("/schedule-sms", json!({"associationId": 1, "phoneNumber": "+966501234568", "message": "later", "scheduledAt": at})).await;
    assert_eq!((status, body["data"]["status"].as_str()), (200, Some("queued")), "{body}");
    let queued = body["data"]["queueId"].as_i64().unwrap();
    assert_error(&ops1.post("/schedule-sms", json!({"associationId": 1, "phoneNumber": "+966501234568", "message": "x", "scheduledAt": "2099-01-01T00:00:00Z"})).await, 400, "366 days");
    assert_error(&ops1.post("/schedule-sms", json!({"associationId": 1, "phoneNumber": "+966501234568", "message": "x", "scheduledAt": "soon"})).await, 400, "scheduledAt `soon`");
    let (_, q) = ops1.get("/queue?page=1&limit=20").await;
    assert_eq!(q["data"]["total"], 1, "{q}");
    assert_eq!(q["data"]["items"][0]["status"], "scheduled");
    assert_eq!(q["data"]["items"][0]["id"], queued);
    let (_, q2) = s.client.get(s.url("/api/v1/dashboard/queue")).header("cookie", &root.cookie).send().await.unwrap().json::<Value>().await.map(|v| (0, v)).unwrap();
    assert_eq!(q2["data"]["total"], 1);
    assert_error(&ops1.get("/queue?associationId=2").await, 403, "another association");
    assert_error(&ops1.get("/queue?page=0").await, 400, "page must be 1 or more");
    assert_error(&ops1.get("/queue?limit=1000").await, 400, "limit must be between 1 and 100");
    let (status, body) = send(ops1.req(Method::DELETE, &format!("/queue/{queued}"))).await;
    assert_eq!((status, body["message"].as_str()), (200, Some("Scheduled message cancelled successfully")), "{body}");
    assert_eq!(ops1.get("/queue").await.1["data"]["total"], 0);
    assert_error(&send(ops1.req(Method::DELETE, "/queue/12345")).await, 404, "not found");

    // Allocations: validation, scoping, CRUD.
    assert_error(&ops1.post("/allocations", json!({"associationId": 1, "credentialId": c1, "routingType": "include"})).await, 400, "countryCode is required");
    assert_error(&ops1.post("/allocations", json!({"associationId": 1, "credentialId": c1, "routingType": "include", "countryCode": "XX"})).await, 400, "`XX` is not an ISO 3166-1");
    assert_error(&ops1.post("/allocations", json!({"associationId": 1, "credentialId": c1, "routingType": "exclude"})).await, 400, "excludedCountries is required");
    assert_error(&ops1.post("/allocations", json!({"associationId": 1, "credentialId": c1, "routingType": "exclude", "excludedCountries": ["SA", "ZZZ"]})).await, 400, "excludedCountries[1]");
    assert_error(&ops1.post("/allocations", json!({"associationId": 1, "credentialId": c1, "routingType": "sideways", "countryCode": "SA"})).await, 400, "routingType `sideways`");
    assert_error(&ops1.post("/allocations", json!({"associationId": 1, "credentialId": 999, "routingType": "include", "countryCode": "SA"})).await, 400, "credentialId 999");
    assert_error(&ops1.post("/allocations", json!({"associationId": 2, "credentialId": c1, "routingType": "include", "countryCode": "SA"})).await, 403, "another association");
    let (status, a) = ops1.post("/allocations", json!({"associationId": 1, "credentialId": c1b, "routingType": "include", "countryCode": "sa", "countryName": "Saudi Arabia", "priority": 10})).await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["data"]["countryCode"], "SA");
    let alloc = a["data"]["id"].as_i64().unwrap();
    let (_, list) = ops1.get("/allocations").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (status, upd) = send(ops1.req(Method::PUT, &format!("/allocations/{alloc}")).json(&json!({"credentialId": c1, "priority": 15}))).await;
    assert_eq!((status, upd["data"]["priority"].as_i64()), (200, Some(15)), "{upd}");
    let (status, upd) = send(ops1.req(Method::PUT, &format!("/allocations/{alloc}")).json(&json!({"routingType": "exclude", "excludedCountries": ["AE"]}))).await;
    assert_eq!((status, upd["data"]["excludedCountries"].clone()), (200, json!(["AE"])), "{upd}");
    assert!(upd["data"].get("countryCode").is_none(), "{upd}");
    let ops2 = {
        root.post("/operators", json!({"username": "ops2", "password": "ops2-password", "associationId": 2})).await;
        login(&s, "ops2", "ops2-password").await.unwrap()
    };
    assert_error(&send(ops2.req(Method::PUT, &format!("/allocations/{alloc}")).json(&json!({"priority": 1}))).await, 403, "another association");
    assert_error(&send(ops2.req(Method::DELETE, &format!("/allocations/{alloc}"))).await, 403, "another association");
    assert_eq!(ops2.get("/allocations").await.1["data"].as_array().unwrap().len(), 0);
    let (status, body) = send(ops1.req(Method::DELETE, &format!("/allocations/{alloc}"))).await;
    assert_eq!((status, body["message"].as_str()), (200, Some("Allocation deleted successfully")));
    assert_error(&send(ops1.req(Method::DELETE, &format!("/allocations/{alloc}"))).await, 404, "not found");

    // Campaigns from the dashboard: create, list (paginated, scoped), cancel.
    let (status, c) = ops1.post("/campaigns", json!({"associationId": 1, "name": "Welcome", "message": "Hello {{name}}", "recipients": ["+966501230001", {"phone": "+966501230002", "variables": {"name": "Sara"}}, "bad"]})).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!((c["data"]["totalRecipients"].as_u64(), c["data"]["invalidRecipients"].as_u64()), (Some(2), Some(1)), "{c}");
    let later = jood::domain::Timestamp(now_ms() + 3_600_000).to_iso();
    let (_, c2) = ops1.post("/campaigns", json!({"associationId": 1, "name": "Later", "message": "x", "recipients": ["+966501230003"], "scheduledAt": later})).await;
    assert_eq!(c2["data"]["status"], "scheduled");
    let scheduled_campaign = c2["data"]["campaignId"].as_i64().unwrap();
    assert_error(&ops1.post("/campaigns", json!({"associationId": 1, "name": " ", "message": "x", "recipients": ["+966501230003"]})).await, 400, "name must not be empty");
    assert_error(&ops1.post("/campaigns", json!({"associationId": 1, "name": "n", "message": "x"})).await, 400, "missing field `recipients`");
    let (_, page1) = ops1.get("/campaigns?page=1&limit=1").await;
    assert_eq!((page1["data"]["total"].as_u64(), page1["data"]["items"].as_array().unwrap().len()), (Some(2), 1), "{page1}");
    assert_eq!(page1["data"]["items"][0]["name"], "Later", "newest first");
    let (_, page3) = ops1.get("/campaigns?page=3&limit=1").await;
    assert_eq!(page3["data"]["items"].as_array().unwrap().len(), 0, "past the end: empty page");
    assert_eq!(ops2.get("/campaigns").await.1["data"]["total"], 0);
    assert_error(&send(ops2.req(Method::DELETE, &format!("/campaigns/{scheduled_campaign}"))).await, 403, "another association");
    let (status, body) = send(ops1.req(Method::DELETE, &format!("/campaigns/{scheduled_campaign}"))).await;
    assert_eq!((status, body["message"].as_str()), (200, Some("Campaign cancelled successfully")), "{body}");
    assert_error(&send(ops1.req(Method::DELETE, &format!("/campaigns/{scheduled_campaign}"))).await, 409, "already cancelled");

    // Let the first campaign finish, then logs and stats.
    let started = std::time::Instant::now();
    loop {
        let (_, l) = ops1.get("/campaigns").await;
        let done = l["data"]["items"].as_array().unwrap().iter().any(|c| c["name"] == "Welcome" && c["status"] == "completed");
        if done {
            break;
        }
        assert!(started.elapsed().as_secs() < 10, "{l}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for i in 0..5 {
        let id = s.send_sms(2, &k2.secret_key, &format!("+96650999000{i}"), &format!("assoc two {i}")).await;
        s.wait_terminal(&k2, id, 10).await;
    }

    let (_, logs) = ops1.get("/logs?page=1&limit=2").await;
    // Association 1: 2 dashboard sends + 1 scheduled (cancelled) + 2 campaign + 1 scheduled campaign (cancelled).
    assert_eq!(logs["data"]["total"], 6, "{logs}");
    assert_eq!(logs["data"]["items"].as_array().unwrap().len(), 2);
    assert!(logs["data"]["items"][0]["id"].as_i64() > logs["data"]["items"][1]["id"].as_i64(), "newest first");
    let (_, last) = ops1.get("/logs?page=3&limit=2").await;
    assert_eq!(last["data"]["items"].as_array().unwrap().len(), 2);
    let (_, past) = ops1.get("/logs?page=4&limit=2").await;
    assert_eq!(past["data"]["items"].as_array().unwrap().len(), 0);
    let (_, ok) = ops1.get("/logs?status=success").await;
    assert_eq!(ok["data"]["total"], 3, "{ok}");
    assert!(ok["data"]["items"].as_array().unwrap().iter().all(|i| i["status"] == "success" && i["sentAt"].is_string()));
    let (_, failed) = ops1.get("/logs?status=failed").await;
    assert_eq!(failed["data"]["total"], 3, "one invalid at the provider, two cancelled: {failed}");
    let (_, searched) = ops1.get("/logs?search=Sara").await;
    assert_eq!(searched["data"]["total"], 1, "{searched}");
    assert_eq!(searched["data"]["items"][0]["message"], "Hello Sara");
    let (_, by_phone) = ops1.get("/logs?search=966501234567").await;
    assert_eq!(by_phone["data"]["total"], 1, "{by_phone}");
    assert_error(&ops1.get("/logs?status=weird").await, 400, "status `weird`");
    assert_error(&ops1.get("/logs?associationId=2").await, 403, "another association");
    let (_, all) = root.get("/logs?limit=100").await;
    assert_eq!(all["data"]["total"], 11, "{all}");

    let (_, st) = ops1.get("/stats").await;
    let d = &st["data"];
    assert_eq!((d["totalSent"].as_i64(), d["totalFailed"].as_i64(), d["totalPending"].as_i64()), (Some(3), Some(1), Some(0)), "{st}");
    assert_eq!(d["successRate"], 75.0);
    assert_eq!(d["todaySent"], 3);
    assert_eq!(d["byProvider"]["infobip"]["sent"], 1, "{st}");
    assert_eq!(d["byProvider"]["twilio"]["sent"], 2, "{st}");
    assert_eq!(d["byProvider"]["twilio"]["failed"], 1, "the invalid number failed at twilio: {st}");
    // Association 2: +966509990000 ends in 0000, the simulator's invalid numbers: 4 sent, 1 failed.
    let (_, global) = root.get("/stats").await;
    assert_eq!((global["data"]["totalSent"].as_i64(), global["data"]["totalFailed"].as_i64()), (Some(7), Some(2)), "{global}");
    let (_, two) = root.get("/stats?associationId=2").await;
    assert_eq!((two["data"]["totalSent"].as_i64(), two["data"]["totalFailed"].as_i64()), (Some(4), Some(1)), "{two}");
    s.stop().await;
}
