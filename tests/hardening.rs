//! Hardening of the dashboard and the inputs, over real HTTP: a deactivated association
//! sends nothing through any path (and its bound operators cannot log in); identifiers and
//! names are bounded and clean before any lookup (400 naming the field and the limit, never
//! a 500); a password reset, disable or delete of an operator ends all its sessions.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

struct Dash<'a> {
    s: &'a TestServer,
    cookie: String,
    csrf: String,
}

async fn login_raw(s: &TestServer, user: &str, password: &str) -> reqwest::Response {
    s.client.post(s.url("/api/v1/dashboard/auth/login")).json(&json!({"username": user, "password": password})).send().await.unwrap()
}

async fn login<'a>(s: &'a TestServer, user: &str, password: &str) -> Dash<'a> {
    let resp = login_raw(s, user, password).await;
    assert_eq!(resp.status(), 200, "login of {user}");
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    Dash { s, cookie, csrf: body["data"]["csrfToken"].as_str().unwrap().to_string() }
}

async fn login_fails(s: &TestServer, user: &str, password: &str) -> (u16, Value) {
    let resp = login_raw(s, user, password).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

impl Dash<'_> {
    fn req(&self, m: Method, path: &str) -> reqwest::RequestBuilder {
        self.s.client.request(m, self.s.url(&format!("/api/v1/dashboard{path}"))).header("cookie", &self.cookie).header("x-csrf-token", &self.csrf)
    }
    async fn call(&self, m: Method, path: &str, body: Value) -> (u16, Value) {
        send(self.req(m, path).json(&body)).await
    }
    async fn me(&self) -> u16 {
        send(self.req(Method::GET, "/auth/me")).await.0
    }
}

async fn engine() -> TestServer {
    TestServer::start_with(|c| c.rate_limit.login_per_minute = 10_000).await
}

fn in_future() -> String {
    chrono::DateTime::from_timestamp_millis(now_ms() + 3_600_000).unwrap().to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_association_sends_nothing_through_the_dashboard() {
    let s = engine().await;
    s.create_association(1, "Inactive soon").await;
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;
    let (status, body) = root.call(Method::POST, "/operators", json!({"username": "bound1", "password": "bound password", "associationId": 1})).await;
    assert_eq!(status, 201, "{body}");
    let bound = login(&s, "bound1", "bound password").await;

    let (status, body) = send(s.admin(Method::PUT, "/api/v1/associations/1").json(&json!({"isActive": false}))).await;
    assert_eq!(status, 200, "{body}");

    let sms = json!({"associationId": 1, "phoneNumber": "+966501234567", "message": "hi"});
    let scheduled = json!({"associationId": 1, "phoneNumber": "+966501234567", "message": "hi", "scheduledAt": in_future()});
    let campaign = json!({"associationId": 1, "name": "C", "message": "hi", "recipients": ["+966501234567"]});
    for (path, body) in [("/send-sms", &sms), ("/schedule-sms", &scheduled), ("/campaigns", &campaign)] {
        let got = root.call(Method::POST, path, body.clone()).await;
        assert_error(&got, 403, "Inactive association");
    }
    // The bound operator: its session no longer acts, and it cannot log in again.
    let got = bound.call(Method::POST, "/send-sms", sms.clone()).await;
    assert_eq!(got.0, 403, "{}", got.1);
    let got = login_fails(&s, "bound1", "bound password").await;
    assert_error(&got, 403, "Inactive association");
    // Nothing was stored for it.
    assert!(s.store.list_messages(Some(1), None, 10).await.unwrap().is_empty());
    assert!(s.store.list_campaigns(1, None, 10).await.unwrap().is_empty());

    // Reactivated, it sends again and its operator logs in.
    let (status, _) = send(s.admin(Method::PUT, "/api/v1/associations/1").json(&json!({"isActive": true}))).await;
    assert_eq!(status, 200);
    let bound = login(&s, "bound1", "bound password").await;
    let (status, body) = bound.call(Method::POST, "/schedule-sms", scheduled).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_control_character_inputs_are_400_naming_the_field() {
    let s = engine().await;
    let k = s.create_association(1, "Bounds").await;
    let huge = "a".repeat(64 * 1024);

    // The public login route: bounded before any lookup.
    let got = login_fails(&s, &huge, OPERATOR_PASSWORD).await;
    assert_error(&got, 400, "username must be at most 64 characters");
    let got = login_fails(&s, "root\u{0}x", OPERATOR_PASSWORD).await;
    assert_error(&got, 400, "username must not contain");
    let got = login_fails(&s, OPERATOR, &huge).await;
    assert_error(&got, 400, "password must be at most 256 characters");
    // The engine is fine afterwards.
    login(&s, OPERATOR, OPERATOR_PASSWORD).await;

    // templateCode on the signed webhook and on the templates API.
    let body = json!({"associationId": 1, "recipient": "+966501234567", "templateCode": huge}).to_string();
    let got = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_error(&got, 400, "templateCode must be at most 64 characters");
    let got = send(s.req(Method::POST, "/api/v1/templates", &k.api_key, &k.secret_key).json(&json!({"code": huge, "content": "x"}))).await;
    assert_error(&got, 400, "templateCode must be at most 64");
    let got = send(s.req(Method::POST, "/api/v1/templates", &k.api_key, &k.secret_key).json(&json!({"code": "ok", "name": "a\u{0}b", "content": "x"}))).await;
    assert_error(&got, 400, "name must not contain");
    let got = send(s.req(Method::POST, "/api/v1/templates", &k.api_key, &k.secret_key).json(&json!({"code": "ok", "name": huge, "content": "x"}))).await;
    assert_error(&got, 400, "name must be at most 200");

    // Association names, campaign names, countryName, operator passwords.
    let got = send(s.admin(Method::POST, "/api/v1/associations").json(&json!({"id": 2, "name": "bad\u{7}name"}))).await;
    assert_error(&got, 400, "name must not contain");
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;
    let got = root.call(Method::POST, "/campaigns", json!({"associationId": 1, "name": "n".repeat(201), "message": "hi", "recipients": ["+966501234567"]})).await;
    assert_error(&got, 400, "campaignName must be at most 200");
    let body = json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC1", "authToken": "tok"}, "apiUrl": "http://127.0.0.1:9", "isDefault": true});
    let cred = s.add_credential(1, &k, body).await;
    let got = root
        .call(Method::POST, "/allocations", json!({"associationId": 1, "credentialId": cred, "routingType": "include", "countryCode": "SA", "countryName": huge}))
        .await;
    assert_error(&got, 400, "countryName must be at most 100");
    let got = root.call(Method::POST, "/operators", json!({"username": "op", "password": huge})).await;
    assert_error(&got, 400, "password must be at most 256");
    let got = root.call(Method::POST, "/operators", json!({"username": huge, "password": "long enough"})).await;
    assert_error(&got, 400, "username must be at most 64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_disable_and_delete_end_every_session_of_the_operator() {
    let s = engine().await;
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;
    let (status, body) = root.call(Method::POST, "/operators", json!({"username": "alice", "password": "first password"})).await;
    assert_eq!(status, 201, "{body}");
    let (a1, a2) = (login(&s, "alice", "first password").await, login(&s, "alice", "first password").await);
    assert_eq!((a1.me().await, a2.me().await), (200, 200));

    // A reset through the documented create-or-update route ends both sessions.
    let (status, body) = root.call(Method::POST, "/operators", json!({"username": "alice", "password": "second password"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((a1.me().await, a2.me().await), (401, 401));
    assert_eq!(login_fails(&s, "alice", "first password").await.0, 401);

    // And through the new route.
    let a3 = login(&s, "alice", "second password").await;
    let (status, body) = root.call(Method::PUT, "/operators/alice", json!({"password": "third password"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(a3.me().await, 401);
    assert_eq!(login_fails(&s, "alice", "second password").await.0, 401);

    // Only super operators, only with the CSRF token.
    let a4 = login(&s, "alice", "third password").await;
    let (status, body) = root.call(Method::POST, "/operators", json!({"username": "bob", "password": "bob password", "associationId": null})).await;
    assert_eq!(status, 201, "{body}");
    s.create_association(1, "A").await;
    let (status, _) = root.call(Method::POST, "/operators", json!({"username": "carol", "password": "carol password", "associationId": 1})).await;
    assert_eq!(status, 201);
    let carol = login(&s, "carol", "carol password").await;
    let got = carol.call(Method::PUT, "/operators/alice", json!({"isActive": false})).await;
    assert_error(&got, 403, "Super operator access required");
    let got = send(s.client.put(s.url("/api/v1/dashboard/operators/alice")).header("cookie", &root.cookie).json(&json!({"isActive": false}))).await;
    assert_error(&got, 403, "CSRF");
    assert_eq!(a4.me().await, 200, "refused requests change nothing");

    // Disable: the session ends and login is refused with a clear error; re-enable works.
    let (status, body) = root.call(Method::PUT, "/operators/alice", json!({"isActive": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(a4.me().await, 401);
    assert_error(&login_fails(&s, "alice", "third password").await, 403, "Operator disabled");
    let (status, _) = root.call(Method::PUT, "/operators/alice", json!({"isActive": true})).await;
    assert_eq!(status, 200);
    let a5 = login(&s, "alice", "third password").await;

    // Delete: the session ends, the login fails, and re-creating the name does not revive it.
    let (status, body) = root.call(Method::DELETE, "/operators/alice", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(a5.me().await, 401);
    assert_eq!(login_fails(&s, "alice", "third password").await.0, 401);
    let (status, _) = root.call(Method::POST, "/operators", json!({"username": "alice", "password": "third password"})).await;
    assert_eq!(status, 201);
    assert_eq!(a5.me().await, 401, "a deleted operator's session stays dead");
    let got = root.call(Method::DELETE, "/operators/nobody", json!({})).await;
    assert_error(&got, 404, "not found");
    // Other operators' sessions are untouched.
    assert_eq!((root.me().await, carol.me().await), (200, 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_campaign_over_one_mib_is_taken_up_to_the_bulk_limit() {
    let s = engine().await;
    s.create_association(1, "Big").await;
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;
    let recipients: Vec<String> = (0..90_000).map(|i| format!("+96650{:07}", i)).collect();
    let body = json!({"associationId": 1, "name": "Big", "message": "hi", "recipients": recipients, "scheduledAt": in_future()});
    assert!(body.to_string().len() > 1024 * 1024);
    let (status, resp) = root.call(Method::POST, "/campaigns", body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["data"]["totalRecipients"], 90_000);
}

/// One scheduling rule on every send path: a time in the past sends at once, one more than
/// 366 days ahead (up to i64::MAX over gRPC) is refused naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scheduling_rule_on_every_path() {
    let s = engine().await;
    let k = s.create_association(1, "A").await;
    let far = "2099-01-01T00:00:00Z";
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "scheduledAt": far}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await, 400, "366 days");
    let bulk = json!({"associationId": 1, "recipients": ["+966501234567"], "message": "x", "scheduledAt": far}).to_string();
    assert_error(&send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk)).await, 400, "366 days");
    let root = login(&s, OPERATOR, OPERATOR_PASSWORD).await;
    let far_dash = json!({"associationId": 1, "phoneNumber": "+966501234567", "message": "x", "scheduledAt": far});
    assert_error(&root.call(Method::POST, "/schedule-sms", far_dash).await, 400, "366 days");

    // The past sends at once, on the webhook and on schedule-sms alike: never `scheduled`.
    let past = "2020-01-01T00:00:00Z";
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "scheduledAt": past}).to_string();
    let (status, a) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_eq!((status, a["data"]["status"].as_str()), (200, Some("queued")), "{a}");
    let (status, b) = root.call(Method::POST, "/schedule-sms", json!({"associationId": 1, "phoneNumber": "+966501234568", "message": "x", "scheduledAt": past})).await;
    assert_eq!(status, 200, "{b}");
    let id = b["data"]["queueId"].as_i64().unwrap();
    let (_, n) = send(s.req(Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
    assert_ne!(n["data"]["status"], "scheduled", "{n}");
    assert!(n["data"]["scheduledAt"].is_null(), "{n}");

    // gRPC's i64::MAX seconds is refused too, not accepted to never fire.
    let mut client = jood::api::grpc::pb::notifications_client::NotificationsClient::connect(s.grpc.clone()).await.unwrap();
    let mut req = tonic::Request::new(jood::api::grpc::pb::SendNotificationRequest {
        association_id: 1,
        recipient: "+966501234567".into(),
        message: "x".into(),
        scheduled_at: Some(prost_types::Timestamp { seconds: i64::MAX, nanos: 0 }),
        ..Default::default()
    });
    req.metadata_mut().insert("x-api-key", k.api_key.parse().unwrap());
    req.metadata_mut().insert("x-api-secret", k.secret_key.parse().unwrap());
    let err = client.send_notification(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("366 days"), "{err:?}");
    s.stop().await;
}
